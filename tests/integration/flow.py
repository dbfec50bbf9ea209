"""A small driver for the registration flow in tests: say things, read rendered answers."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from app.bootstrap import Container
from core.domain.model import Channel, Identity, Profile
from core.events import Command, ContactShared, Event, Incoming, Pressed, Start, Text, Unsupported
from core.replies import Action, Answer

_ids = itertools.count(1)


@dataclass
class Person:
    app: Container
    park: str
    channel: Channel = Channel.TELEGRAM
    user_id: str = field(default_factory=lambda: str(100_000 + next(_ids)))
    name: str = "Пётр"
    language: str = "ru"
    last: Answer | None = None
    event_id: int = 0

    @property
    def who(self) -> Identity:
        return Identity(self.channel, self.user_id)

    async def send(self, event: Event, *, event_id: int | None = None) -> list[str]:
        if event_id is None:
            self.event_id += 1
            event_id = self.event_id
        incoming = Incoming(
            self.park, self.who, event, Profile(self.name, self.language), event_id
        )
        self.last = await self.app.registration.handle(incoming)
        return self.texts

    @property
    def texts(self) -> list[str]:
        assert self.last is not None
        return [self.app.catalog.render(r, self.last.lang).text for r in self.last.replies]

    @property
    def keyboard(self) -> list[str]:
        """Labels of the last keyboard shown in the last answer."""
        assert self.last is not None
        for reply in reversed(self.last.replies):
            rendered = self.app.catalog.render(reply, self.last.lang)
            if rendered.keyboard is not None:
                return [button.text for button in rendered.keyboard]
        return []

    @property
    def links(self) -> list[str]:
        assert self.last is not None
        return [link.url for r in self.last.replies for link in r.links]

    async def start(self, payload: str | None = None, tag: str | None = None) -> list[str]:
        return await self.send(Start(payload, tag))

    async def share_contact(self, phone: str, own: bool = True) -> list[str]:
        return await self.send(ContactShared(phone, own))

    async def say(self, text: str) -> list[str]:
        return await self.send(Text(text))

    async def press(self, action: Action) -> list[str]:
        return await self.send(Pressed(action))

    async def command(self, name: str) -> list[str]:
        return await self.send(Command(name))

    async def unsupported(self, kind: str = "sticker") -> list[str]:
        return await self.send(Unsupported(kind))

    def joined(self) -> str:
        return "\n".join(self.texts)
