"""Telegram messages -> core events. Pure functions: no I/O, no state."""

from __future__ import annotations

from aiogram.types import Message, User

from core.domain.model import Channel, Identity, Profile
from core.events import Command, ContactShared, Event, Incoming, Start, Text, Unsupported

# Telegram itself caps a text message at 4096 characters; anything longer (a fake server,
# a future API change) is cut so core never parses more than a real message could hold.
MAX_TEXT = 4096


def event_for_message(message: Message) -> Event:
    sender = message.from_user
    if message.contact is not None:
        contact = message.contact
        # The request_contact button sends the sender's own card; a forwarded card has
        # another user_id or none at all (a phone-book entry), and proves nothing.
        own = sender is not None and contact.user_id == sender.id
        return ContactShared(contact.phone_number, own)
    if message.text is not None:
        text = message.text[:MAX_TEXT]
        if text.startswith("/"):
            return _command(text)
        return Text(text)
    return Unsupported(message.content_type)


def _command(text: str) -> Event:
    head, _, args = text[1:].partition(" ")
    # "/start@mos_gortaxi_bot payload": the mention names this bot (private chats only
    # reach us), so it is dropped.
    name = head.split("@", 1)[0].lower()
    if name == "start":
        # t.me/<bot>?start=<payload>: core splits "<code>-<tag>" itself.
        return Start(args.strip() or None)
    # A bare "/" is an unknown command too, for which core shows the current prompt.
    return Command(name)


def incoming(park: str, user: User, event: Event, update_id: int) -> Incoming:
    return Incoming(
        park=park,
        who=Identity(Channel.TELEGRAM, str(user.id)),
        event=event,
        profile=Profile(user.first_name, user.language_code),
        event_id=update_id,
    )
