"""VK messages as core events, from the raw update dicts of Long Poll and Callback API alike.

Parsing the plain JSON (instead of vkbottle's pydantic models) keeps one code path for both
ways of receiving events and never fails on a field VK adds tomorrow.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.events import Event, Pressed, Start, Text, Unsupported
from core.replies import Action

CHAT_PEER_OFFSET = 2_000_000_000
# VK's client_info.lang_id; the catalog falls back to its default for the rest.
LANGUAGES = {0: "ru", 1: "uk", 2: "be", 3: "en", 4: "es", 5: "fi", 6: "de", 7: "it"}
START_COMMAND = "start"  # VK's own «Начать» button sends {"command": "start"}
STALE_BUTTON = "stale_button"


@dataclass(frozen=True)
class VkIncoming:
    """The parts of a ``message_new`` the bot uses."""

    peer_id: int
    from_id: int
    text: str
    number: int | None  # conversation_message_id, else id: increasing per conversation
    ref: str | None = None
    ref_source: str | None = None
    payload: str | None = None
    attachment: str | None = None  # type of the first attachment, if any
    forwarded: bool = False
    language: str | None = None
    link_buttons: bool = True  # the client shows inline keyboards with open_link buttons

    @property
    def is_chat(self) -> bool:
        return self.peer_id >= CHAT_PEER_OFFSET

    @classmethod
    def from_update(cls, obj: Mapping[str, Any]) -> VkIncoming | None:
        """``update["object"]`` of a ``message_new`` (API >= 5.103), or None if malformed."""
        message = obj.get("message")
        if not isinstance(message, Mapping):
            return None
        try:
            peer_id = int(message["peer_id"])
            from_id = int(message.get("from_id") or 0)
        except (KeyError, TypeError, ValueError):
            return None
        info = obj.get("client_info")
        info = info if isinstance(info, Mapping) else {}
        attachments = message.get("attachments") or []
        first = attachments[0] if attachments and isinstance(attachments[0], Mapping) else {}
        if not first and message.get("geo"):
            first = {"type": "geo"}
        return cls(
            peer_id=peer_id,
            from_id=from_id,
            text=str(message.get("text") or ""),
            number=_number(message),
            ref=_str(message.get("ref")),
            ref_source=_str(message.get("ref_source")),
            payload=_str(message.get("payload")),
            attachment=str(first.get("type") or "attachment") if first else None,
            forwarded=bool(message.get("fwd_messages") or message.get("reply_message")),
            language=LANGUAGES.get(info.get("lang_id")),  # type: ignore[arg-type]
            link_buttons=_link_buttons(info),
        )


def to_events(message: VkIncoming) -> list[Event]:
    """One or two core events: a ``ref`` link opens with Start, then the message itself.

    The message after a vk.me link usually is VK's «Начать» (then Start alone); if the
    user typed something real instead, it is handled right after the link's Start.
    """
    event = _event(message)
    if message.ref is None:
        return [event]
    start = Start(payload=message.ref, tag=message.ref_source)
    if isinstance(event, Start | Unsupported):
        return [start]
    return [start, event]


def _event(message: VkIncoming) -> Event:
    if message.payload is not None:
        return _button(message.payload)
    if message.attachment is not None:
        return Unsupported(message.attachment)
    if not message.text.strip():
        return Unsupported("forward" if message.forwarded else "empty")
    return Text(message.text)


def _button(raw: str) -> Event:
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = None
    if isinstance(payload, Mapping):
        if payload.get("command") == START_COMMAND:
            return Start()
        try:
            return Pressed(Action(payload.get("action")))
        except ValueError:
            pass
    # A keyboard from an older version of the bot (or another bot): core says what the
    # current step expects.
    return Unsupported(STALE_BUTTON)


def _link_buttons(info: Mapping[str, Any]) -> bool:
    actions = info.get("button_actions")
    supported = not isinstance(actions, list) or "open_link" in actions
    return bool(info.get("inline_keyboard", True)) and supported


def _number(message: Mapping[str, Any]) -> int | None:
    for key in ("conversation_message_id", "id"):
        value = message.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _str(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
