"""Outbox queries for the notification relay: claim, record outcomes, release, re-activate.

A claim is a lease: the row stays ``pending`` with ``claimed_until``/``claimed_by`` set, so a
worker that dies simply lets the lease run out and the row is claimed again. Only the oldest
pending row of each recipient can be claimed (head of line), which keeps messages to one chat
in order even across several worker processes.

PostgreSQL claims with ``FOR UPDATE SKIP LOCKED`` inside one UPDATE, so concurrent workers
never take the same row and never wait for each other. SQLite has a single writer, so one
``UPDATE ... WHERE id IN (SELECT ...) RETURNING`` is atomic on its own.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Executable,
    and_,
    bindparam,
    exists,
    false,
    func,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage import tables as t

o = t.outbox


class Status(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # refused for good by Telegram for reasons of the message itself
    DEAD = "dead"  # max_attempts transient failures
    UNDELIVERABLE = "undeliverable"  # the recipient blocked the bot / the chat is gone
    EXPIRED = "expired"  # waited too long for the recipient to link a chat


class Hold(StrEnum):
    """Why a row is parked rather than sent (column ``hold``)."""

    UNLINKED = "unlinked"
    BLOCKED = "blocked"
    QUIET = "quiet"


# Literals, not bound parameters: SQLite (and PostgreSQL's generic plans) use a partial
# index only when the query's WHERE visibly implies the index's WHERE.
_PENDING = literal_column("'pending'")
_IS_PENDING = o.c.status == _PENDING

# Not conditioned on the claim: the message did go out, and recording it stops anyone from
# sending it again, even a worker that took the row over after our lease ran out.
_MARK_SENT = (
    update(o)
    .where(o.c.id == bindparam("b_id"), _IS_PENDING)
    .values(
        status="sent",
        sent_at=bindparam("b_at", type_=t.UTCDateTime),
        sent_as=bindparam("b_as"),
        attempts=o.c.attempts + bindparam("b_try"),
        hold=None,
        claimed_until=None,
        claimed_by=None,
    )
)


@dataclass(frozen=True)
class OutboxRow:
    id: int
    park: str
    recipient_kind: str
    recipient_id: int
    kind: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    hold: str | None = None
    last_error: str | None = None
    claimed_until: datetime | None = None
    claimed_by: str | None = None
    sent_at: datetime | None = None
    sent_as: str | None = None
    idempotency_key: str = ""


def _row(row: Any) -> OutboxRow:
    return OutboxRow(
        id=row.id,
        park=row.park_slug,
        recipient_kind=row.recipient_kind,
        recipient_id=row.recipient_id,
        kind=row.kind,
        payload=dict(row.payload or {}),
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        hold=row.hold,
        last_error=row.last_error,
        claimed_until=row.claimed_until,
        claimed_by=row.claimed_by,
        sent_at=row.sent_at,
        sent_as=row.sent_as,
        idempotency_key=row.idempotency_key,
    )


# -- outcomes of one delivery attempt, recorded in batches ---------------------------------


@dataclass(frozen=True)
class Sent:
    id: int
    at: datetime
    sent_as: str = "telegram"


@dataclass(frozen=True)
class Retry:
    """A transient failure: try again at ``at``; the recipient's later rows wait too."""

    id: int
    at: datetime
    error: str
    count_attempt: bool = True  # a 429 is throttling, not a failure of this message


@dataclass(frozen=True)
class Defer:
    """Not tried: wait until ``at`` (quiet hours, recipient not linked yet)."""

    id: int
    at: datetime
    hold: Hold
    note: str


@dataclass(frozen=True)
class Final:
    """The row leaves the queue: dead, failed, undeliverable or expired."""

    id: int
    status: Status
    error: str
    attempted: bool = False
    hold: Hold | None = None


@dataclass(frozen=True)
class Release:
    """Hand the row back untouched (shutting down, or the lease is about to run out)."""

    id: int


@dataclass(frozen=True)
class FlagUnreachable:
    """The partner's chat refused us: stop trying until they come back to the bot."""

    partner_id: int
    chat_id: int


Outcome = Sent | Retry | Defer | Final | Release | FlagUnreachable


@dataclass(frozen=True)
class PartnerTarget:
    id: int
    chat_id: int | None
    unreachable: bool
    alerts: str
    quiet_from: str | None
    quiet_to: str | None


@dataclass(frozen=True)
class DriverTarget:
    id: int
    chat_id: int | None
    lang: str


class OutboxStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # -- claiming --------------------------------------------------------------------------

    def _claimable(self, now: datetime, parks: Collection[str] | None) -> list[Any]:
        earlier = o.alias("earlier")
        blocked_by_earlier = exists().where(
            earlier.c.recipient_kind == o.c.recipient_kind,
            earlier.c.recipient_id == o.c.recipient_id,
            earlier.c.status == _PENDING,
            earlier.c.id < o.c.id,
        )
        conditions: list[Any] = [
            _IS_PENDING,
            o.c.next_attempt_at <= now,
            or_(o.c.claimed_until.is_(None), o.c.claimed_until <= now),
            ~blocked_by_earlier,
        ]
        if parks is not None:
            conditions.append(o.c.park_slug.in_(list(parks)))
        return conditions

    def claim_statement(
        self,
        *,
        now: datetime,
        worker: str,
        lease: timedelta,
        limit: int,
        parks: Collection[str] | None = None,
    ) -> Executable:
        """The claim as one UPDATE ... RETURNING (public so tests can EXPLAIN it)."""
        values = {"claimed_until": now + lease, "claimed_by": worker}
        if self.dialect == "sqlite":
            return _sqlite_claim(now=now, limit=limit, parks=parks, **values)
        pick = (
            select(o.c.id)
            .where(*self._claimable(now, parks))
            .order_by(o.c.next_attempt_at, o.c.id)
            .limit(limit)
            # Locked rows are being claimed by another worker right now: skip, don't wait.
            .with_for_update(skip_locked=True)
            # A CTE with FOR UPDATE is evaluated exactly once, unlike an IN (subquery).
            .cte("picked")
        )
        return update(o).where(o.c.id == pick.c.id).values(**values).returning(o)

    async def claim(
        self,
        *,
        now: datetime,
        worker: str,
        lease: timedelta,
        limit: int,
        parks: Collection[str] | None = None,
    ) -> list[OutboxRow]:
        """Lease up to ``limit`` due rows, each the oldest pending row of its recipient."""
        if limit <= 0 or (parks is not None and not parks):
            return []
        stmt = self.claim_statement(now=now, worker=worker, lease=lease, limit=limit, parks=parks)
        async with self.engine.begin() as conn:
            rows = [_row(r) for r in await conn.execute(stmt)]
        # RETURNING has no defined order.
        return sorted(rows, key=lambda r: (r.next_attempt_at, r.id))

    async def release(self, worker: str) -> int:
        """Hand back every row this worker still holds (graceful shutdown)."""
        stmt = (
            update(o)
            .where(_IS_PENDING, o.c.claimed_by == worker)
            .values(claimed_until=None, claimed_by=None)
        )
        async with self.engine.begin() as conn:
            return (await conn.execute(stmt)).rowcount

    # -- recording outcomes ----------------------------------------------------------------

    async def record(self, outcomes: Sequence[Outcome], worker: str) -> None:
        """Apply outcomes in one transaction (one commit per batch, not per message)."""
        if not outcomes:
            return
        sent = [x for x in outcomes if isinstance(x, Sent)]
        async with self.engine.begin() as conn:
            if sent:
                # The common case, many per batch under load: one executemany.
                await conn.execute(
                    _MARK_SENT,
                    [
                        {
                            "b_id": x.id,
                            "b_at": x.at,
                            "b_as": x.sent_as,
                            "b_try": 1 if x.sent_as == "telegram" else 0,
                        }
                        for x in sent
                    ],
                )
            for outcome in outcomes:
                if not isinstance(outcome, Sent):
                    await self._apply(conn, outcome, worker)

    async def _apply(self, conn: AsyncConnection, outcome: Outcome, worker: str) -> None:
        unclaim = {"claimed_until": None, "claimed_by": None}
        mine = and_(o.c.id == _id(outcome), _IS_PENDING, o.c.claimed_by == worker)
        match outcome:
            case Retry(row_id, at, error, count_attempt):
                done = await conn.execute(
                    update(o)
                    .where(mine)
                    .values(
                        next_attempt_at=at,
                        last_error=error[:1000],
                        attempts=o.c.attempts + (1 if count_attempt else 0),
                        hold=None,
                        **unclaim,
                    )
                    .returning(o.c.recipient_kind, o.c.recipient_id)
                )
                await self._hold_back_later(conn, done.first(), row_id, at)
            case Defer(row_id, at, hold, note):
                done = await conn.execute(
                    update(o)
                    .where(mine)
                    .values(next_attempt_at=at, hold=hold.value, last_error=note, **unclaim)
                    .returning(o.c.recipient_kind, o.c.recipient_id)
                )
                await self._hold_back_later(conn, done.first(), row_id, at)
            case Final(row_id, status, error, attempted, hold):
                await conn.execute(
                    update(o)
                    .where(mine)
                    .values(
                        status=status.value,
                        last_error=error[:1000],
                        attempts=o.c.attempts + (1 if attempted else 0),
                        hold=hold.value if hold else None,
                        **unclaim,
                    )
                )
            case Release(row_id):
                await conn.execute(update(o).where(mine).values(**unclaim))
            case FlagUnreachable(partner_id, chat_id):
                p = t.partners
                # Only the chat that refused: if they re-linked another chat meanwhile,
                # that one is fine.
                await conn.execute(
                    update(p)
                    .where(p.c.id == partner_id, p.c.telegram_chat_id == chat_id)
                    .values(unreachable=True)
                )

    async def _hold_back_later(
        self, conn: AsyncConnection, recipient: Any, row_id: int, at: datetime
    ) -> None:
        # The recipient's later rows could not be claimed anyway (head of line), but left
        # due they would be re-examined by every claim; moving them to the same time keeps
        # the claim's index range free of blocked rows.
        if recipient is None:
            return
        await conn.execute(
            update(o)
            .where(
                o.c.recipient_kind == recipient.recipient_kind,
                o.c.recipient_id == recipient.recipient_id,
                _IS_PENDING,
                o.c.id > row_id,
                o.c.next_attempt_at < at,
            )
            .values(next_attempt_at=at)
        )

    # -- re-activation ---------------------------------------------------------------------

    async def reactivate(self, now: datetime, stale_after: timedelta) -> list[tuple[str, int]]:
        """Wake the rows of recipients who can be reached again; return those recipients.

        A partner who blocked the bot (rows ``undeliverable``/``blocked``) or had not linked
        Telegram yet (rows ``pending``/``unlinked``) becomes reachable when core links their
        chat again (``link_telegram`` sets the chat and clears ``unreachable``). A driver is
        reachable once they have a Telegram conversation. Their held rows go back to
        ``pending`` due now, except blocked rows older than ``stale_after``: an alert
        about a registration weeks ago is noise, so those expire instead.
        """
        p, c = t.partners, t.conversations
        partner_ok = exists().where(
            p.c.id == o.c.recipient_id,
            p.c.telegram_chat_id.is_not(None),
            p.c.unreachable == false(),
        )
        driver_ok = exists().where(
            c.c.driver_id == o.c.recipient_id,
            c.c.park_slug == o.c.park_slug,
            c.c.channel == "telegram",
        )
        reachable = or_(
            and_(o.c.recipient_kind == "partner", partner_ok),
            and_(o.c.recipient_kind == "driver", o.c.hold == Hold.UNLINKED.value, driver_ok),
        )
        held = o.c.hold.in_([Hold.UNLINKED.value, Hold.BLOCKED.value])
        find = (
            select(o.c.recipient_kind, o.c.recipient_id)
            .where(held, o.c.status.in_([Status.PENDING.value, Status.UNDELIVERABLE.value]))
            .where(reachable)
            .distinct()
        )
        async with self.engine.begin() as conn:
            recipients = [(r.recipient_kind, r.recipient_id) for r in await conn.execute(find)]
            for kind, rid in recipients:
                of_recipient = and_(o.c.recipient_kind == kind, o.c.recipient_id == rid)
                await conn.execute(
                    update(o)
                    .where(
                        of_recipient,
                        o.c.status == Status.UNDELIVERABLE.value,
                        o.c.hold == Hold.BLOCKED.value,
                        o.c.created_at < now - stale_after,
                    )
                    .values(
                        status=Status.EXPIRED.value,
                        hold=None,
                        last_error="stale: the recipient was unreachable for too long",
                    )
                )
                await conn.execute(
                    update(o)
                    .where(
                        of_recipient,
                        or_(
                            _IS_PENDING,
                            and_(
                                o.c.status == Status.UNDELIVERABLE.value,
                                o.c.hold == Hold.BLOCKED.value,
                            ),
                        ),
                        # Rows in flight stay with their worker.
                        or_(o.c.claimed_until.is_(None), o.c.claimed_until <= now),
                    )
                    .values(status=Status.PENDING.value, hold=None, next_attempt_at=now)
                )
        return recipients

    # -- recipients ------------------------------------------------------------------------

    async def partner_targets(self, ids: Collection[int]) -> dict[int, PartnerTarget]:
        if not ids:
            return {}
        p = t.partners
        stmt = select(
            p.c.id, p.c.telegram_chat_id, p.c.unreachable, p.c.alerts, p.c.quiet_from, p.c.quiet_to
        ).where(p.c.id.in_(list(ids)))
        async with self.engine.connect() as conn:
            return {
                r.id: PartnerTarget(
                    r.id, r.telegram_chat_id, r.unreachable, r.alerts, r.quiet_from, r.quiet_to
                )
                for r in await conn.execute(stmt)
            }

    async def driver_targets(self, ids: Collection[int]) -> dict[int, DriverTarget]:
        """A driver's chat is the user id of their Telegram conversation with the park."""
        if not ids:
            return {}
        c = t.conversations
        stmt = (
            select(c.c.driver_id, c.c.user_id, c.c.lang)
            .where(c.c.driver_id.in_(list(ids)), c.c.channel == "telegram")
            .order_by(c.c.id)
        )
        found: dict[int, DriverTarget] = {}
        async with self.engine.connect() as conn:
            for r in await conn.execute(stmt):
                if r.user_id.lstrip("-").isdigit():
                    found[r.driver_id] = DriverTarget(r.driver_id, int(r.user_id), r.lang)
        return found

    # -- operators -------------------------------------------------------------------------

    async def get(self, row_id: int) -> OutboxRow | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(o).where(o.c.id == row_id))).first()
        return _row(row) if row else None

    async def list(
        self,
        *,
        status: str | None = None,
        park: str | None = None,
        partner_ids: Collection[int] | None = None,
        limit: int = 100,
    ) -> list[OutboxRow]:
        """Newest first."""
        conditions: list[ColumnElement[bool]] = []
        if status is not None:
            conditions.append(o.c.status == status)
        if park is not None:
            conditions.append(o.c.park_slug == park)
        if partner_ids is not None:
            conditions.append(o.c.recipient_kind == "partner")
            conditions.append(o.c.recipient_id.in_(list(partner_ids)))
        stmt = select(o).where(*conditions).order_by(o.c.id.desc()).limit(limit)
        async with self.engine.connect() as conn:
            return [_row(r) for r in await conn.execute(stmt)]

    async def counts(self) -> dict[str, int]:
        stmt = select(o.c.status, func.count()).group_by(o.c.status).order_by(o.c.status)
        async with self.engine.connect() as conn:
            return {status: count for status, count in await conn.execute(stmt)}

    async def requeue(self, row_id: int, now: datetime) -> OutboxRow | None:
        """Operator retry: back to pending, due now, with a fresh attempt budget.

        The attempts counter is reset because the operator decided the cause is fixed; the
        last error is kept so the history of why it had stopped stays visible.
        """
        stmt = (
            update(o)
            .where(o.c.id == row_id, o.c.status != Status.SENT.value)
            .values(
                status=Status.PENDING.value,
                attempts=0,
                hold=None,
                next_attempt_at=now,
                claimed_until=None,
                claimed_by=None,
            )
            .returning(o)
        )
        async with self.engine.begin() as conn:
            row = (await conn.execute(stmt)).first()
        return _row(row) if row else None


def _id(outcome: Outcome) -> int:
    return outcome.partner_id if isinstance(outcome, FlagUnreachable) else outcome.id


# SQLite has no table hints in SQLAlchemy, hence text. Without statistics its planner would
# pick ix_outbox_status and sort every pending row; the due index is already in claim order,
# so LIMIT stops after a few index entries whatever the table holds. Single writer: the
# subquery and the UPDATE are one atomic statement.
_SQLITE_CLAIM = """
UPDATE outbox SET claimed_until = :claimed_until, claimed_by = :claimed_by
WHERE id IN (
    SELECT o.id FROM outbox AS o INDEXED BY ix_outbox_due
    WHERE o.status = 'pending'
      AND o.next_attempt_at <= :now
      AND (o.claimed_until IS NULL OR o.claimed_until <= :now)
      {parks}
      AND NOT EXISTS (
          SELECT 1 FROM outbox AS earlier INDEXED BY ix_outbox_pending_recipient
          WHERE earlier.recipient_kind = o.recipient_kind
            AND earlier.recipient_id = o.recipient_id
            AND earlier.status = 'pending'
            AND earlier.id < o.id)
    ORDER BY o.next_attempt_at, o.id
    LIMIT :limit)
RETURNING {columns}
"""


def _sqlite_claim(
    *,
    now: datetime,
    limit: int,
    parks: Collection[str] | None,
    claimed_until: datetime,
    claimed_by: str,
) -> Executable:
    sql = _SQLITE_CLAIM.format(
        parks="AND o.park_slug IN :parks" if parks is not None else "",
        columns=", ".join(c.name for c in o.c),
    )
    params = [
        bindparam("now", now, type_=t.UTCDateTime),
        bindparam("claimed_until", claimed_until, type_=t.UTCDateTime),
        bindparam("claimed_by", claimed_by),
        bindparam("limit", limit),
    ]
    if parks is not None:
        params.append(bindparam("parks", sorted(parks), expanding=True))
    return text(sql).bindparams(*params).columns(*o.c)
