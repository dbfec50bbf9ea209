"""``core.ports.CabinetRepository`` on SQLAlchemy Core: partner sessions, a partner's
referrals, and unfinished registrations that arrived with a code (the funnel)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.engine import Connection

from core.domain.cabinet import PartnerSession, ReferralRow, Started
from core.domain.model import Channel, OwnerKind, Source
from core.domain.registration import Step
from storage import tables as t


class SqlCabinet:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add_session(
        self, token_hash: str, partner_id: int, created: datetime, expires: datetime
    ) -> None:
        self._conn.execute(
            t.partner_sessions.insert().values(
                token_hash=token_hash,
                partner_id=partner_id,
                created_at=created,
                expires_at=expires,
            )
        )

    def session(self, token_hash: str) -> PartnerSession | None:
        s = t.partner_sessions.c
        row = self._conn.execute(
            select(s.partner_id, s.expires_at, s.revoked_at).where(s.token_hash == token_hash)
        ).first()
        if row is None:
            return None
        return PartnerSession(row.partner_id, row.expires_at, row.revoked_at is not None)

    def revoke(self, token_hash: str, at: datetime) -> bool:
        s = t.partner_sessions.c
        done = self._conn.execute(
            update(t.partner_sessions)
            .where(s.token_hash == token_hash, s.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return bool(done.rowcount)

    def referrals(
        self,
        partner_ids: Collection[int],
        *,
        limit: int | None = None,
        before_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[ReferralRow]:
        d = t.drivers.c
        query = (
            select(
                d.id,
                d.name,
                d.phone,
                d.channel,
                d.source,
                d.source_tag,
                d.created_at,
                d.forgotten_at,
                _reminded(d.id).label("reminded"),
            )
            .where(
                d.referrer_kind == OwnerKind.PARTNER.value,
                d.referrer_id.in_(list(partner_ids)),
            )
            .order_by(d.id.desc())
        )
        if before_id is not None:
            query = query.where(d.id < before_id)
        if since is not None:
            query = query.where(d.created_at >= since)
        if until is not None:
            query = query.where(d.created_at < until)
        if limit is not None:
            query = query.limit(limit)
        return [
            ReferralRow(
                r.id,
                r.name,
                r.phone,
                Channel(r.channel),
                Source(r.source),
                r.source_tag,
                r.created_at,
                r.forgotten_at is not None,
                bool(r.reminded),
            )
            for r in self._conn.execute(query)
        ]

    def started(self, codes: Collection[str], since: datetime, until: datetime) -> list[Started]:
        c = t.conversations.c
        query = select(c.channel, c.link_tag, c.step, c.created_at, c.reminded_at).where(
            c.link_code.in_(list(codes)),
            c.step.not_in([Step.DONE.value, Step.PARTNER.value]),
            c.created_at >= since,
            c.created_at < until,
        )
        return [
            Started(
                Channel(r.channel),
                r.link_tag,
                r.step == Step.REFERRAL.value,
                r.created_at,
                r.reminded_at is not None,
            )
            for r in self._conn.execute(query)
        ]


def _reminded(driver_id: Any) -> Any:
    """Whether the driver's registration got the one reminder before it was finished."""
    c = t.conversations.c
    return exists().where(c.driver_id == driver_id, c.reminded_at.is_not(None))
