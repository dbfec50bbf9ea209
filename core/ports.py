"""What core needs from the outside world. ``storage`` implements the repositories and the
unit of work; the composition root supplies the clock and the SMS sender.

The web API (landing page, app registration, partner cabinet) and the bonus ledger will use
the same unit of work: partner lookups by phone serve the cabinet's login, ``OutboxRepository``
takes any notification kind, and drivers carry their referrer for bonus attribution.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from core.domain.model import (
    AuditEntry,
    Channel,
    CodeInfo,
    Driver,
    Identity,
    Notification,
    OwnerKind,
    Park,
    Partner,
    PhoneOwner,
)
from core.domain.registration import Conversation


class StaleState(Exception):
    """The conversation changed since it was read (another update or process won)."""


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SmsError(Exception):
    """The SMS gateway did not accept the message."""


class SmsSender(Protocol):
    async def send(self, phone: str, text: str) -> None:
        """Send ``text`` to ``phone`` (E.164) or raise ``SmsError``."""
        ...


class ParkRepository(Protocol):
    async def sync(self, parks: Sequence[Park]) -> None: ...
    async def list(self) -> list[Park]: ...


class CodeRepository(Protocol):
    async def lookup(self, code: str) -> CodeInfo | None:
        """The code with its owner's id and phone, or None if no such code exists."""
        ...

    async def owners_of_phone(self, park: str, phone: str) -> list[PhoneOwner]:
        """In one query: this park's driver with the phone, and partners with it in any park."""
        ...

    async def reserve(self, code: str, park: str, kind: OwnerKind) -> bool:
        """Claim a fresh code; False if it is taken (the database decides, not a read)."""
        ...

    async def release(self, code: str) -> None: ...
    async def set_active(self, code: str, active: bool) -> bool: ...


class PartnerRepository(Protocol):
    async def add(self, partner: Partner) -> Partner | None:
        """Insert; None if this park already has a partner with that phone."""
        ...

    async def by_phone(self, phone: str) -> list[Partner]:
        """Partners with this phone in every park (at most one per park)."""
        ...

    async def get(self, partner_id: int) -> Partner | None: ...
    async def list(self, park: str | None = None) -> list[Partner]: ...
    async def link_telegram(self, partner_id: int, chat_id: int) -> None:
        """Remember the chat for alerts; also clears the unreachable flag."""
        ...

    async def update_settings(
        self, partner_id: int, *, alerts: str, quiet_from: str | None, quiet_to: str | None
    ) -> None: ...


class DriverRepository(Protocol):
    async def add(self, driver: Driver) -> Driver | None:
        """Insert; None if this park already has a driver with that phone."""
        ...

    async def by_phone(self, park: str, phone: str) -> Driver | None: ...
    async def get(self, driver_id: int) -> Driver | None: ...
    async def set_referral(
        self, driver_id: int, code: str | None, kind: OwnerKind | None, owner_id: int | None
    ) -> None: ...
    async def identities(self, driver_id: int) -> list[Identity]: ...


class ConversationRepository(Protocol):
    async def get(self, park: str, channel: Channel, user_id: str) -> Conversation | None: ...

    async def save(self, conversation: Conversation) -> None:
        """Insert a new one or update it if its version is unchanged, bumping the version.

        Raises ``StaleState`` when someone else saved it first.
        """
        ...


class OutboxRepository(Protocol):
    async def add(self, notification: Notification) -> None:
        """Queue a notification; a repeated ``key`` is ignored (idempotent)."""
        ...


class AuditRepository(Protocol):
    async def add(self, entry: AuditEntry) -> None: ...
    async def for_driver(self, driver_id: int) -> list[AuditEntry]: ...


class UnitOfWork(Protocol):
    """One transaction: nothing is stored unless ``commit`` is called."""

    parks: ParkRepository
    codes: CodeRepository
    partners: PartnerRepository
    drivers: DriverRepository
    conversations: ConversationRepository
    outbox: OutboxRepository
    audit: AuditRepository

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
