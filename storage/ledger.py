"""``core.ports.LedgerRepository`` on SQLAlchemy Core, for one synchronous connection.

Writes that may race are decided by the database, never by a read before them: orders are
unique per (park, external id), a ledger row can be reversed once (unique ``reversal_of``),
a payout reserves money with one conditional UPDATE of the balance row and moves status with
``UPDATE ... WHERE status = <the status it was read in>``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Integer,
    Row,
    String,
    Table,
    and_,
    any_,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from core.domain.bonus import Accrual, Beneficiary, Order, OrderStatus, PostedAccrual
from core.domain.bonus_alerts import DueAlert
from core.domain.bonus_payouts import Balance, Payout, PayoutStatus
from core.domain.bonus_records import DriverChain, ReferralFacts, StoredOrder
from core.domain.model import OwnerKind
from core.ports import StaleState
from storage import tables as t

T = TypeVar("T")
# Bound parameters per IN list: well under SQLite's limit, and a plan PostgreSQL caches.
_CHUNK = 500
_SQLITE_CACHE_KIB = 65_536  # the import connection's page cache (64 MiB)
_SQLITE_CHECKPOINT_PAGES = 4_096  # WAL pages before SQLite checkpoints (default 1,000)


class SqlLedger:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _tune_sqlite(self) -> None:
        if self._conn.info.get("ledger_cache"):  # once per connection
            return
        # An import touches index pages all over the ledger: with SQLite's default
        # 2 MB page cache a batch re-reads them from the OS on every statement.
        self._conn.exec_driver_sql(f"PRAGMA cache_size = -{_SQLITE_CACHE_KIB}")
        # A batch of 1,000 orders at 90,000 dirties ~1,600 pages (the beneficiaries'
        # index and summaries, all over), so with the default of 1,000 pages every commit
        # also checkpointed, copying them to the database file again: 4,341-4,734 orders
        # per CPU second then, 6,163 with 4,096 pages (a WAL of up to 16 MiB).
        self._conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint = {_SQLITE_CHECKPOINT_PAGES}")
        self._conn.info["ledger_cache"] = True

    def _in(self, column: ColumnElement[Any], values: Collection[Any]) -> ColumnElement[bool]:
        """``column IN values``. On PostgreSQL as ``= ANY(<one array parameter>)``: an IN list
        of N parameters is a statement per N, and after five runs PostgreSQL's generic plan
        for it scanned the table (200 ms for 1,000 orders, against 0.1 ms by the index)."""
        if self._conn.dialect.name != "postgresql":
            self._tune_sqlite()
            return column.in_(values)
        array = postgresql.ARRAY(column.type)
        return column == any_(bindparam(None, list(values), type_=array))

    # -- reads for the import ----------------------------------------------------------------

    def referral_facts(self, park: str, driver_ids: Collection[int]) -> dict[int, ReferralFacts]:
        d = t.drivers.c
        found: dict[int, ReferralFacts] = {}
        for chunk in _chunks(driver_ids):
            # The park is checked here, not in WHERE: with it there SQLite's planner picks
            # the (park, phone) index and reads the whole park instead of primary keys.
            query = select(d.id, d.park_slug, d.created_at, d.referrer_kind, d.referrer_id).where(
                self._in(d.id, chunk)
            )
            for row in self._conn.execute(query):
                if row.park_slug != park:
                    continue
                referrer = (
                    Beneficiary(OwnerKind(row.referrer_kind), row.referrer_id)
                    if row.referrer_kind is not None and row.referrer_id is not None
                    else None
                )
                found[row.id] = ReferralFacts(row.id, row.created_at, referrer)
        return found

    def chains(self, park: str, driver_ids: Collection[int], depth: int) -> dict[int, DriverChain]:
        """One row per driver with the referrers of ``depth - 1`` drivers above joined in:
        a batch reads as many rows as it has drivers, whatever the depth."""
        found: dict[int, DriverChain] = {}
        pools: dict[str, dict[int, Beneficiary]] = {kind.value: {} for kind in OwnerKind}
        sqlite = self._conn.dialect.name == "sqlite"
        levels = max(depth, 1)
        for chunk in _chunks(driver_ids):
            if sqlite:
                # Bound by hand: SQLAlchemy's row processing cost more than the query.
                sql, params = _sqlite_chains(levels, len(chunk))
                rows: Any = self._conn.exec_driver_sql(sql, (*params, *chunk)).all()
            else:
                rows = self._conn.execute(_chains_query(levels, self._in, chunk)).all()
            for driver_id, slug, created, *above in rows:
                if slug != park:
                    continue
                chain: list[Beneficiary] = []
                seen = {driver_id}
                for level in range(depth):
                    kind, referrer_id = above[2 * level], above[2 * level + 1]
                    if kind is None or referrer_id is None:
                        break
                    if kind == _DRIVER and referrer_id in seen:
                        break  # a loop in stored data: nobody is paid twice for one order
                    pool = pools[kind]
                    who = pool.get(referrer_id)
                    if who is None:
                        who = pool[referrer_id] = Beneficiary(_KINDS[kind], referrer_id)
                    chain.append(who)
                    if kind != _DRIVER:
                        break  # a partner has nobody above
                    seen.add(referrer_id)
                if sqlite:
                    created = datetime.fromisoformat(created + "+00:00")
                found[driver_id] = DriverChain(driver_id, created, tuple(chain))
        return found

    def drivers_by_phone(self, park: str, phones: Collection[str]) -> dict[str, int]:
        d = t.drivers.c
        found: dict[str, int] = {}
        for chunk in _chunks(phones):
            query = select(d.phone, d.id).where(d.park_slug == park, self._in(d.phone, chunk))
            found.update({row.phone: row.id for row in self._conn.execute(query)})
        return found

    def orders(self, park: str, external_ids: Collection[str]) -> dict[str, StoredOrder]:
        o = t.orders.c
        found: dict[str, StoredOrder] = {}
        for chunk in _chunks(external_ids):
            if self._conn.dialect.name == "sqlite":
                # Bound by hand: a re-delivered batch is this read and nothing else.
                marks = ", ".join("?" * len(chunk))
                result = self._conn.exec_driver_sql(
                    _SQLITE_ORDERS.format(marks=marks), (park, *chunk)
                )
                for order_id, external_id, driver_id, status, completed in result:
                    found[external_id] = StoredOrder(
                        order_id,
                        external_id,
                        driver_id,
                        _STATUSES[status],
                        datetime.fromisoformat(completed).replace(tzinfo=UTC),
                    )
                continue
            query = select(o.id, o.external_id, o.driver_id, o.status, o.completed_at).where(
                o.park_slug == park, self._in(o.external_id, chunk)
            )
            for row in self._conn.execute(query):
                found[row.external_id] = StoredOrder(
                    row.id,
                    row.external_id,
                    row.driver_id,
                    OrderStatus(row.status),
                    row.completed_at,
                )
        return found

    def completed_counts(self, driver_ids: Collection[int]) -> dict[int, int]:
        c = t.driver_order_counts.c
        counts: dict[int, int] = {}
        for chunk in _chunks(driver_ids):
            query = select(c.driver_id, c.completed).where(self._in(c.driver_id, chunk))
            counts.update({row[0]: int(row[1]) for row in self._conn.execute(query)})
        return counts

    def lock_drivers(self, driver_ids: Collection[int]) -> None:
        # Sorted, so two imports lock in the same order and queue rather than deadlock.
        # SQLite needs nothing: a write transaction there already excludes every other.
        if self._conn.dialect.name != "postgresql":
            self._tune_sqlite()
            return
        # This opens an import: its reads below run with plans made for their actual arrays.
        # A prepared statement's generic plan cannot know an array holds 1,000 ids, and once
        # PostgreSQL switched to it, it scanned the orders table (0.2 s a batch, growing).
        self._conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        d = t.drivers.c
        for chunk in _chunks(sorted(driver_ids)):
            self._conn.execute(
                select(d.id).where(self._in(d.id, chunk)).order_by(d.id).with_for_update()
            ).all()

    def month_sums(
        self, keys: Collection[tuple[int, str]]
    ) -> dict[tuple[Beneficiary, int, str], int]:
        wanted = set(keys)
        months = sorted({month for _, month in wanted})
        ms = t.ledger_month_sums.c
        sums: dict[tuple[Beneficiary, int, str], int] = {}
        pools: dict[tuple[str, int], Beneficiary] = {}
        sqlite = self._conn.dialect.name == "sqlite"
        for chunk in _chunks({driver for driver, _ in wanted}):
            rows: Any
            if sqlite:
                # Bound by hand: SQLAlchemy's row processing cost more than the lookups.
                sql = _SQLITE_MONTH_SUMS.format(
                    drivers=", ".join("?" * len(chunk)), months=", ".join("?" * len(months))
                )
                rows = self._conn.exec_driver_sql(sql, (*chunk, *months))
            else:
                rows = self._conn.execute(
                    select(
                        ms.beneficiary_kind,
                        ms.beneficiary_id,
                        ms.referred_driver_id,
                        ms.month,
                        ms.amount_kopecks,
                    ).where(self._in(ms.referred_driver_id, chunk), self._in(ms.month, months))
                )
            for kind, owner, driver, month, total in rows:
                if (driver, month) in wanted:
                    who = pools.get((kind, owner))
                    if who is None:
                        who = pools[(kind, owner)] = Beneficiary(_KINDS[kind], owner)
                    sums[(who, driver, month)] = int(total)
        return sums

    # -- writes for the import -----------------------------------------------------------------

    def add_orders(self, orders: Sequence[Order], now: datetime) -> dict[str, int]:
        if not orders:
            return {}
        if self._conn.dialect.name == "sqlite":
            return self._add_orders_sqlite(orders, now)
        params = {
            "park": orders[0].park,
            "now": now,
            "e": [order.external_id for order in orders],
            "d": [order.driver_id for order in orders],
            "c": [order.completed_at for order in orders],
            "p": [_kopecks(order.price_kopecks) for order in orders],
            "s": [order.status.value for order in orders],
        }
        if any(order.park != params["park"] for order in orders):
            raise ValueError("one park per batch of orders")
        try:
            inserted = self._conn.execute(_PG_ADD_ORDERS, params).all()
        except IntegrityError as exc:
            # Another import stored one of these orders after we looked: its transaction is
            # gone for us; the caller runs the batch again and finds them stored.
            raise StaleState("an order of this batch was stored by another import") from exc
        counted = _completed_per_driver(orders)
        if counted:
            self._conn.execute(_PG_COUNT_ADD, {"d": list(counted), "n": list(counted.values())})
        return {row.external_id: row.id for row in inserted}

    def _add_orders_sqlite(self, orders: Sequence[Order], now: datetime) -> dict[str, int]:
        """One ``executemany`` with the ids given: a SQLite transaction here is a write
        transaction from its BEGIN IMMEDIATE, so nobody else can take ``max(id) + 1``, and
        RETURNING would cost one statement per row."""
        first = self._conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM orders").scalar_one()
        stamp = _sqlite_time(now)
        ids: dict[str, int] = {}
        rows = []
        for offset, order in enumerate(orders, start=int(first) + 1):
            ids[order.external_id] = offset
            rows.append(
                (
                    offset,
                    order.park,
                    order.external_id,
                    order.driver_id,
                    _sqlite_time(order.completed_at),
                    _kopecks(order.price_kopecks),
                    order.status.value,
                    stamp,
                    stamp,
                )
            )
        try:
            self._conn.exec_driver_sql(_SQLITE_ADD_ORDERS, rows)
        except IntegrityError as exc:
            raise StaleState("an order of this batch was stored by another import") from exc
        counted = _completed_per_driver(orders)
        if counted:
            self._conn.exec_driver_sql(_SQLITE_COUNT_ADD, list(counted.items()))
        return ids

    def post(self, park: str, rows: Sequence[tuple[int, Accrual]], now: datetime) -> None:
        if not rows:
            return
        sqlite = self._conn.dialect.name == "sqlite"
        stamp = _sqlite_time(now) if sqlite else ""
        totals: dict[Beneficiary, int] = defaultdict(int)
        months: dict[tuple[int, str, str, int], int] = defaultdict(int)
        # One pass: the sums, and on SQLite the rows' parameters (a second walk over the
        # rows cost as much as building them).
        params: list[tuple[object, ...]] = []
        add = params.append
        for order_id, row in rows:
            amount = _kopecks(row.amount_kopecks)
            who = row.beneficiary
            kind = who.kind.value
            totals[who] += amount
            months[(row.referred_driver_id, row.month, kind, who.id)] += amount
            if sqlite:
                add(
                    (
                        order_id,
                        park,
                        kind,
                        who.id,
                        row.referred_driver_id,
                        row.level,
                        row.rule_version,
                        amount,
                        row.month,
                        row.reversal_of,
                        stamp,
                    )
                )
        if sqlite:  # one writer at a time: no lock order to keep
            self._conn.exec_driver_sql(_SQLITE_POST, params)
            self._conn.exec_driver_sql(
                _SQLITE_BALANCES,
                [(who.kind.value, who.id, park, n, stamp, n) for who, n in totals.items()],
            )
            self._conn.exec_driver_sql(
                _SQLITE_MONTH_ADD, [(*key, total) for key, total in months.items()]
            )
            return
        # Sorted: concurrent imports lock balance rows in one order, so they queue instead
        # of deadlocking on PostgreSQL.
        owners = sorted(totals.items(), key=lambda item: (item[0].kind.value, item[0].id))
        month_rows = sorted(months.items())
        # PostgreSQL: each statement takes its rows as arrays, one round trip and one plan
        # whatever the batch size (asyncpg's executemany sent a statement per row).
        self._conn.execute(
            _PG_POST,
            {
                "park": park,
                "now": now,
                "o": [order_id for order_id, _ in rows],
                "k": [row.beneficiary.kind.value for _, row in rows],
                "b": [row.beneficiary.id for _, row in rows],
                "r": [row.referred_driver_id for _, row in rows],
                "l": [row.level for _, row in rows],
                "v": [row.rule_version for _, row in rows],
                "a": [row.amount_kopecks for _, row in rows],
                "m": [row.month for _, row in rows],
                "x": [row.reversal_of for _, row in rows],
            },
        )
        self._conn.execute(
            _PG_BALANCES,
            {
                "park": park,
                "now": now,
                "k": [who.kind.value for who, _ in owners],
                "i": [who.id for who, _ in owners],
                "a": [total for _, total in owners],
            },
        )
        self._conn.execute(
            _PG_MONTH_ADD,
            {
                "r": [key[0] for key, _ in month_rows],
                "m": [key[1] for key, _ in month_rows],
                "k": [key[2] for key, _ in month_rows],
                "i": [key[3] for key, _ in month_rows],
                "a": [total for _, total in month_rows],
            },
        )

    def posted(self, order_ids: Collection[int]) -> tuple[list[PostedAccrual], frozenset[int]]:
        lg = t.ledger.c
        posted: list[PostedAccrual] = []
        for chunk in _chunks(order_ids):
            query = (
                select(t.ledger, t.orders.c.external_id)
                .join(t.orders, t.orders.c.id == lg.order_id)
                .where(self._in(lg.order_id, chunk))
                .order_by(lg.id)
            )
            posted.extend(_posted(row) for row in self._conn.execute(query))
        done = frozenset(p.accrual.reversal_of for p in posted if p.accrual.reversal_of)
        return posted, done

    def cancel_orders(self, order_ids: Collection[int], now: datetime) -> None:
        o, c = t.orders.c, t.driver_order_counts.c
        completed = OrderStatus.COMPLETED.value
        for chunk in _chunks(order_ids):
            # Only completed orders leave the counts: a second cancel takes nothing away.
            leaving = self._conn.execute(
                select(o.driver_id, func.count())
                .where(self._in(o.id, chunk), o.status == completed)
                .group_by(o.driver_id)
                .order_by(o.driver_id)
            ).all()
            self._conn.execute(
                update(t.orders)
                .where(self._in(o.id, chunk), o.status == completed)
                .values(status=OrderStatus.CANCELLED.value, updated_at=now)
            )
            if leaving:
                self._conn.execute(
                    update(t.driver_order_counts)
                    .where(c.driver_id == bindparam("d"))
                    .values(completed=c.completed - bindparam("n")),
                    [{"d": driver, "n": int(n)} for driver, n in leaving],
                )

    # -- balances and entries ----------------------------------------------------------------

    def balance(self, owner: Beneficiary) -> Balance:
        b = t.balances.c
        row = self._conn.execute(
            select(b.accrued_kopecks, b.reserved_kopecks, b.paid_kopecks).where(
                b.owner_kind == owner.kind.value, b.owner_id == owner.id
            )
        ).one_or_none()
        if row is None:
            return Balance()
        return Balance(int(row[0]), int(row[1]), int(row[2]))

    def entries(
        self, owner: Beneficiary, *, limit: int, before_id: int | None = None
    ) -> list[PostedAccrual]:
        lg = t.ledger.c
        query = (
            select(t.ledger, t.orders.c.external_id)
            .join(t.orders, t.orders.c.id == lg.order_id)
            .where(lg.beneficiary_kind == owner.kind.value, lg.beneficiary_id == owner.id)
            .order_by(lg.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            query = query.where(lg.id < before_id)
        return [_posted(row) for row in self._conn.execute(query)]

    def month_total(self, owner: Beneficiary, month: str) -> int:
        lg = t.ledger.c
        total = self._conn.execute(
            select(func.coalesce(func.sum(lg.amount_kopecks), 0)).where(
                lg.beneficiary_kind == owner.kind.value,
                lg.beneficiary_id == owner.id,
                lg.month == month,
            )
        ).scalar_one()
        return int(total)

    def referral_count(self, owner: Beneficiary) -> int:
        d = t.drivers.c
        return int(
            self._conn.execute(
                select(func.count()).where(
                    d.referrer_kind == owner.kind.value, d.referrer_id == owner.id
                )
            ).scalar_one()
        )

    def month_entries(self, park: str, month: str) -> list[tuple[PostedAccrual, datetime]]:
        lg = t.ledger.c
        query = (
            select(t.ledger, t.orders.c.external_id, t.orders.c.completed_at)
            .join(t.orders, t.orders.c.id == lg.order_id)
            .where(lg.park_slug == park, lg.month == month)
            .order_by(lg.id)
        )
        return [(_posted(row), row.completed_at) for row in self._conn.execute(query)]

    # -- batched accrual alerts ----------------------------------------------------------------

    def take_alerts(
        self, park: str, due_before: datetime, now: datetime, limit: int
    ) -> list[DueAlert]:
        b = t.balances.c
        query = (
            select(
                b.owner_kind,
                b.owner_id,
                b.alert_kopecks,
                b.accrued_kopecks,
                b.reserved_kopecks,
                b.paid_kopecks,
            )
            .where(
                b.park_slug == park,
                b.alert_kopecks > 0,
                or_(b.alerted_at.is_(None), b.alerted_at <= due_before),
            )
            .order_by(b.owner_kind, b.owner_id)
            .limit(limit)
        )
        if self._conn.dialect.name == "postgresql":
            # Two alert jobs at once: the second skips what the first took.
            query = query.with_for_update(skip_locked=True)
        due: list[DueAlert] = []
        for kind, owner_id, pending, accrued, reserved, paid in self._conn.execute(query):
            owner = Beneficiary(OwnerKind(kind), owner_id)
            balance = Balance(int(accrued), int(reserved), int(paid))
            due.append(
                DueAlert(owner, int(pending), balance.accrued - balance.paid, balance.available)
            )
            # Minus what was read, not zero: exact even if an import added meanwhile.
            self._conn.execute(
                update(t.balances)
                .where(b.owner_kind == kind, b.owner_id == owner_id)
                .values(alert_kopecks=b.alert_kopecks - int(pending), alerted_at=now)
            )
        return due

    # -- payouts -----------------------------------------------------------------------------

    def reserve(self, park: str, owner: Beneficiary, amount: int, now: datetime) -> Payout | None:
        b = t.balances.c
        held = self._conn.execute(
            update(t.balances)
            .where(
                b.owner_kind == owner.kind.value,
                b.owner_id == owner.id,
                b.park_slug == park,
                # The check and the hold are one statement: a concurrent request waits on
                # the row lock and then re-checks against the new reserved sum.
                b.accrued_kopecks - b.reserved_kopecks - b.paid_kopecks >= _kopecks(amount),
            )
            .values(reserved_kopecks=b.reserved_kopecks + amount, updated_at=now)
        )
        if held.rowcount != 1:
            return None
        payout_id = self._conn.execute(
            insert(t.payouts)
            .values(
                park_slug=park,
                owner_kind=owner.kind.value,
                owner_id=owner.id,
                amount_kopecks=amount,
                status=PayoutStatus.PENDING.value,
                requested_at=now,
                updated_at=now,
            )
            .returning(t.payouts.c.id)
        ).scalar_one()
        return Payout(payout_id, park, owner, amount, PayoutStatus.PENDING, now, now)

    def payout(self, payout_id: int) -> Payout | None:
        row = self._conn.execute(
            select(t.payouts).where(t.payouts.c.id == payout_id)
        ).one_or_none()
        return _payout(row) if row is not None else None

    def move_payout(
        self,
        payout_id: int,
        current: PayoutStatus,
        target: PayoutStatus,
        now: datetime,
        note: str | None = None,
    ) -> bool:
        p = t.payouts.c
        moved = self._conn.execute(
            update(t.payouts)
            .where(p.id == payout_id, p.status == current.value)
            .values(status=target.value, updated_at=now, note=note)
            .returning(p.owner_kind, p.owner_id, p.amount_kopecks)
        ).one_or_none()
        if moved is None:
            return False
        released = moved.amount_kopecks if current.reserves and not target.reserves else 0
        paid = moved.amount_kopecks if target is PayoutStatus.CONFIRMED else 0
        if released or paid:
            b = t.balances.c
            self._conn.execute(
                update(t.balances)
                .where(b.owner_kind == moved.owner_kind, b.owner_id == moved.owner_id)
                .values(
                    reserved_kopecks=b.reserved_kopecks - released,
                    paid_kopecks=b.paid_kopecks + paid,
                    updated_at=now,
                )
            )
        return True

    def payouts(
        self,
        *,
        park: str | None = None,
        owner: Beneficiary | None = None,
        status: PayoutStatus | None = None,
    ) -> list[Payout]:
        p = t.payouts.c
        conditions = []
        if park is not None:
            conditions.append(p.park_slug == park)
        if owner is not None:
            conditions += [p.owner_kind == owner.kind.value, p.owner_id == owner.id]
        if status is not None:
            conditions.append(p.status == status.value)
        query = select(t.payouts).where(*conditions).order_by(p.id)
        return [_payout(row) for row in self._conn.execute(query)]


def _posted(row: Row[Any]) -> PostedAccrual:
    return PostedAccrual(
        row.id,
        Accrual(
            order_external_id=row.external_id,
            beneficiary=Beneficiary(OwnerKind(row.beneficiary_kind), row.beneficiary_id),
            referred_driver_id=row.referred_driver_id,
            level=row.level,
            rule_version=row.rule_version,
            amount_kopecks=int(row.amount_kopecks),
            month=row.month,
            reversal_of=row.reversal_of,
        ),
    )


def _payout(row: Row[Any]) -> Payout:
    return Payout(
        id=row.id,
        park=row.park_slug,
        owner=Beneficiary(OwnerKind(row.owner_kind), row.owner_id),
        amount_kopecks=int(row.amount_kopecks),
        status=PayoutStatus(row.status),
        requested_at=row.requested_at,
        updated_at=row.updated_at,
        note=row.note,
    )


def _insert(conn: Connection, table: Table) -> Any:
    """An INSERT with ON CONFLICT for the connection's dialect."""
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table)


def _kopecks(value: int) -> int:
    # The last gate before money is stored: a float here is a bug upstream, not a rounding.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"money must be integer kopecks, not {value!r}")
    return value


# The SQLite fast path's statements, in the shape SQLAlchemy would write them; times are
# bound as SQLAlchemy's SQLite DATETIME stores them (``_sqlite_time``), so rows read back
# through the tables are the same as rows written through them.
_SQLITE_ADD_ORDERS = (
    "INSERT INTO orders (id, park_slug, external_id, driver_id, completed_at, price_kopecks,"
    " status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQLITE_POST = (
    "INSERT INTO ledger (order_id, park_slug, beneficiary_kind, beneficiary_id,"
    " referred_driver_id, level, rule_version, amount_kopecks, month, reversal_of, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQLITE_BALANCES = (
    "INSERT INTO balances (owner_kind, owner_id, park_slug, accrued_kopecks, reserved_kopecks,"
    " paid_kopecks, updated_at, alert_kopecks) VALUES (?, ?, ?, ?, 0, 0, ?, ?)"
    " ON CONFLICT (owner_kind, owner_id) DO UPDATE SET"
    " accrued_kopecks = balances.accrued_kopecks + excluded.accrued_kopecks,"
    " alert_kopecks = balances.alert_kopecks + excluded.alert_kopecks,"
    " updated_at = excluded.updated_at"
)

_MONTH_ADD = (
    "INSERT INTO ledger_month_sums (referred_driver_id, month, beneficiary_kind,"
    " beneficiary_id, amount_kopecks) {rows}"
    " ON CONFLICT (referred_driver_id, month, beneficiary_kind, beneficiary_id) DO UPDATE"
    " SET amount_kopecks = ledger_month_sums.amount_kopecks + excluded.amount_kopecks"
)
_SQLITE_MONTH_ADD = _MONTH_ADD.format(rows="VALUES (?, ?, ?, ?, ?)")
_COUNT_ADD = (
    "INSERT INTO driver_order_counts (driver_id, completed) {rows}"
    " ON CONFLICT (driver_id) DO UPDATE"
    " SET completed = driver_order_counts.completed + excluded.completed"
)
_SQLITE_COUNT_ADD = _COUNT_ADD.format(rows="VALUES (?, ?)")
_SQLITE_MONTH_SUMS = (
    "SELECT beneficiary_kind, beneficiary_id, referred_driver_id, month, amount_kopecks"
    " FROM ledger_month_sums WHERE referred_driver_id IN ({drivers}) AND month IN ({months})"
)
_SQLITE_ORDERS = (
    "SELECT id, external_id, driver_id, status, completed_at FROM orders"
    " WHERE park_slug = ? AND external_id IN ({marks})"
)
_STATUSES = {status.value: status for status in OrderStatus}
_KINDS = {kind.value: kind for kind in OwnerKind}
_DRIVER = OwnerKind.DRIVER.value

# PostgreSQL's bulk statements: rows as arrays, unnested in order.
_PG_ADD_ORDERS = text(
    "INSERT INTO orders (park_slug, external_id, driver_id, completed_at, price_kopecks,"
    " status, created_at, updated_at)"
    " SELECT :park, e, d, c, p, s, :now, :now"
    " FROM unnest(:e, :d, :c, :p, :s) WITH ORDINALITY AS u(e, d, c, p, s, n) ORDER BY n"
    " RETURNING id, external_id"
).bindparams(
    bindparam("park", type_=String()),
    bindparam("now", type_=DateTime(timezone=True)),
    bindparam("e", type_=postgresql.ARRAY(String())),
    bindparam("d", type_=postgresql.ARRAY(Integer())),
    bindparam("c", type_=postgresql.ARRAY(DateTime(timezone=True))),
    bindparam("p", type_=postgresql.ARRAY(BigInteger())),
    bindparam("s", type_=postgresql.ARRAY(String())),
)
_PG_POST = text(
    "INSERT INTO ledger (order_id, park_slug, beneficiary_kind, beneficiary_id,"
    " referred_driver_id, level, rule_version, amount_kopecks, month, reversal_of, created_at)"
    " SELECT o, :park, k, b, r, l, v, a, m, x, :now"
    " FROM unnest(:o, :k, :b, :r, :l, :v, :a, :m, :x) WITH ORDINALITY"
    " AS u(o, k, b, r, l, v, a, m, x, n) ORDER BY n"
).bindparams(
    bindparam("park", type_=String()),
    bindparam("now", type_=DateTime(timezone=True)),
    bindparam("o", type_=postgresql.ARRAY(BigInteger())),
    bindparam("k", type_=postgresql.ARRAY(String())),
    bindparam("b", type_=postgresql.ARRAY(Integer())),
    bindparam("r", type_=postgresql.ARRAY(Integer())),
    bindparam("l", type_=postgresql.ARRAY(Integer())),
    bindparam("v", type_=postgresql.ARRAY(Integer())),
    bindparam("a", type_=postgresql.ARRAY(BigInteger())),
    bindparam("m", type_=postgresql.ARRAY(String())),
    bindparam("x", type_=postgresql.ARRAY(BigInteger())),
)
_PG_BALANCES = text(
    "INSERT INTO balances (owner_kind, owner_id, park_slug, accrued_kopecks, reserved_kopecks,"
    " paid_kopecks, updated_at, alert_kopecks)"
    " SELECT k, i, :park, a, 0, 0, :now, a"
    " FROM unnest(:k, :i, :a) WITH ORDINALITY AS u(k, i, a, n) ORDER BY n"
    " ON CONFLICT (owner_kind, owner_id) DO UPDATE SET"
    " accrued_kopecks = balances.accrued_kopecks + excluded.accrued_kopecks,"
    " alert_kopecks = balances.alert_kopecks + excluded.alert_kopecks,"
    " updated_at = excluded.updated_at"
).bindparams(
    bindparam("park", type_=String()),
    bindparam("now", type_=DateTime(timezone=True)),
    bindparam("k", type_=postgresql.ARRAY(String())),
    bindparam("i", type_=postgresql.ARRAY(Integer())),
    bindparam("a", type_=postgresql.ARRAY(BigInteger())),
)

_PG_MONTH_ADD = text(
    _MONTH_ADD.format(
        rows="SELECT r, m, k, i, a FROM unnest(:r, :m, :k, :i, :a) WITH ORDINALITY"
        " AS u(r, m, k, i, a, n) ORDER BY n"
    )
).bindparams(
    bindparam("r", type_=postgresql.ARRAY(Integer())),
    bindparam("m", type_=postgresql.ARRAY(String())),
    bindparam("k", type_=postgresql.ARRAY(String())),
    bindparam("i", type_=postgresql.ARRAY(Integer())),
    bindparam("a", type_=postgresql.ARRAY(BigInteger())),
)

_PG_COUNT_ADD = text(
    _COUNT_ADD.format(rows="SELECT d, n FROM unnest(:d, :n) AS u(d, n)")
).bindparams(
    bindparam("d", type_=postgresql.ARRAY(Integer())),
    bindparam("n", type_=postgresql.ARRAY(Integer())),
)


def _completed_per_driver(orders: Sequence[Order]) -> dict[int, int]:
    """New completed orders per driver, drivers in ascending order (the lock order)."""
    counted: dict[int, int] = defaultdict(int)
    for order in orders:
        if order.status is OrderStatus.COMPLETED:
            counted[order.driver_id] += 1
    return dict(sorted(counted.items()))


def _sqlite_chains(levels: int, count: int) -> tuple[str, tuple[object, ...]]:
    """The chains query for SQLite with ``count`` driver ids bound after its parameters."""
    columns = ["d0.id", "d0.park_slug", "d0.created_at"]
    joins = []
    for level in range(levels):
        columns += [f"d{level}.referrer_kind", f"d{level}.referrer_id"]
        if level:
            above, here = level - 1, level
            joins.append(
                f" LEFT JOIN drivers d{here} ON d{above}.referrer_kind = ?"
                f" AND d{here}.id = d{above}.referrer_id AND d{here}.park_slug = d0.park_slug"
            )
    marks = ", ".join("?" * count)
    sql = f"SELECT {', '.join(columns)} FROM drivers d0{''.join(joins)} WHERE d0.id IN ({marks})"
    return sql, (_DRIVER,) * (levels - 1)


def _chains_query(levels: int, in_: Any, chunk: list[int]) -> Any:
    """The same query in SQLAlchemy Core, for PostgreSQL."""
    aliases = [t.drivers.alias(f"d{level}") for level in range(levels)]
    first = aliases[0]
    columns: list[Any] = [first.c.id, first.c.park_slug, first.c.created_at]
    source: Any = first
    for level, here in enumerate(aliases):
        columns += [here.c.referrer_kind, here.c.referrer_id]
        if level:
            above = aliases[level - 1]
            source = source.outerjoin(
                here,
                and_(
                    above.c.referrer_kind == _DRIVER,
                    here.c.id == above.c.referrer_id,
                    here.c.park_slug == first.c.park_slug,
                ),
            )
    return select(*columns).select_from(source).where(in_(first.c.id, chunk))


def _sqlite_time(moment: datetime) -> str:
    """``UTCDateTime`` on SQLite: naive UTC in SQLAlchemy's DATETIME text format."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the database")
    u = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    # "YYYY-MM-DD HH:MM:SS.ffffff" and the offset cut off (C formatting, twice as fast as
    # the same string built field by field; an import formats every order's time).
    return u.isoformat(" ", "microseconds")[:26]


def _chunks(values: Collection[T]) -> Iterator[list[T]]:
    items = list(values)
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
