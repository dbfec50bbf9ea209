"""An in-memory ``core.ports.Database`` for fast tests of the flow's rules.

It keeps the SQL store's semantics for the repositories the registration and admin flows use:
one driver per phone per park, one partner per phone per park, unique codes, one conversation
per (park, channel, user), versioned conversation saves that raise ``StaleState``, an outbox
whose repeated keys are ignored. A ``run`` works on a deep copy of the state and swaps it in
only when the function returns, so a raise rolls everything back, as a transaction does.
Strings are checked against the column lengths (``core.domain.limits``) and for NUL, which
PostgreSQL refuses, so a test on the fake fails where the real store would.

Ports outside those flows (ledger, webhooks, cabinet, ...) are not here: a use case that
needs them gets an ``AttributeError`` rather than a silent stub.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from core.domain import limits
from core.domain.delivery import OutboxRow, Status
from core.domain.model import (
    Alerts,
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
    Source,
)
from core.domain.operators import DriverFilter
from core.domain.registration import Conversation, Step
from core.ports import Clock, StaleState

T = TypeVar("T")


class ColumnError(ValueError):
    """What the database would refuse: too long for its column, or a NUL character."""


def _fits(value: str | None, size: int, what: str) -> None:
    if value is None:
        return
    if len(value) > size:
        raise ColumnError(f"{what}: {len(value)} characters, the column holds {size}")
    if "\x00" in value:
        raise ColumnError(f"{what}: NUL character")


@dataclass
class _Code:
    code: str
    park: str
    kind: OwnerKind
    active: bool
    created_at: datetime


@dataclass
class State:
    """Every table the fake keeps; copied whole at the start of a transaction."""

    parks: dict[str, Park] = field(default_factory=dict)
    codes: dict[str, _Code] = field(default_factory=dict)
    partners: dict[int, Partner] = field(default_factory=dict)
    drivers: dict[int, Driver] = field(default_factory=dict)
    conversations: dict[tuple[str, Channel, str], Conversation] = field(default_factory=dict)
    outbox: dict[int, OutboxRow] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    cursors: dict[str, str] = field(default_factory=dict)
    sms: list[tuple[str, str, Channel, datetime]] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)
    next_id: int = 1

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1


class _Repo:
    def __init__(self, state: State, clock: Clock) -> None:
        self.s = state
        self.clock = clock


class MemoryParks(_Repo):
    def sync(self, parks: Sequence[Park]) -> None:
        for park in parks:
            _fits(park.slug, limits.SLUG, "park slug")
            self.s.parks[park.slug] = park

    def list(self) -> list[Park]:
        return [self.s.parks[slug] for slug in sorted(self.s.parks)]


class MemoryCodes(_Repo):
    def lookup(self, code: str) -> CodeInfo | None:
        row = self.s.codes.get(code)
        if row is None:
            return None
        for partner in self.s.partners.values():
            if partner.code == code:
                assert partner.id is not None
                return CodeInfo(
                    code, row.park, OwnerKind.PARTNER, partner.id, partner.phone, row.active
                )
        for driver in self.s.drivers.values():
            if driver.own_code == code:
                assert driver.id is not None
                return CodeInfo(
                    code, row.park, OwnerKind.DRIVER, driver.id, driver.phone, row.active
                )
        return None  # reserved but not owned yet: not usable, as in the SQL store

    def owners_of_phone(self, park: str, phone: str) -> list[PhoneOwner]:
        owners = [
            PhoneOwner(OwnerKind.DRIVER, d.id, d.park, d.own_code)
            for d in self.s.drivers.values()
            if d.park == park and d.phone == phone and d.id is not None
        ]
        owners += [
            PhoneOwner(OwnerKind.PARTNER, p.id, p.park, p.code)
            for p in self.s.partners.values()
            if p.phone == phone and p.id is not None
        ]
        return owners

    def reserve(self, code: str, park: str, kind: OwnerKind) -> bool:
        _fits(code, limits.CODE, "code")
        if code in self.s.codes:
            return False
        self.s.codes[code] = _Code(code, park, kind, True, self.clock.now())
        return True

    def release(self, code: str) -> None:
        self.s.codes.pop(code, None)

    def set_active(self, code: str, active: bool) -> bool:
        row = self.s.codes.get(code)
        if row is None:
            return False
        row.active = active
        return True

    def parks_of(self, codes: Collection[str]) -> dict[str, str]:
        return {code: self.s.codes[code].park for code in codes if code in self.s.codes}

    def reserve_many(self, codes: Collection[str], park: str, kind: OwnerKind) -> set[str]:
        return {code for code in codes if self.reserve(code, park, kind)}


class MemoryPartners(_Repo):
    def add(self, partner: Partner) -> Partner | None:
        _fits(partner.phone, limits.PHONE, "partner phone")
        _fits(partner.name, limits.PERSON_NAME, "partner name")
        if partner.code not in self.s.codes:
            raise ColumnError(f"partner code {partner.code} is not in codes (foreign key)")
        for other in self.s.partners.values():
            if other.park == partner.park and other.phone == partner.phone:
                return None
            if other.code == partner.code:
                raise ColumnError(f"partner code {partner.code} is taken (unique)")
        stored = replace(
            partner, id=self.s.new_id(), created_at=partner.created_at or self.clock.now()
        )
        self.s.partners[stored.id] = stored  # type: ignore[index]
        return replace(stored)

    def by_phone(self, phone: str) -> list[Partner]:
        return [replace(p) for p in self.s.partners.values() if p.phone == phone]

    def get(self, partner_id: int) -> Partner | None:
        partner = self.s.partners.get(partner_id)
        return replace(partner) if partner else None

    def list(self, park: str | None = None) -> list[Partner]:
        rows = sorted(self.s.partners.values(), key=lambda p: (p.park, p.id or 0))
        return [replace(p) for p in rows if park is None or p.park == park]

    def link_telegram(self, partner_id: int, chat_id: int) -> None:
        partner = self.s.partners.get(partner_id)
        if partner is not None:
            partner.telegram_chat_id, partner.unreachable = chat_id, False

    def page(self, park: str | None, after_id: int, limit: int) -> list[Partner]:
        rows = sorted(self.s.partners.values(), key=lambda p: p.id or 0)
        chosen = [p for p in rows if (p.id or 0) > after_id and park in (None, p.park)]
        return [replace(p) for p in chosen[:limit]]

    def phones_in(self, park: str, phones: Collection[str]) -> set[str]:
        wanted = set(phones)
        return {p.phone for p in self.s.partners.values() if p.park == park and p.phone in wanted}

    def add_many(self, partners: Sequence[Partner]) -> set[str]:
        return {p.phone for p in partners if self.add(p) is not None}

    def update_settings(
        self, partner_id: int, *, alerts: Alerts, quiet_from: str | None, quiet_to: str | None
    ) -> None:
        partner = self.s.partners.get(partner_id)
        if partner is not None:
            partner.alerts, partner.quiet_from, partner.quiet_to = alerts, quiet_from, quiet_to


class MemoryDrivers(_Repo):
    def add(self, driver: Driver) -> Driver | None:
        _fits(driver.phone, limits.PHONE, "driver phone")
        _fits(driver.name, limits.PERSON_NAME, "driver name")
        _fits(driver.source_tag, limits.SOURCE_TAG, "driver source tag")
        if driver.created_at is None or driver.updated_at is None:
            raise ColumnError("driver created_at and updated_at are NOT NULL")
        for code in (driver.own_code, driver.entered_code):
            if code is not None and code not in self.s.codes:
                raise ColumnError(f"driver code {code} is not in codes (foreign key)")
        for other in self.s.drivers.values():
            if other.park == driver.park and other.phone == driver.phone:
                return None
            if other.own_code == driver.own_code:
                raise ColumnError(f"driver code {driver.own_code} is taken (unique)")
        driver.id = self.s.new_id()
        self.s.drivers[driver.id] = replace(driver)
        return driver

    def by_phone(self, park: str, phone: str) -> Driver | None:
        for driver in self.s.drivers.values():
            if driver.park == park and driver.phone == phone:
                return replace(driver)
        return None

    def get(self, driver_id: int) -> Driver | None:
        driver = self.s.drivers.get(driver_id)
        return replace(driver) if driver else None

    def set_referral(
        self, driver_id: int, code: str | None, kind: OwnerKind | None, owner_id: int | None
    ) -> None:
        driver = self.s.drivers.get(driver_id)
        if driver is None:
            return
        if code is not None and code not in self.s.codes:
            raise ColumnError(f"entered code {code} is not in codes (foreign key)")
        driver.entered_code, driver.referrer_kind, driver.referrer_id = code, kind, owner_id
        driver.updated_at = self.clock.now()

    def page(self, where: DriverFilter, after_id: int, limit: int) -> list[Driver]:
        def fits(d: Driver) -> bool:
            at = d.created_at
            assert at is not None
            return (
                (d.id or 0) > after_id
                and where.park in (None, d.park)
                and (where.since is None or at >= where.since)
                and (where.until is None or at < where.until)
                and where.code in (None, d.entered_code)
                and where.source in (None, d.source)
                and where.channel in (None, d.channel)
            )

        rows = sorted(self.s.drivers.values(), key=lambda d: d.id or 0)
        return [replace(d) for d in rows if fits(d)][:limit]

    def identities(self, driver_id: int) -> list[Identity]:
        convs = sorted(self.s.conversations.values(), key=lambda c: c.id or 0)
        return [c.identity for c in convs if c.driver_id == driver_id]

    def set_mailing(
        self, driver_id: int, at: datetime | None, channel: Channel | None, url: str | None
    ) -> None:
        driver = self.s.drivers.get(driver_id)
        if driver is not None:
            driver.mailing_at, driver.mailing_channel, driver.mailing_url = at, channel, url

    def forget(self, driver_id: int, at: datetime) -> bool:
        driver = self.s.drivers.get(driver_id)
        if driver is None or driver.forgotten_at is not None:
            return False
        phone = driver.phone
        driver.phone, driver.name, driver.forgotten_at = f"erased-{driver_id}", None, at
        driver.mailing_at = driver.mailing_channel = driver.mailing_url = None
        for key, conv in list(self.s.conversations.items()):
            if conv.driver_id == driver_id or (conv.park == driver.park and conv.phone == phone):
                del self.s.conversations[key]
        self.s.sms[:] = [r for r in self.s.sms if not (r[0] == phone and r[1] == driver.park)]
        self.s.audit[:] = [
            replace(e, old=None, new=None)
            if e.driver_id == driver_id and e.field in ("phone", "name")
            else e
            for e in self.s.audit
        ]
        return True


class MemoryConversations(_Repo):
    def get(self, park: str, channel: Channel, user_id: str) -> Conversation | None:
        conv = self.s.conversations.get((park, channel, user_id))
        return replace(conv) if conv else None

    def save(self, conversation: Conversation) -> None:
        c = conversation
        _fits(c.user_id, limits.USER_ID, "conversation user id")
        _fits(c.name, limits.PERSON_NAME, "conversation name")
        _fits(c.phone, limits.PHONE, "conversation phone")
        _fits(c.link_code, limits.CODE, "conversation link code")
        _fits(c.link_tag, limits.SOURCE_TAG, "conversation link tag")
        key = (c.park, c.channel, c.user_id)
        stored = self.s.conversations.get(key)
        now = self.clock.now()
        if c.version == 0:
            if stored is not None:
                raise StaleState("conversation created concurrently")
            c.created_at = c.created_at or now
            c.id = self.s.new_id()
        elif stored is None or stored.version != c.version or stored.id != c.id:
            raise StaleState("conversation changed concurrently")
        c.updated_at = now
        c.version += 1
        self.s.conversations[key] = replace(c)

    def unfinished_page(
        self, where: DriverFilter, after_id: int, limit: int
    ) -> list[Conversation]:
        def fits(c: Conversation) -> bool:
            at = c.created_at
            assert at is not None
            if where.source is Source.DEEP_LINK:
                source_ok = c.link_code is not None
            else:
                source_ok = where.source is None or c.link_code is None
            return (
                (c.id or 0) > after_id
                and c.step in (Step.PHONE, Step.OTP, Step.REFERRAL)
                and c.driver_id is None
                and where.park in (None, c.park)
                and (where.since is None or at >= where.since)
                and (where.until is None or at < where.until)
                and where.code in (None, c.link_code)
                and where.channel in (None, c.channel)
                and source_ok
            )

        rows = sorted(self.s.conversations.values(), key=lambda c: c.id or 0)
        return [replace(c) for c in rows if fits(c)][:limit]


class MemoryOutbox(_Repo):
    """Only queueing and reading: delivery has its own tests on the real store."""

    def add(self, notification: Notification) -> None:
        n = notification
        _fits(n.key, 200, "outbox key")
        if any(row.key == n.key for row in self.s.outbox.values()):
            return
        now = self.clock.now()
        row_id = self.s.new_id()
        self.s.outbox[row_id] = OutboxRow(
            id=row_id,
            park=n.park,
            recipient_kind=n.recipient_kind,
            recipient_id=n.recipient_id,
            kind=n.kind,
            payload=copy.deepcopy(n.payload),
            key=n.key,
            status=Status.PENDING,
            attempts=0,
            next_attempt_at=n.not_before or now,
            created_at=now,
        )

    def get(self, row_id: int) -> OutboxRow | None:
        return self.s.outbox.get(row_id)

    def list(
        self,
        *,
        status: Status | None = None,
        park: str | None = None,
        partner_ids: Any = None,
        limit: int = 100,
    ) -> list[OutboxRow]:
        rows = [
            row
            for row in sorted(self.s.outbox.values(), key=lambda r: r.id, reverse=True)
            if (status is None or row.status is status)
            and (park is None or row.park == park)
            and (
                partner_ids is None
                or (row.recipient_kind is OwnerKind.PARTNER and row.recipient_id in partner_ids)
            )
        ]
        return rows[:limit]

    def counts(self) -> dict[Status, int]:
        counts: dict[Status, int] = {}
        for row in self.s.outbox.values():
            counts[row.status] = counts.get(row.status, 0) + 1
        return counts


class MemoryAudit(_Repo):
    def add(self, entry: AuditEntry) -> None:
        _fits(entry.old, limits.AUDIT_VALUE, "audit old")
        _fits(entry.new, limits.AUDIT_VALUE, "audit new")
        _fits(entry.actor, limits.ACTOR, "audit actor")
        self.s.audit.append(entry)

    def for_driver(self, driver_id: int) -> list[AuditEntry]:
        entries = [e for e in self.s.audit if e.driver_id == driver_id]
        return sorted(entries, key=lambda e: e.at)  # stable: insertion order breaks ties


class MemoryCursors(_Repo):
    def get(self, name: str) -> str | None:
        return self.s.cursors.get(name)

    def set(self, name: str, value: str) -> None:
        _fits(name, 100, "cursor name")
        _fits(value, 200, "cursor value")
        self.s.cursors[name] = value


class MemorySmsLog(_Repo):
    def sent_since(self, phone: str, since: datetime) -> list[datetime]:
        return [at for to, _, _, at in self.s.sms if to == phone and at >= since]

    def record(self, phone: str, park: str, channel: Channel, at: datetime) -> None:
        _fits(phone, limits.PHONE, "sms phone")
        self.s.sms.append((phone, park, channel, at))

    def forget_before(self, before: datetime) -> int:
        kept = [row for row in self.s.sms if row[3] >= before]
        gone = len(self.s.sms) - len(kept)
        self.s.sms[:] = kept
        return gone


class MemorySecrets(_Repo):
    def get_or_create(self, name: str, candidate: str) -> str:
        return self.s.secrets.setdefault(name, candidate)


class MemoryUnitOfWork:
    def __init__(self, state: State, clock: Clock) -> None:
        self.state = state
        self.parks = MemoryParks(state, clock)
        self.codes = MemoryCodes(state, clock)
        self.partners = MemoryPartners(state, clock)
        self.drivers = MemoryDrivers(state, clock)
        self.conversations = MemoryConversations(state, clock)
        self.outbox = MemoryOutbox(state, clock)
        self.audit = MemoryAudit(state, clock)
        self.cursors = MemoryCursors(state, clock)
        self.sms = MemorySmsLog(state, clock)
        self.secrets = MemorySecrets(state, clock)


class MemoryDatabase:
    """``core.ports.Database`` over ``State``; ``state`` is the committed data."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.state = State()
        self.commits = 0
        self.rollbacks = 0

    async def run(self, work: Callable[[MemoryUnitOfWork], T]) -> T:
        # The work is synchronous and the event loop runs one coroutine at a time, so
        # transactions never interleave: each sees the last committed state.
        draft = copy.deepcopy(self.state)
        try:
            result = work(MemoryUnitOfWork(draft, self.clock))
        except BaseException:
            self.rollbacks += 1
            raise
        self.state = draft
        self.commits += 1
        return result

    async def read(self, work: Callable[[MemoryUnitOfWork], T]) -> T:
        return await self.run(work)

    async def ping(self) -> None:
        return None


@dataclass
class MemoryApp:
    """The parts of ``app.bootstrap.Container`` the flow tests use, over ``MemoryDatabase``."""

    db: MemoryDatabase
    parks: dict[str, Park]
    catalog: Any
    clock: Any
    sms: Any
    registration: Any
    admin: Any


def memory_app(parks: Sequence[Park], clock: Clock, sms: Any) -> MemoryApp:
    """Core's registration and admin services wired as the composition root wires them."""
    from core.domain.registration import Limits
    from core.services.admin import AdminService
    from core.services.codes import CodeIssuer
    from core.services.registration import RegistrationService
    from core.texts import Catalog

    db = MemoryDatabase(clock)
    by_slug = {park.slug: park for park in parks}
    db.state.parks.update(by_slug)
    catalog, issuer = Catalog(), CodeIssuer()
    limits_ = Limits(otp_secret=b"memory-test-secret-0123456789")
    return MemoryApp(
        db=db,
        parks=by_slug,
        catalog=catalog,
        clock=clock,
        sms=sms,
        registration=RegistrationService(db, by_slug, clock, sms, catalog, limits_, issuer),
        admin=AdminService(db, by_slug, clock, issuer),
    )
