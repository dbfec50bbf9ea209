"""SQLAlchemy implementations of core's repository ports, on one synchronous connection per
unit of work (``storage.database`` runs them in SQLite's thread or over asyncpg).

Queries are written for the fewest round trips: a code is judged from one joined read, and
writes that may race use the database's own conflict handling (INSERT ... ON CONFLICT,
UPDATE ... WHERE version = ...) instead of read-then-write. Times come from core's clock.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Table, and_, delete, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from core.domain.delivery import DRIVER_REGISTERED
from core.domain.model import (
    Alerts,
    AuditEntry,
    Channel,
    CodeInfo,
    Driver,
    Identity,
    OwnerKind,
    Park,
    Partner,
    PhoneOwner,
    Source,
)
from core.domain.operators import DriverFilter
from core.domain.registration import Conversation, Step
from core.ports import Clock, StaleState
from storage import tables as t
from storage.rows import (
    conversation_from_row,
    conversation_values,
    driver_from_row,
    driver_values,
    park_from_row,
    park_values,
    partner_from_row,
)
from storage.statements import Executor


def upsert(conn: Connection, table: Table) -> Any:
    """An INSERT that supports ON CONFLICT on both SQLite and PostgreSQL."""
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table)


def _filtered(stmt: Select[Any], table: Table, where: DriverFilter, code: Any) -> Select[Any]:
    """``where``'s park, created-at window, code and channel on ``table`` (drivers or
    conversations: the same column names but for ``code``); the source is the caller's."""
    if where.park is not None:
        stmt = stmt.where(table.c.park_slug == where.park)
    if where.since is not None:
        stmt = stmt.where(table.c.created_at >= where.since)
    if where.until is not None:
        stmt = stmt.where(table.c.created_at < where.until)
    if where.code is not None:
        stmt = stmt.where(code == where.code)
    if where.channel is not None:
        stmt = stmt.where(table.c.channel == where.channel.value)
    return stmt


# Values per IN (...) list: far below SQLite's and PostgreSQL's bound-parameter limits.
_IN_SLICE = 1_000


def _slices(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _IN_SLICE):
        yield values[start : start + _IN_SLICE]


class _Repo:
    def __init__(self, conn: Connection, clock: Clock, run: Executor | None = None) -> None:
        self.conn = conn
        self.clock = clock
        # The hot statements go through ``run`` (shared by the unit of work's repositories);
        # everything else is plain SQLAlchemy on ``conn``.
        self.run = run or Executor(conn)
        self.q = self.run.q


class SqlParks(_Repo):
    def sync(self, parks: Sequence[Park]) -> None:
        stored = {park.slug: park for park in self.list()}
        for park in parks:
            if stored.get(park.slug) == park:
                continue  # unchanged: a read-only command writes nothing
            values = {**park_values(park), "updated_at": self.clock.now()}
            del values["slug"]
            stmt = upsert(self.conn, t.parks).values(slug=park.slug, **values)
            self.conn.execute(stmt.on_conflict_do_update(index_elements=["slug"], set_=values))

    def list(self) -> list[Park]:
        rows = self.conn.execute(select(t.parks).order_by(t.parks.c.slug))
        return [park_from_row(row) for row in rows]


class SqlCodes(_Repo):
    def lookup(self, code: str) -> CodeInfo | None:
        row = self.run.first(self.q.code_lookup, {"code": code})
        if row is None:
            return None
        if row.partner_id is not None:
            kind, owner_id, phone = OwnerKind.PARTNER, row.partner_id, row.partner_phone
        elif row.driver_id is not None:
            kind, owner_id, phone = OwnerKind.DRIVER, row.driver_id, row.driver_phone
        else:
            return None  # reserved in an unfinished transaction elsewhere: not usable yet
        return CodeInfo(row.code, row.park_slug, kind, owner_id, phone, row.active)

    def owners_of_phone(self, park: str, phone: str) -> list[PhoneOwner]:
        rows = self.run.all(self.q.phone_owners, {"park": park, "phone": phone})
        return [PhoneOwner(OwnerKind(kind), id_, park_, code) for kind, id_, park_, code in rows]

    def reserve(self, code: str, park: str, kind: OwnerKind) -> bool:
        params = {
            "code": code,
            "park_slug": park,
            "kind": kind.value,
            "active": True,
            "created_at": self.clock.now(),
        }
        return self.run.first(self.q.code_reserve, params) is not None

    def release(self, code: str) -> None:
        self.conn.execute(t.codes.delete().where(t.codes.c.code == code))

    def set_active(self, code: str, active: bool) -> bool:
        stmt = update(t.codes).where(t.codes.c.code == code).values(active=active)
        return self.conn.execute(stmt).rowcount == 1

    def parks_of(self, codes: Collection[str]) -> dict[str, str]:
        k = t.codes
        found: dict[str, str] = {}
        for part in _slices(sorted(set(codes))):
            stmt = select(k.c.code, k.c.park_slug).where(k.c.code.in_(part))
            found.update((code, park) for code, park in self.conn.execute(stmt))
        return found

    def reserve_many(self, codes: Collection[str], park: str, kind: OwnerKind) -> set[str]:
        if not codes:
            return set()
        now = self.clock.now()
        rows = [
            {"code": c, "park_slug": park, "kind": kind.value, "active": True, "created_at": now}
            for c in codes
        ]
        stmt = (
            upsert(self.conn, t.codes)
            .on_conflict_do_nothing(index_elements=["code"])
            .returning(t.codes.c.code)
        )
        return set(self.conn.execute(stmt, rows).scalars())


class SqlPartners(_Repo):
    def add(self, partner: Partner) -> Partner | None:
        now = partner.created_at or self.clock.now()
        stmt = (
            upsert(self.conn, t.partners)
            .values(
                park_slug=partner.park,
                phone=partner.phone,
                name=partner.name,
                code=partner.code,
                alerts=partner.alerts.value,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["park_slug", "phone"])
            .returning(t.partners)
        )
        row = self.conn.execute(stmt).first()
        return partner_from_row(row) if row else None

    def by_phone(self, phone: str) -> list[Partner]:
        rows = self.conn.execute(select(t.partners).where(t.partners.c.phone == phone))
        return [partner_from_row(row) for row in rows]

    def get(self, partner_id: int) -> Partner | None:
        row = self.run.first(self.q.partner_get, {"id": partner_id})
        return partner_from_row(row) if row else None

    def list(self, park: str | None = None) -> list[Partner]:
        stmt = select(t.partners).order_by(t.partners.c.park_slug, t.partners.c.id)
        if park is not None:
            stmt = stmt.where(t.partners.c.park_slug == park)
        return [partner_from_row(row) for row in self.conn.execute(stmt)]

    def link_telegram(self, partner_id: int, chat_id: int) -> None:
        stmt = (
            update(t.partners)
            .where(t.partners.c.id == partner_id)
            .values(telegram_chat_id=chat_id, unreachable=False, updated_at=self.clock.now())
        )
        self.conn.execute(stmt)

    def set_code(self, partner_id: int, code: str) -> None:
        stmt = (
            update(t.partners)
            .where(t.partners.c.id == partner_id)
            .values(code=code, updated_at=self.clock.now())
        )
        self.conn.execute(stmt)

    def page(self, park: str | None, after_id: int, limit: int) -> list[Partner]:
        p = t.partners
        stmt = select(p).where(p.c.id > after_id).order_by(p.c.id).limit(limit)
        if park is not None:
            stmt = stmt.where(p.c.park_slug == park)
        return [partner_from_row(row) for row in self.conn.execute(stmt)]

    def phones_in(self, park: str, phones: Collection[str]) -> set[str]:
        p = t.partners
        found: set[str] = set()
        for part in _slices(sorted(set(phones))):
            stmt = select(p.c.phone).where(p.c.park_slug == park, p.c.phone.in_(part))
            found.update(self.conn.execute(stmt).scalars())
        return found

    def add_many(self, partners: Sequence[Partner]) -> set[str]:
        if not partners:
            return set()
        now = self.clock.now()
        rows = [
            {
                "park_slug": x.park,
                "phone": x.phone,
                "name": x.name,
                "code": x.code,
                "alerts": x.alerts.value,
                "created_at": x.created_at or now,
                "updated_at": x.created_at or now,
            }
            for x in partners
        ]
        stmt = (
            upsert(self.conn, t.partners)
            .on_conflict_do_nothing(index_elements=["park_slug", "phone"])
            .returning(t.partners.c.phone)
        )
        return set(self.conn.execute(stmt, rows).scalars())

    def update_settings(
        self, partner_id: int, *, alerts: Alerts, quiet_from: str | None, quiet_to: str | None
    ) -> None:
        stmt = (
            update(t.partners)
            .where(t.partners.c.id == partner_id)
            .values(
                alerts=alerts.value,
                quiet_from=quiet_from,
                quiet_to=quiet_to,
                updated_at=self.clock.now(),
            )
        )
        self.conn.execute(stmt)


class SqlDrivers(_Repo):
    def add(self, driver: Driver) -> Driver | None:
        row = self.run.first(self.q.driver_insert, driver_values(driver))
        if row is None:
            return None
        driver.id = row.id
        return driver

    def by_phone(self, park: str, phone: str) -> Driver | None:
        stmt = select(t.drivers).where(
            and_(t.drivers.c.park_slug == park, t.drivers.c.phone == phone)
        )
        row = self.conn.execute(stmt).first()
        return driver_from_row(row) if row else None

    def get(self, driver_id: int) -> Driver | None:
        row = self.run.first(self.q.driver_get, {"id": driver_id})
        return driver_from_row(row) if row else None

    def set_referral(
        self, driver_id: int, code: str | None, kind: OwnerKind | None, owner_id: int | None
    ) -> None:
        stmt = (
            update(t.drivers)
            .where(t.drivers.c.id == driver_id)
            .values(
                entered_code=code,
                referrer_kind=kind.value if kind else None,
                referrer_id=owner_id,
                updated_at=self.clock.now(),
            )
        )
        self.conn.execute(stmt)

    def page(self, where: DriverFilter, after_id: int, limit: int) -> list[Driver]:
        d = t.drivers.c
        stmt = select(t.drivers).where(d.id > after_id).order_by(d.id).limit(limit)
        stmt = _filtered(stmt, t.drivers, where, code=d.entered_code)
        if where.source is not None:
            stmt = stmt.where(d.source == where.source.value)
        return [driver_from_row(row) for row in self.conn.execute(stmt)]

    def identities(self, driver_id: int) -> list[Identity]:
        c = t.conversations
        stmt = select(c.c.channel, c.c.user_id).where(c.c.driver_id == driver_id).order_by(c.c.id)
        return [Identity(Channel(row.channel), row.user_id) for row in self.conn.execute(stmt)]

    def set_mailing(
        self, driver_id: int, at: datetime | None, channel: Channel | None, url: str | None
    ) -> None:
        stmt = (
            update(t.drivers)
            .where(t.drivers.c.id == driver_id)
            .values(
                mailing_at=at,
                mailing_channel=channel.value if channel else None,
                mailing_url=url,
                updated_at=self.clock.now(),
            )
        )
        self.conn.execute(stmt)

    def forget(self, driver_id: int, at: datetime) -> bool:
        d = t.drivers
        row = self.conn.execute(
            select(d.c.park_slug, d.c.phone).where(d.c.id == driver_id, d.c.forgotten_at.is_(None))
        ).first()
        if row is None:
            return False
        park, phone = row.park_slug, row.phone
        c = t.conversations
        # Conversations hold the chat ids, the phone and the name: the finished one and any
        # unfinished one that reached the phone step with this number.
        self.conn.execute(
            delete(c).where(
                or_(c.c.driver_id == driver_id, and_(c.c.park_slug == park, c.c.phone == phone))
            )
        )
        # The number's SMS log in this park (other parks' rows are their own drivers' data).
        s = t.sms_sends
        self.conn.execute(delete(s).where(s.c.phone == phone, s.c.park_slug == park))
        # The partner's alert carried the name and phone; the row stays for delivery history.
        o = t.outbox
        key = f"{DRIVER_REGISTERED}:{driver_id}"
        rows = self.conn.execute(select(o.c.id, o.c.payload).where(o.c.idempotency_key == key))
        for out in rows:
            scrubbed = {**out.payload, "name": None, "phone": None}
            self.conn.execute(update(o).where(o.c.id == out.id).values(payload=scrubbed))
        # Webhook bodies (sent or not) keep their event id and facts; the person goes.
        w = t.webhook_outbox
        hooks = self.conn.execute(
            select(w.c.id, w.c.body).where(w.c.park_slug == park, w.c.body.contains(phone))
        )
        for hook in hooks.all():
            body = erased_webhook_body(hook.body, driver_id, phone)
            self.conn.execute(update(w).where(w.c.id == hook.id).values(body=body))
        # Earlier audit rows of phone or name changes would say what is being erased.
        a = t.audit_log
        self.conn.execute(
            update(a)
            .where(a.c.driver_id == driver_id, a.c.field.in_(("phone", "name")))
            .values(old=None, new=None)
        )
        self.conn.execute(
            update(d)
            .where(d.c.id == driver_id)
            .values(
                phone=f"erased-{driver_id}",
                name=None,
                mailing_at=None,
                mailing_channel=None,
                mailing_url=None,
                forgotten_at=at,
                updated_at=at,
            )
        )
        return True


def erased_webhook_body(body: str, driver_id: int, phone: str) -> str:
    """A webhook body about the erased driver with their phone and name removed; any other
    body that mentions the phone becomes JSON that names no one."""
    try:
        event = json.loads(body)
    except ValueError:
        event = None
    data = event.get("data") if isinstance(event, dict) else None
    if isinstance(data, dict) and data.get("driver_id") == driver_id:
        data.update(phone=None, name=None)
        cleaned = json.dumps(event, ensure_ascii=False, sort_keys=True)
        if phone not in cleaned:
            return cleaned
    return '{"erased": true}'


class SqlConversations(_Repo):
    def get(self, park: str, channel: Channel, user_id: str) -> Conversation | None:
        params = {"park": park, "channel": channel.value, "user_id": user_id}
        row = self.run.first(self.q.conversation_get, params)
        return conversation_from_row(row) if row else None

    def save(self, conversation: Conversation) -> None:
        now = self.clock.now()
        conversation.updated_at = now
        if conversation.version == 0:
            conversation.created_at = conversation.created_at or now
        values = conversation_values(conversation)
        values["step"] = conversation.step.value
        values["version"] = conversation.version + 1
        if conversation.version == 0:
            params = {
                "park_slug": conversation.park,
                "channel": conversation.channel.value,
                "user_id": conversation.user_id,
                **values,
            }
            row = self.run.first(self.q.conversation_insert, params)
            if row is None:
                raise StaleState("conversation created concurrently")
            conversation.id = row.id
        else:
            params = {f"new_{name}": value for name, value in values.items()}
            params.update(b_id=conversation.id, b_version=conversation.version)
            if self.run.write(self.q.conversation_update, params) != 1:
                raise StaleState("conversation changed concurrently")
        conversation.version += 1

    def unfinished_page(
        self, where: DriverFilter, after_id: int, limit: int
    ) -> list[Conversation]:
        c = t.conversations.c
        steps = [step.value for step in _UNFINISHED]
        stmt = (
            select(t.conversations)
            .where(c.id > after_id, c.step.in_(steps), c.driver_id.is_(None))
            .order_by(c.id)
            .limit(limit)
        )
        stmt = _filtered(stmt, t.conversations, where, code=c.link_code)
        if where.source is Source.DEEP_LINK:
            stmt = stmt.where(c.link_code.is_not(None))
        elif where.source is not None:  # no code entered yet: only a link can have brought one
            stmt = stmt.where(c.link_code.is_(None))
        return [conversation_from_row(row) for row in self.conn.execute(stmt)]


# Registrations started and not finished: what an operator's "unfinished" listing shows.
_UNFINISHED = (Step.PHONE, Step.OTP, Step.REFERRAL)


class SqlAudit(_Repo):
    def add(self, entry: AuditEntry) -> None:
        self.conn.execute(
            t.audit_log.insert().values(
                driver_id=entry.driver_id,
                field=entry.field,
                old=entry.old,
                new=entry.new,
                actor=entry.actor,
                at=entry.at,
            )
        )

    def for_driver(self, driver_id: int) -> list[AuditEntry]:
        a = t.audit_log
        rows = self.conn.execute(
            select(a).where(a.c.driver_id == driver_id).order_by(a.c.at, a.c.id)
        )
        return [
            AuditEntry(row.driver_id, row.field, row.old, row.new, row.actor, row.at)
            for row in rows
        ]


class SqlCursors(_Repo):
    def get(self, name: str) -> str | None:
        c = t.cursors
        return self.conn.execute(select(c.c.value).where(c.c.name == name)).scalar_one_or_none()

    def set(self, name: str, value: str) -> None:
        values = {"value": value, "updated_at": self.clock.now()}
        stmt = upsert(self.conn, t.cursors).values(name=name, **values)
        self.conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_=values))


class SqlSmsLog(_Repo):
    def sent_since(self, phone: str, since: datetime) -> list[datetime]:
        s = t.sms_sends
        stmt = select(s.c.sent_at).where(and_(s.c.phone == phone, s.c.sent_at >= since))
        if self.conn.dialect.name == "postgresql":
            # Two chats asking for the same number at once must not both see room for one more
            # code: the number's sends are counted under a lock held to the end of the
            # transaction. (SQLite lets one writer in at a time already.)
            self.conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:phone))"), {"phone": phone}
            )
        return list(self.conn.execute(stmt).scalars())

    def record(self, phone: str, park: str, channel: Channel, at: datetime) -> None:
        self.conn.execute(
            t.sms_sends.insert().values(
                phone=phone, park_slug=park, channel=channel.value, sent_at=at
            )
        )

    def forget_before(self, before: datetime) -> int:
        stmt = t.sms_sends.delete().where(t.sms_sends.c.sent_at < before)
        return self.conn.execute(stmt).rowcount


class SqlSecrets(_Repo):
    def get_or_create(self, name: str, candidate: str) -> str:
        s = t.server_secrets
        stmt = upsert(self.conn, s).values(name=name, value=candidate, created_at=self.clock.now())
        self.conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
        return self.conn.execute(select(s.c.value).where(s.c.name == name)).scalar_one()
