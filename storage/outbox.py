"""``core.ports.OutboxRepository`` on a synchronous connection: the alert queue.

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
from sqlalchemy.engine import Connection

from core.domain.broadcast import BroadcastState
from core.domain.delivery import (
    BroadcastTarget,
    ConversationTarget,
    Defer,
    DriverTarget,
    Final,
    FlagUnreachable,
    Hold,
    OutboxRow,
    Outcome,
    PartnerTarget,
    Release,
    Retry,
    Sent,
    SentAs,
    Status,
    Targets,
)
from core.domain.model import Alerts, Channel, Notification, OwnerKind
from core.domain.registration import UNFINISHED
from core.ports import Clock
from storage import tables as t
from storage.rows import outbox_values
from storage.statements import Executor

o = t.outbox

# Columns whose name in core differs from the table's, and columns core sees as enums.
_RENAMED = {"park_slug": "park", "idempotency_key": "key"}
_ENUMS: dict[str, type[StrEnum]] = {
    "recipient_kind": OwnerKind,
    "status": Status,
    "hold": Hold,
    "sent_as": SentAs,
}
_UNFINISHED = frozenset(step.value for step in UNFINISHED)
_ERROR_CHARS = 1000  # last_error is Text; a page of Telegram's description is enough

# Literals, not bound parameters: SQLite (and PostgreSQL's generic plans) use a partial
# index only when the query's WHERE visibly implies the index's WHERE.
_PENDING = literal_column(f"'{Status.PENDING.value}'")
_IS_PENDING = o.c.status == _PENDING

# Not conditioned on the claim: the message did go out, and recording it stops anyone from
# sending it again, even a worker that took the row over after our lease ran out.
_MARK_SENT = (
    update(o)
    .where(o.c.id == bindparam("b_id"), _IS_PENDING)
    .values(
        status=Status.SENT.value,
        sent_at=bindparam("b_at", type_=t.UTCDateTime),
        sent_as=bindparam("b_as"),
        attempts=o.c.attempts + bindparam("b_try"),
        hold=None,
        claimed_until=None,
        claimed_by=None,
    )
)
_UNCLAIM = {"claimed_until": None, "claimed_by": None}


def outbox_row(row: Any) -> OutboxRow:
    """A result row of the outbox table (every column) as core's view of it."""
    values = {}
    for column in o.c:
        value = getattr(row, column.name)
        enum = _ENUMS.get(column.name)
        if enum is not None and value is not None:
            value = enum(value)
        values[_RENAMED.get(column.name, column.name)] = value
    values["payload"] = dict(values["payload"] or {})
    return OutboxRow(**values)


def _chat_id(user_id: str) -> int | None:
    """A Telegram conversation's user id as the chat to write to; None if it is no number."""
    return int(user_id) if user_id.lstrip("-").isdigit() else None


class SqlOutbox:
    def __init__(self, conn: Connection, clock: Clock) -> None:
        self.conn = conn
        self.clock = clock

    @property
    def _postgres(self) -> bool:
        return self.conn.dialect.name == "postgresql"

    def add(self, notification: Notification) -> None:
        self.add_many([notification])

    def add_many(self, notifications: Sequence[Notification]) -> None:
        if not notifications:
            return
        now = self.clock.now()
        # The prepared one-row INSERT, once per row: a multi-row VALUES list was compiled
        # anew on every call (a third of the registration's database time).
        run = Executor(self.conn)
        run.write_many(run.q.outbox_insert, [outbox_values(n, now) for n in notifications])

    # -- claiming --------------------------------------------------------------------------

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
        if not self._postgres:
            return _sqlite_claim(now=now, limit=limit, parks=parks, **values)
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
            conditions.append(o.c.park_slug.in_(sorted(parks)))
        pick = (
            select(o.c.id)
            .where(*conditions)
            .order_by(o.c.next_attempt_at, o.c.id)
            .limit(limit)
            # Locked rows are being claimed by another worker right now: skip, don't wait.
            .with_for_update(skip_locked=True)
            # A CTE with FOR UPDATE is evaluated exactly once, unlike an IN (subquery).
            .cte("picked")
        )
        return update(o).where(o.c.id == pick.c.id).values(**values).returning(*o.c)

    def claim(
        self,
        *,
        now: datetime,
        worker: str,
        lease: timedelta,
        limit: int,
        parks: Collection[str] | None = None,
    ) -> list[OutboxRow]:
        if limit <= 0 or (parks is not None and not parks):
            return []
        stmt = self.claim_statement(now=now, worker=worker, lease=lease, limit=limit, parks=parks)
        rows = [outbox_row(r) for r in self.conn.execute(stmt)]
        # RETURNING has no defined order.
        return sorted(rows, key=lambda r: (r.next_attempt_at, r.id))

    def release(self, worker: str) -> int:
        stmt = update(o).where(_IS_PENDING, o.c.claimed_by == worker).values(**_UNCLAIM)
        return self.conn.execute(stmt).rowcount

    # -- recipients ------------------------------------------------------------------------

    def targets(self, rows: Sequence[OutboxRow]) -> Targets:
        partner_ids = {r.recipient_id for r in rows if r.recipient_kind is OwnerKind.PARTNER}
        driver_ids = {r.recipient_id for r in rows if r.recipient_kind is OwnerKind.DRIVER}
        conversation_ids = {
            r.recipient_id for r in rows if r.recipient_kind is OwnerKind.CONVERSATION
        }
        broadcast_ids = {r.broadcast_id for r in rows if r.broadcast_id is not None}
        return Targets(
            self._partners(partner_ids),
            self._drivers(driver_ids),
            self._conversations(conversation_ids),
            self._broadcasts(broadcast_ids),
        )

    def _partners(self, ids: Collection[int]) -> dict[int, PartnerTarget]:
        if not ids:
            return {}
        p = t.partners
        stmt = select(
            p.c.id, p.c.telegram_chat_id, p.c.unreachable, p.c.alerts, p.c.quiet_from, p.c.quiet_to
        ).where(p.c.id.in_(sorted(ids)))
        return {
            r.id: PartnerTarget(
                r.id,
                r.telegram_chat_id,
                bool(r.unreachable),
                Alerts(r.alerts),
                r.quiet_from,
                r.quiet_to,
            )
            for r in self.conn.execute(stmt)
        }

    def _drivers(self, ids: Collection[int]) -> dict[int, DriverTarget]:
        """A driver's chat is the user id of their Telegram conversation with the park."""
        if not ids:
            return {}
        c, d = t.conversations, t.drivers
        stmt = (
            select(c.c.driver_id, c.c.user_id, c.c.lang, d.c.mailing_at)
            .join(d, d.c.id == c.c.driver_id)
            .where(c.c.driver_id.in_(sorted(ids)), c.c.channel == Channel.TELEGRAM.value)
            .order_by(c.c.id)
        )
        found: dict[int, DriverTarget] = {}
        for r in self.conn.execute(stmt):
            if (chat := _chat_id(r.user_id)) is not None:
                found[r.driver_id] = DriverTarget(
                    r.driver_id, chat, r.lang, mailing=r.mailing_at is not None
                )
        return found

    def _conversations(self, ids: Collection[int]) -> dict[int, ConversationTarget]:
        """An unfinished registration's Telegram chat, and whether it still wants reminding."""
        if not ids:
            return {}
        c = t.conversations
        stmt = select(c.c.id, c.c.channel, c.c.user_id, c.c.lang, c.c.step, c.c.stopped_at).where(
            c.c.id.in_(sorted(ids))
        )
        found: dict[int, ConversationTarget] = {}
        for r in self.conn.execute(stmt):
            open_ = r.step in _UNFINISHED and r.stopped_at is None
            chat = _chat_id(r.user_id) if r.channel == Channel.TELEGRAM.value else None
            found[r.id] = ConversationTarget(r.id, chat, r.lang, open_)
        return found

    def _broadcasts(self, ids: Collection[int]) -> dict[int, BroadcastTarget]:
        if not ids:
            return {}
        b = t.broadcasts
        stmt = select(b.c.id, b.c.text, b.c.state).where(b.c.id.in_(sorted(ids)))
        return {
            r.id: BroadcastTarget(r.id, r.text, r.state == BroadcastState.CANCELLED.value)
            for r in self.conn.execute(stmt)
        }

    # -- recording outcomes ----------------------------------------------------------------

    def record(self, outcomes: Sequence[Outcome], worker: str) -> None:
        sent = [x for x in outcomes if isinstance(x, Sent)]
        if sent:
            # Many per batch when alerts are folded into digests: one executemany.
            self.conn.execute(
                _MARK_SENT,
                [
                    {
                        "b_id": x.id,
                        "b_at": x.at,
                        "b_as": x.sent_as.value,
                        "b_try": 1 if x.sent_as is SentAs.TELEGRAM else 0,
                    }
                    for x in sent
                ],
            )
        for outcome in outcomes:
            if not isinstance(outcome, Sent):
                self._apply(outcome, worker)

    def _apply(self, outcome: Outcome, worker: str) -> None:
        conn = self.conn
        match outcome:
            case Retry(row_id, at, error, count_attempt):
                done = conn.execute(
                    update(o)
                    .where(_mine(row_id, worker))
                    .values(
                        next_attempt_at=at,
                        last_error=error[:_ERROR_CHARS],
                        attempts=o.c.attempts + (1 if count_attempt else 0),
                        hold=None,
                        **_UNCLAIM,
                    )
                    .returning(o.c.recipient_kind, o.c.recipient_id)
                )
                self._hold_back_later(done.first(), row_id, at)
            case Defer(row_id, at, hold, note):
                done = conn.execute(
                    update(o)
                    .where(_mine(row_id, worker))
                    .values(next_attempt_at=at, hold=hold.value, last_error=note, **_UNCLAIM)
                    .returning(o.c.recipient_kind, o.c.recipient_id)
                )
                self._hold_back_later(done.first(), row_id, at)
            case Final(row_id, status, error, attempted, hold):
                conn.execute(
                    update(o)
                    .where(_mine(row_id, worker))
                    .values(
                        status=status.value,
                        last_error=error[:_ERROR_CHARS],
                        attempts=o.c.attempts + (1 if attempted else 0),
                        hold=hold.value if hold else None,
                        **_UNCLAIM,
                    )
                )
            case Release(row_id):
                conn.execute(update(o).where(_mine(row_id, worker)).values(**_UNCLAIM))
            case FlagUnreachable(partner_id, chat_id):
                p = t.partners
                # Only the chat that refused: if they re-linked another chat meanwhile,
                # that one is fine.
                conn.execute(
                    update(p)
                    .where(p.c.id == partner_id, p.c.telegram_chat_id == chat_id)
                    .values(unreachable=True, updated_at=self.clock.now())
                )

    def _hold_back_later(self, recipient: Any, row_id: int, at: datetime) -> None:
        # The recipient's later rows could not be claimed anyway (head of line), but left
        # due they would be re-examined by every claim; moving them to the same time keeps
        # the claim's index range free of blocked rows.
        if recipient is None:
            return
        self.conn.execute(
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

    def reactivate(self, now: datetime, stale_after: timedelta) -> list[tuple[OwnerKind, int]]:
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
            c.c.channel == Channel.TELEGRAM.value,
        )
        reachable = or_(
            and_(o.c.recipient_kind == OwnerKind.PARTNER.value, partner_ok),
            and_(
                o.c.recipient_kind == OwnerKind.DRIVER.value,
                o.c.hold == Hold.UNLINKED.value,
                driver_ok,
            ),
        )
        held = o.c.hold.in_([Hold.UNLINKED.value, Hold.BLOCKED.value])
        find = (
            select(o.c.recipient_kind, o.c.recipient_id)
            .where(held, o.c.status.in_([Status.PENDING.value, Status.UNDELIVERABLE.value]))
            .where(reachable)
            .distinct()
        )
        blocked = and_(o.c.status == Status.UNDELIVERABLE.value, o.c.hold == Hold.BLOCKED.value)
        recipients = [
            (OwnerKind(r.recipient_kind), r.recipient_id) for r in self.conn.execute(find)
        ]
        for kind, rid in recipients:
            of_recipient = and_(o.c.recipient_kind == kind.value, o.c.recipient_id == rid)
            self.conn.execute(
                update(o)
                .where(of_recipient, blocked, o.c.created_at < now - stale_after)
                .values(
                    status=Status.EXPIRED.value,
                    hold=None,
                    last_error="stale: the recipient was unreachable for too long",
                )
            )
            self.conn.execute(
                update(o)
                .where(
                    of_recipient,
                    or_(_IS_PENDING, blocked),
                    # Rows in flight stay with their worker.
                    or_(o.c.claimed_until.is_(None), o.c.claimed_until <= now),
                )
                .values(status=Status.PENDING.value, hold=None, next_attempt_at=now)
            )
        return recipients

    # -- operators -------------------------------------------------------------------------

    def get(self, row_id: int) -> OutboxRow | None:
        row = self.conn.execute(select(o).where(o.c.id == row_id)).first()
        return outbox_row(row) if row else None

    def list(
        self,
        *,
        status: Status | None = None,
        park: str | None = None,
        partner_ids: Collection[int] | None = None,
        limit: int = 100,
    ) -> list[OutboxRow]:
        conditions: list[ColumnElement[bool]] = []
        if status is not None:
            conditions.append(o.c.status == status.value)
        if park is not None:
            conditions.append(o.c.park_slug == park)
        if partner_ids is not None:
            conditions.append(o.c.recipient_kind == OwnerKind.PARTNER.value)
            conditions.append(o.c.recipient_id.in_(sorted(partner_ids)))
        stmt = select(o).where(*conditions).order_by(o.c.id.desc()).limit(limit)
        return [outbox_row(r) for r in self.conn.execute(stmt)]

    def counts(self) -> dict[Status, int]:
        stmt = select(o.c.status, func.count()).group_by(o.c.status).order_by(o.c.status)
        return {Status(status): count for status, count in self.conn.execute(stmt)}

    def requeue(self, row_id: int, now: datetime) -> OutboxRow | None:
        # The attempts counter is reset because the operator decided the cause is fixed; the
        # last error is kept so the history of why it had stopped stays visible.
        stmt = (
            update(o)
            .where(o.c.id == row_id, o.c.status != Status.SENT.value)
            .values(
                status=Status.PENDING.value,
                attempts=0,
                hold=None,
                next_attempt_at=now,
                **_UNCLAIM,
            )
            .returning(*o.c)
        )
        row = self.conn.execute(stmt).first()
        return outbox_row(row) if row else None


def _mine(row_id: int, worker: str) -> ColumnElement[bool]:
    return and_(o.c.id == row_id, _IS_PENDING, o.c.claimed_by == worker)


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
