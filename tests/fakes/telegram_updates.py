"""Factories for Telegram update dicts, to feed ``FakeTelegram.push_update``.

Each returns an update WITHOUT ``update_id`` (the fake server assigns it), shaped like
what Telegram really sends so aiogram's pydantic models accept it. Message ids come from
one process-wide counter, so two factory calls never produce the same message_id.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

Update = dict[str, Any]

_message_ids = itertools.count(1)
_callback_ids = itertools.count(1)
_file_ids = itertools.count(1)


def user(user_id: int, *, first_name: str = "Ivan", language_code: str = "ru") -> Update:
    return {
        "id": user_id,
        "is_bot": False,
        "first_name": first_name,
        "language_code": language_code,
    }


def _private_chat(user_id: int, first_name: str) -> Update:
    return {"id": user_id, "type": "private", "first_name": first_name}


def _base_message(
    user_id: int,
    *,
    chat_id: int | None = None,
    first_name: str = "Ivan",
    language_code: str = "ru",
    chat_type: str = "private",
) -> Update:
    chat = (
        _private_chat(user_id, first_name)
        if chat_type == "private"
        else {"id": chat_id, "type": chat_type, "title": "Test group"}
    )
    if chat_id is not None:
        chat["id"] = chat_id
    return {
        "message_id": next(_message_ids),
        "date": int(time.time()),
        "chat": chat,
        "from": user(user_id, first_name=first_name, language_code=language_code),
    }


def _file(prefix: str) -> Update:
    n = next(_file_ids)
    return {"file_id": f"{prefix}-{n}", "file_unique_id": f"{prefix}-u{n}"}


def _with_text(message: Update, text: str) -> Update:
    message["text"] = text
    if text.startswith("/"):
        # Telegram marks commands with an entity; some filters and clients rely on it.
        command = text.split(maxsplit=1)[0]
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return message


def message(
    user_id: int,
    text: str,
    *,
    chat_id: int | None = None,
    first_name: str = "Ivan",
    language_code: str = "ru",
    chat_type: str = "private",
) -> Update:
    base = _base_message(
        user_id,
        chat_id=chat_id,
        first_name=first_name,
        language_code=language_code,
        chat_type=chat_type,
    )
    return {"message": _with_text(base, text)}


def contact(
    user_id: int,
    phone: str,
    *,
    contact_user_id: int | None = None,
    first_name: str = "Ivan",
) -> Update:
    """A shared contact. The request_contact button sends the user's own contact, so
    ``contact_user_id`` defaults to the sender; pass another id to model a forwarded
    card. Telegram often sends the phone without '+', so pass it exactly as wanted."""
    msg = _base_message(user_id, first_name=first_name)
    msg["contact"] = {
        "phone_number": phone,
        "first_name": first_name,
        "user_id": user_id if contact_user_id is None else contact_user_id,
    }
    return {"message": msg}


def sticker(user_id: int) -> Update:
    msg = _base_message(user_id)
    msg["sticker"] = {
        **_file("sticker"),
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": "👍",
    }
    return {"message": msg}


def photo(user_id: int) -> Update:
    msg = _base_message(user_id)
    msg["photo"] = [
        {**_file("photo"), "width": 90, "height": 90, "file_size": 1_000},
        {**_file("photo"), "width": 800, "height": 800, "file_size": 50_000},
    ]
    return {"message": msg}


def voice(user_id: int) -> Update:
    msg = _base_message(user_id)
    msg["voice"] = {**_file("voice"), "duration": 3, "mime_type": "audio/ogg"}
    return {"message": msg}


def location(user_id: int, *, latitude: float = 55.7558, longitude: float = 37.6173) -> Update:
    msg = _base_message(user_id)
    msg["location"] = {"latitude": latitude, "longitude": longitude}
    return {"message": msg}


def edited_message(user_id: int, text: str, *, message_id: int | None = None) -> Update:
    msg = _with_text(_base_message(user_id), text)
    if message_id is not None:
        msg["message_id"] = message_id
    msg["edit_date"] = msg["date"]
    return {"edited_message": msg}


def callback_query(
    user_id: int,
    data: str,
    *,
    message_id: int | None = None,
    message_text: str = "Choose",
    bot_id: int = 1,
) -> Update:
    """A button press on a bot message in the user's private chat.

    ``message_id`` should be the id of the bot's message carrying the keyboard (from the
    fake server's sendMessage result) when the handler edits or deletes it.
    """
    bot_message = {
        "message_id": message_id if message_id is not None else next(_message_ids),
        "date": int(time.time()),
        "chat": _private_chat(user_id, "Ivan"),
        "from": {"id": bot_id, "is_bot": True, "first_name": "Bot", "username": "test_bot"},
        "text": message_text,
    }
    return {
        "callback_query": {
            "id": str(next(_callback_ids)),
            "from": user(user_id),
            "chat_instance": f"ci-{user_id}",
            "message": bot_message,
            "data": data,
        }
    }


def group_message(
    user_id: int, chat_id: int, text: str, *, chat_type: str = "supergroup"
) -> Update:
    if chat_id >= 0:
        raise ValueError(f"group chat ids are negative, got {chat_id}")
    return message(user_id, text, chat_id=chat_id, chat_type=chat_type)


def channel_post(chat_id: int, text: str) -> Update:
    chat = {"id": chat_id, "type": "channel", "title": "Test channel"}
    post = {
        "message_id": next(_message_ids),
        "date": int(time.time()),
        "chat": chat,
        "sender_chat": chat,
        "text": text,
    }
    return {"channel_post": post}
