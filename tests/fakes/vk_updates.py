"""Factories for VK Bots Long Poll events, shaped like API 5.199 sends them.

Each factory returns the event *without* ``group_id``/``event_id``/``v``:
``FakeVK.push_event`` stamps those, because only the server knows which
community the event belongs to.

The shapes are the minimum that vkbottle-types' pydantic models accept plus the
fields real VK always sends (``version``, ``client_info``...), so a handler sees
what it would see in production.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

CHAT_PEER_OFFSET = 2_000_000_000

# One counter for message ids *and* conversation ids: tests only need them to be
# unique and increasing, and a shared counter keeps them unique across peers too.
_ids = itertools.count(1)

# What the official clients advertise; handlers may branch on client_info.
_CLIENT_BUTTON_ACTIONS = [
    "text",
    "vkpay",
    "open_app",
    "location",
    "open_link",
    "callback",
    "intent_subscribe",
    "intent_unsubscribe",
]


def client_info(*, lang_id: int = 0, keyboard: bool = True) -> dict[str, Any]:
    return {
        "button_actions": list(_CLIENT_BUTTON_ACTIONS),
        "keyboard": keyboard,
        "inline_keyboard": keyboard,
        "carousel": keyboard,
        "lang_id": lang_id,
    }


def _message(
    peer_id: int,
    text: str,
    *,
    from_id: int | None,
    attachments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    number = next(_ids)
    is_chat = peer_id > CHAT_PEER_OFFSET
    return {
        "date": int(time.time()),
        "from_id": peer_id if from_id is None else from_id,
        # VK gives community chats no global message id, only the conversation one.
        "id": 0 if is_chat else number,
        "conversation_message_id": number,
        "version": number,
        "out": 0,
        "peer_id": peer_id,
        "text": text,
        "attachments": attachments or [],
        "fwd_messages": [],
        "important": False,
        "is_hidden": False,
    }


def message_new(
    peer_id: int,
    text: str,
    *,
    from_id: int | None = None,
    ref: str | None = None,
    ref_source: str | None = None,
    payload: dict[str, Any] | str | None = None,
    attachments: list[dict[str, Any]] | None = None,
    lang_id: int = 0,
) -> dict[str, Any]:
    """A private (or chat) message.

    ``ref``/``ref_source`` are what VK puts on the *first* message after a user
    opens ``vk.me/club?ref=...&ref_source=...``; ``payload`` is what a keyboard
    button carried - VK delivers it as a JSON *string*, so dicts are encoded.
    """
    message = _message(peer_id, text, from_id=from_id, attachments=attachments)
    if ref is not None:
        message["ref"] = ref
    if ref_source is not None:
        message["ref_source"] = ref_source
    if payload is not None:
        message["payload"] = payload if isinstance(payload, str) else json.dumps(payload)
    return {
        "type": "message_new",
        "object": {"message": message, "client_info": client_info(lang_id=lang_id)},
    }


def sticker(peer_id: int, *, sticker_id: int = 9, product_id: int = 1) -> dict[str, Any]:
    image = {"url": "https://vk.com/sticker/1-9-128", "width": 128, "height": 128}
    attachment = {
        "type": "sticker",
        "sticker": {
            "inner_type": "base_sticker_new",
            "product_id": product_id,
            "sticker_id": sticker_id,
            "images": [image],
            "images_with_background": [image],
            "is_allowed": True,
        },
    }
    return message_new(peer_id, "", attachments=[attachment])


def photo(peer_id: int, *, text: str = "") -> dict[str, Any]:
    attachment = {
        "type": "photo",
        "photo": {
            "album_id": -3,
            "date": int(time.time()),
            "id": next(_ids),
            "owner_id": peer_id,
            "access_key": "f4k3acc355k3y",
            "has_tags": False,
            "text": "",
            "sizes": [
                {"height": 75, "width": 75, "type": "s", "url": "https://sun.userapi.com/s.jpg"},
                {"height": 604, "width": 604, "type": "x", "url": "https://sun.userapi.com/x.jpg"},
            ],
        },
    }
    return message_new(peer_id, text, attachments=[attachment])


def chat_message(
    peer_id: int = CHAT_PEER_OFFSET + 1, *, from_id: int, text: str
) -> dict[str, Any]:
    """A message in a group chat the community was added to."""
    return message_new(peer_id, text, from_id=from_id)


def message_edit(
    peer_id: int,
    text: str,
    *,
    from_id: int | None = None,
    conversation_message_id: int | None = None,
) -> dict[str, Any]:
    """``message_edit`` carries the message itself as ``object`` (no wrapper)."""
    message = _message(peer_id, text, from_id=from_id)
    if conversation_message_id is not None:
        message["conversation_message_id"] = conversation_message_id
    message["update_time"] = int(time.time())
    return {"type": "message_edit", "object": message}
