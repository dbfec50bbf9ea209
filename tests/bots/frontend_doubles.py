"""In-memory stand-ins for the core ports a front end is handed, for front-end unit tests.

The front ends run for real (real aiogram / vkbottle clients over HTTP against the fake
servers); only what lies behind core's ports is replaced: leases granted from a dict, the
long-poll cursors in a dict, and a registration that records what reached it and can be
held up to model a slow or interrupted unit of work. The same flows run on the real
database in the process tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from core.events import Incoming
from core.replies import Answer, Reply
from core.texts import Catalog

T = TypeVar("T")


@dataclass
class MemoryLeases:
    """``core.ports.LeaseFactory`` over one dict: the first to ask for a name holds it."""

    holders: dict[str, object] = field(default_factory=dict)

    def for_process(self) -> Callable[[str], MemoryLease]:
        """A lease factory as one process would have it."""
        me = object()
        return lambda name: MemoryLease(self, name, me)


@dataclass
class MemoryLease:
    leases: MemoryLeases
    name: str
    owner: object

    async def acquire(self) -> bool:
        holder = self.leases.holders.setdefault(self.name, self.owner)
        return holder is self.owner

    async def alive(self) -> bool:
        return self.leases.holders.get(self.name) is self.owner

    async def release(self) -> None:
        if self.leases.holders.get(self.name) is self.owner:
            del self.leases.holders[self.name]


class _Cursors:
    def __init__(self, values: dict[str, str]) -> None:
        self._values = values

    def get(self, name: str) -> str | None:
        return self._values.get(name)

    def set(self, name: str, value: str) -> None:
        self._values[name] = value


@dataclass
class MemoryDatabase:
    """``core.ports.Database`` with only the cursors repository (all a front end uses)."""

    cursors: dict[str, str] = field(default_factory=dict)

    async def run(self, work: Callable[[Any], T]) -> T:
        uow = type("Uow", (), {"cursors": _Cursors(self.cursors)})()
        return work(uow)

    async def ping(self) -> None:
        return None


class Gate:
    """Registration that answers every update with one text and can hold chosen ones."""

    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog or Catalog()
        self.handled: list[Incoming] = []
        self.started: list[Incoming] = []
        self.held: set[str] = set()  # texts whose handling waits for ``open()``
        self._open = asyncio.Event()
        self.error: BaseException | None = None

    def open(self) -> None:
        self._open.set()

    async def handle(self, incoming: Incoming) -> Answer:
        self.started.append(incoming)
        if getattr(incoming.event, "text", None) in self.held:
            await self._open.wait()
        if self.error is not None:
            raise self.error
        self.handled.append(incoming)
        return Answer("ru", (Reply("try-later"),))

    def ids(self, started: bool = False) -> list[int | None]:
        return [i.event_id for i in (self.started if started else self.handled)]
