"""SQLAlchemy implementations of core's repository ports, on one connection per unit of work.

Queries are written for the fewest round trips: a code is judged from one joined read, and
writes that may race use the database's own conflict handling (INSERT ... ON CONFLICT,
UPDATE ... WHERE version = ...) instead of read-then-write.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Table, and_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

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
from core.ports import StaleState
from storage import tables as t
from storage.hot import Queries
from storage.rows import (
    conversation_from_row,
    conversation_values,
    driver_from_row,
    driver_values,
    park_from_row,
    partner_from_row,
)


def _now() -> datetime:
    return datetime.now(UTC)


def upsert(conn: AsyncConnection, table: Table) -> Any:
    """An INSERT that supports ON CONFLICT on both SQLite and PostgreSQL."""
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table)


class Tx(Protocol):
    """The unit of work's transaction, opened lazily on SQLite (see ``storage.uow``)."""

    in_transaction: bool

    async def write(self) -> None:
        """Make sure a transaction is open before a write that must be atomic with others."""
        ...


class _Repo:
    def __init__(self, conn: AsyncConnection, tx: Tx, q: Queries) -> None:
        self.conn = conn
        self.tx = tx
        self.q = q  # the hot-path statements (storage.hot)


class SqlParks(_Repo):
    async def sync(self, parks: Sequence[Park]) -> None:
        await self.tx.write()
        for park in parks:
            values = {
                "name": park.name,
                "landing_url": park.landing_url,
                "telegram_username": park.telegram_username,
                "vk_group_id": park.vk_group_id,
                "vk_screen_name": park.vk_screen_name,
                "phone_region": park.phone_region,
                "timezone": park.timezone,
                "updated_at": _now(),
            }
            stmt = upsert(self.conn, t.parks).values(slug=park.slug, **values)
            await self.conn.execute(
                stmt.on_conflict_do_update(index_elements=["slug"], set_=values)
            )

    async def list(self) -> list[Park]:
        rows = await self.conn.execute(select(t.parks).order_by(t.parks.c.slug))
        return [park_from_row(row) for row in rows]


class SqlCodes(_Repo):
    async def lookup(self, code: str) -> CodeInfo | None:
        row = await self.q.first("code_lookup", {"code": code})
        if row is None:
            return None
        if row.partner_id is not None:
            kind, owner_id, phone = OwnerKind.PARTNER, row.partner_id, row.partner_phone
        elif row.driver_id is not None:
            kind, owner_id, phone = OwnerKind.DRIVER, row.driver_id, row.driver_phone
        else:
            return None  # reserved in an unfinished transaction elsewhere: not usable yet
        return CodeInfo(row.code, row.park_slug, kind, owner_id, phone, row.active)

    async def owners_of_phone(self, park: str, phone: str) -> list[PhoneOwner]:
        rows = await self.q.all("phone_owners", {"park": park, "phone": phone})
        return [PhoneOwner(OwnerKind(kind), id_, park_, code) for kind, id_, park_, code in rows]

    async def reserve(self, code: str, park: str, kind: OwnerKind) -> bool:
        await self.tx.write()
        params = {
            "code": code,
            "park_slug": park,
            "kind": kind.value,
            "active": True,
            "created_at": _now(),
        }
        return await self.q.first("code_reserve", params) is not None

    async def release(self, code: str) -> None:
        await self.tx.write()
        await self.conn.execute(t.codes.delete().where(t.codes.c.code == code))

    async def set_active(self, code: str, active: bool) -> bool:
        await self.tx.write()
        stmt = update(t.codes).where(t.codes.c.code == code).values(active=active)
        return (await self.conn.execute(stmt)).rowcount == 1


class SqlPartners(_Repo):
    async def add(self, partner: Partner) -> Partner | None:
        await self.tx.write()
        now = partner.created_at or _now()
        stmt = (
            upsert(self.conn, t.partners)
            .values(
                park_slug=partner.park,
                phone=partner.phone,
                name=partner.name,
                code=partner.code,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["park_slug", "phone"])
            .returning(t.partners)
        )
        row = (await self.conn.execute(stmt)).first()
        return partner_from_row(row) if row else None

    async def by_phone(self, phone: str) -> list[Partner]:
        rows = await self.conn.execute(select(t.partners).where(t.partners.c.phone == phone))
        return [partner_from_row(row) for row in rows]

    async def get(self, partner_id: int) -> Partner | None:
        row = await self.q.first("partner_get", {"id": partner_id})
        return partner_from_row(row) if row else None

    async def list(self, park: str | None = None) -> list[Partner]:
        stmt = select(t.partners).order_by(t.partners.c.park_slug, t.partners.c.id)
        if park is not None:
            stmt = stmt.where(t.partners.c.park_slug == park)
        return [partner_from_row(row) for row in await self.conn.execute(stmt)]

    async def link_telegram(self, partner_id: int, chat_id: int) -> None:
        await self.tx.write()
        stmt = (
            update(t.partners)
            .where(t.partners.c.id == partner_id)
            .values(telegram_chat_id=chat_id, unreachable=False, updated_at=_now())
        )
        await self.conn.execute(stmt)

    async def update_settings(
        self, partner_id: int, *, alerts: str, quiet_from: str | None, quiet_to: str | None
    ) -> None:
        await self.tx.write()
        stmt = (
            update(t.partners)
            .where(t.partners.c.id == partner_id)
            .values(alerts=alerts, quiet_from=quiet_from, quiet_to=quiet_to, updated_at=_now())
        )
        await self.conn.execute(stmt)


class SqlDrivers(_Repo):
    async def add(self, driver: Driver) -> Driver | None:
        await self.tx.write()
        row = await self.q.first("driver_insert", driver_values(driver))
        if row is None:
            return None
        driver.id = row.id
        return driver

    async def by_phone(self, park: str, phone: str) -> Driver | None:
        stmt = select(t.drivers).where(
            and_(t.drivers.c.park_slug == park, t.drivers.c.phone == phone)
        )
        row = (await self.conn.execute(stmt)).first()
        return driver_from_row(row) if row else None

    async def get(self, driver_id: int) -> Driver | None:
        row = await self.q.first("driver_get", {"id": driver_id})
        return driver_from_row(row) if row else None

    async def set_referral(
        self, driver_id: int, code: str | None, kind: OwnerKind | None, owner_id: int | None
    ) -> None:
        await self.tx.write()
        stmt = (
            update(t.drivers)
            .where(t.drivers.c.id == driver_id)
            .values(
                entered_code=code,
                referrer_kind=kind.value if kind else None,
                referrer_id=owner_id,
                updated_at=_now(),
            )
        )
        await self.conn.execute(stmt)

    async def identities(self, driver_id: int) -> list[Identity]:
        c = t.conversations
        stmt = select(c.c.channel, c.c.user_id).where(c.c.driver_id == driver_id).order_by(c.c.id)
        return [
            Identity(Channel(row.channel), row.user_id) for row in await self.conn.execute(stmt)
        ]


class SqlConversations(_Repo):
    async def get(self, park: str, channel: Channel, user_id: str) -> Conversation | None:
        params = {"park": park, "channel": channel.value, "user_id": user_id}
        row = await self.q.first("conversation_get", params)
        return conversation_from_row(row) if row else None

    async def save(self, conversation: Conversation) -> None:
        # No tx.write(): a save that is the unit of work's only write runs on its own.
        now = _now()
        conversation.updated_at = now
        if conversation.version == 0:
            conversation.created_at = conversation.created_at or now
        values = conversation_values(conversation)
        values["version"] = conversation.version + 1
        if conversation.version == 0:
            params = {
                "park_slug": conversation.park,
                "channel": conversation.channel.value,
                "user_id": conversation.user_id,
                **values,
            }
            row = await self.q.first("conversation_insert", params)
            if row is None:
                raise StaleState("conversation created concurrently")
            conversation.id = row.id
        else:
            params = {f"new_{name}": value for name, value in values.items()}
            params.update(b_id=conversation.id, b_version=conversation.version)
            if await self.q.rowcount("conversation_update", params) != 1:
                raise StaleState("conversation changed concurrently")
        conversation.version += 1


class SqlOutbox(_Repo):
    async def add(self, notification: Notification) -> None:
        await self.tx.write()
        now = _now()
        params = {
            "park_slug": notification.park,
            "recipient_kind": notification.recipient_kind.value,
            "recipient_id": notification.recipient_id,
            "kind": notification.kind,
            "payload": notification.payload,
            "idempotency_key": notification.key,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": notification.not_before or now,
            "created_at": now,
        }
        await self.q.rowcount("outbox_insert", params)


class SqlAudit(_Repo):
    async def add(self, entry: AuditEntry) -> None:
        await self.tx.write()
        await self.conn.execute(
            t.audit_log.insert().values(
                driver_id=entry.driver_id,
                field=entry.field,
                old=entry.old,
                new=entry.new,
                actor=entry.actor,
                at=entry.at,
            )
        )

    async def for_driver(self, driver_id: int) -> list[AuditEntry]:
        a = t.audit_log
        rows = await self.conn.execute(
            select(a).where(a.c.driver_id == driver_id).order_by(a.c.at, a.c.id)
        )
        return [
            AuditEntry(row.driver_id, row.field, row.old, row.new, row.actor, row.at)
            for row in rows
        ]
