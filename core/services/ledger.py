"""The bonus ledger's use cases: import orders, read balances, request and settle payouts.

``import_batch`` is the whole import as one synchronous function of a ``LedgerRepository``,
run inside ``Database.run``: one batch is one transaction, so a batch is either in the
ledger completely or not at all. It is idempotent by (park, external order id):

- a new completed order adds its accruals;
- a new order that arrives cancelled is stored (so a later "completed" copy cannot pay) and
  accrues nothing;
- a known completed order that now arrives cancelled gets every accrual reversed;
- anything else about a known order (the same order again, a changed price, "completed"
  after "cancelled") changes nothing: the first report of an order is the one that pays.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from core.domain.bonus import (
    MAX_PRICE_KOPECKS,
    Accrual,
    Beneficiary,
    BonusProgram,
    Order,
    OrderStatus,
    PostedAccrual,
    accruals,
    reversals,
)
from core.domain.bonus_alerts import accrual_alert, accrued_event, payout_notice
from core.domain.bonus_chain import would_cycle
from core.domain.bonus_payouts import (
    Actor,
    Balance,
    Payout,
    PayoutRefusal,
    PayoutStatus,
    move_refusal,
    request_refusal,
)
from core.domain.bonus_records import (
    ORDER_ID_MAX,
    DriverChain,
    ImportReport,
    OrderInput,
    Problem,
    StoredOrder,
)
from core.domain.errors import DomainError, UnknownPark
from core.domain.money import format_roubles
from core.domain.phones import InvalidPhone, normalize_phone
from core.ports import Clock, Database, LedgerRepository, StaleState, UnitOfWork

MAX_BATCH = 1_000  # orders per API call
# Orders per transaction of a file import (the CLI). A batch's fixed costs grow with the
# ledger, not with the batch: its commit writes every index page it touched, and the
# beneficiaries' index and summaries are touched all over (about 2,100 pages for 1,000
# orders at 90,000 orders, hardly more for 5,000), so larger batches import faster.
FILE_BATCH = 5_000
_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")
_IMPORT_ATTEMPTS = 3
_NOTHING: Mapping[Beneficiary, int] = {}  # nothing earned yet this month (never written to)
# Orders outside these are typos; far-off dates also overflow time-zone arithmetic.
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Statement:
    owner: Beneficiary
    balance: Balance
    month: str
    month_kopecks: int
    referrals: int
    recent: list[PostedAccrual]


class PayoutRefused(DomainError):
    def __init__(self, reason: PayoutRefusal | str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class ReferralCycle(DomainError):
    def __init__(self, driver_id: int, referrer: Beneficiary) -> None:
        super().__init__(
            f"driver {driver_id} cannot be referred by {referrer}: "
            "that driver is already below them in the referral chain"
        )


def check_order(raw: OrderInput) -> str | None:
    """Why this order cannot be taken, or None; the same reasons for every source."""
    external = raw.external_id
    if not isinstance(external, str) or not external.strip():
        return "order id is empty"
    if len(external) > ORDER_ID_MAX or not external.isprintable():
        return f"order id must be at most {ORDER_ID_MAX} printable characters"
    price = raw.price_kopecks
    if isinstance(price, bool) or not isinstance(price, int):
        return "price must be a whole number of kopecks"
    if not 0 <= price <= MAX_PRICE_KOPECKS:
        return f"price must be between 0 and {MAX_PRICE_KOPECKS} kopecks"
    moment = raw.completed_at
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        return "completion time needs a date, a time and a time zone"
    if not _EARLIEST <= moment <= _LATEST:
        return "completion time must be between 2000 and 2100"
    if not isinstance(raw.status, str) or raw.status not in tuple(OrderStatus):
        return "status must be completed or cancelled"
    driver_id, phone = raw.driver_id, raw.driver_phone
    if driver_id is None and not phone:
        return "driver id or driver phone is required"
    if driver_id is not None and (
        isinstance(driver_id, bool) or not isinstance(driver_id, int) or not 0 < driver_id < 2**31
    ):
        return "driver id must be a positive whole number"
    if phone is not None and not isinstance(phone, str):
        return "driver phone must be text"
    return None


def import_batch(
    ledger: LedgerRepository,
    program: BonusProgram,
    batch: Sequence[OrderInput],
    now: datetime,
    *,
    phone_region: str = "RU",
) -> ImportReport:
    """Import one batch of a park's orders inside the caller's transaction."""
    report = ImportReport()
    park = program.park
    checked: list[tuple[int, OrderInput]] = []
    for index, raw in enumerate(batch):
        reason = check_order(raw)
        if reason is None and raw.driver_id is None:
            try:
                normalize_phone(raw.driver_phone or "", phone_region)
            except InvalidPhone:
                reason = "driver phone is not a valid phone number"
        if reason is not None:
            report.invalid.append(Problem(index, _shown(raw.external_id), reason))
        else:
            checked.append((index, raw))

    phones = {
        raw.driver_phone: normalize_phone(raw.driver_phone, phone_region)
        for _, raw in checked
        if raw.driver_id is None and raw.driver_phone
    }
    by_phone = ledger.drivers_by_phone(park, set(phones.values())) if phones else {}
    wanted = {raw.driver_id for _, raw in checked if raw.driver_id is not None}
    facts = _Facts(ledger, park)
    facts.load(wanted | set(by_phone.values()), program.depth)

    orders: list[tuple[int, Order]] = []
    for index, raw in checked:
        driver_id = (
            raw.driver_id
            if raw.driver_id is not None
            else by_phone.get(phones.get(raw.driver_phone or "", ""))
        )
        if driver_id is None or facts.get(driver_id) is None:
            shown = f"id {raw.driver_id}" if raw.driver_id is not None else "this phone"
            report.unknown_drivers.append(
                Problem(index, raw.external_id, f"no driver with {shown} in park {park}")
            )
            continue
        order = Order(
            park=park,
            external_id=raw.external_id,
            driver_id=driver_id,
            completed_at=raw.completed_at,
            price_kopecks=raw.price_kopecks,
            status=OrderStatus(raw.status),
        )
        orders.append((index, order))

    _Import(ledger, program, facts, report, now).run([order for _, order in orders])
    return report


class _Facts:
    """The batch's drivers with their chains, read at once."""

    def __init__(self, ledger: LedgerRepository, park: str) -> None:
        self._ledger = ledger
        self._park = park
        self._known: dict[int, DriverChain | None] = {}

    def load(self, driver_ids: set[int], depth: int) -> None:
        missing = {i for i in driver_ids if i not in self._known}
        if missing:
            self._known.update(self._ledger.chains(self._park, missing, depth))
            for driver_id in missing:
                self._known.setdefault(driver_id, None)

    def get(self, driver_id: int) -> DriverChain | None:
        return self._known.get(driver_id)


class _Import:
    """One batch, walked in stream order, written with as few statements as the stream allows.

    Everything the batch does is decided in memory in the order the orders arrive: new
    orders and their accruals, and reversals of orders stored earlier, are queued and
    written together (one INSERT of orders, one of ledger rows, one UPSERT of balances,
    one UPDATE of cancelled orders). The result is the ledger one-order-at-a-time imports
    would write, ids included: orders are inserted in arrival order and ledger rows in the
    order they were decided. The only forced write mid-batch is an order completed *and*
    cancelled within the batch: its rows must exist (with ids) before a reversal can point
    at them, so what is queued is written first.
    """

    def __init__(
        self,
        ledger: LedgerRepository,
        program: BonusProgram,
        facts: _Facts,
        report: ImportReport,
        now: datetime,
    ) -> None:
        self.ledger = ledger
        self.program = program
        self.facts = facts
        self.report = report
        self.now = now
        self.known: dict[str, StoredOrder] = {}
        self.counts: dict[int, int] = {}
        # Month-to-date per (referred driver, month), then per beneficiary: an order looks
        # up its driver's month once instead of one tuple key per level.
        self.sums: dict[tuple[int, str], dict[Beneficiary, int]] = {}
        self.months: dict[datetime, str] = {}  # completion time -> the park's month
        self.posted: dict[int, list[PostedAccrual]] = {}  # stored order id -> its rows
        self.reversed_ids: set[int] = set()  # ledger rows already reversed
        self.new_orders: list[Order] = []
        self.new_ids: set[str] = set()
        # Queued ledger rows in decision order: (stored order id, or external id of an
        # order queued in this batch, the row).
        self.queue: list[tuple[int | str, Accrual]] = []
        self.cancelled: list[int] = []
        # Month sums are read and kept only when some rule version has a monthly cap.
        self.capped = any(rules.monthly_cap_kopecks is not None for rules in program.versions)

    def run(self, orders: list[Order]) -> None:
        if not orders:
            return
        program = self.program
        drivers = {o.driver_id for o in orders}
        # First, so that everything read below is what a concurrent import left behind.
        self.ledger.lock_drivers(drivers)
        self.known = self.ledger.orders(program.park, {o.external_id for o in orders})
        # Only new completed orders pay, so only their drivers' chains, counts and month
        # sums are read; counts and sums only when some rule version uses them.
        paying: dict[str, Order] = {}
        for o in orders:
            if o.external_id not in self.known and o.status is OrderStatus.COMPLETED:
                paying.setdefault(o.external_id, o)
        if paying:
            payers = {o.driver_id for o in paying.values()}
            if any(rules.min_orders for rules in program.versions):
                self.counts = self.ledger.completed_counts(payers)
            # Each paying order's month once (a time-zone conversion), for the reads and take.
            months = self.months
            for o in paying.values():
                if o.completed_at not in months:
                    months[o.completed_at] = program.month(o.completed_at)
            if self.capped:
                keys = {(o.driver_id, months[o.completed_at]) for o in paying.values()}
                for (who, driver, month), total in self.ledger.month_sums(keys).items():
                    self.sums.setdefault((driver, month), {})[who] = total
        to_reverse = [
            stored.id
            for o in orders
            if o.status is OrderStatus.CANCELLED
            and (stored := self.known.get(o.external_id)) is not None
            and stored.status is OrderStatus.COMPLETED
        ]
        if to_reverse:
            self.read_posted(to_reverse)
        for order in orders:
            self.take(order)
        self.flush()
        if self.cancelled:
            self.ledger.cancel_orders(self.cancelled, self.now)

    def read_posted(self, order_ids: list[int]) -> None:
        rows, done = self.ledger.posted(order_ids)
        self.reversed_ids |= done
        by_order: dict[str, list[PostedAccrual]] = {}
        for row in rows:
            by_order.setdefault(row.accrual.order_external_id, []).append(row)
        for order_id in order_ids:
            self.posted.setdefault(order_id, [])
        for stored in self.known.values():
            if stored.id in self.posted and stored.external_id in by_order:
                self.posted[stored.id] = by_order[stored.external_id]

    def take(self, order: Order) -> None:
        if order.external_id in self.new_ids:
            if order.status is not OrderStatus.CANCELLED:
                self.report.unchanged += 1
                return
            # Completed and cancelled within one batch: write what is queued, so that its
            # rows have ids, then it is an ordinary reversal of stored rows.
            self.flush()
        stored = self.known.get(order.external_id)
        if stored is not None:
            if stored.status is OrderStatus.COMPLETED and order.status is OrderStatus.CANCELLED:
                self.reverse(stored)
            else:
                self.report.unchanged += 1
            return
        self.new_orders.append(order)
        self.new_ids.add(order.external_id)
        if order.status is OrderStatus.CANCELLED:
            self.report.arrived_cancelled += 1
            return
        self.report.accepted += 1
        facts = self.facts.get(order.driver_id)
        if facts is None:  # unknown drivers were reported and dropped before
            raise RuntimeError(f"driver {order.driver_id} vanished during the import")
        month = self.months.get(order.completed_at) or self.program.month(order.completed_at)
        rows = accruals(
            order,
            self.program,
            facts.chain,
            registered_at=facts.registered_at,
            completed_before=self.counts.get(order.driver_id, 0),
            month_to_date=self.sums.get((order.driver_id, month), _NOTHING),
            month=month,
        )
        self.counts[order.driver_id] = self.counts.get(order.driver_id, 0) + 1
        if self.capped:
            self.add_to_sums(rows)
        external_id = order.external_id
        self.queue.extend([(external_id, row) for row in rows])
        self.report.count(rows)

    def reverse(self, stored: StoredOrder) -> None:
        if stored.id not in self.posted:  # stored by this batch's own mid-batch write
            self.read_posted([stored.id])
        rows = reversals(self.posted.get(stored.id, []), frozenset(self.reversed_ids))
        self.reversed_ids.update(row.reversal_of for row in rows if row.reversal_of)
        self.queue.extend((stored.id, row) for row in rows)
        self.cancelled.append(stored.id)
        self.known[stored.external_id] = StoredOrder(
            stored.id,
            stored.external_id,
            stored.driver_id,
            OrderStatus.CANCELLED,
            stored.completed_at,
        )
        if stored.driver_id in self.counts:
            self.counts[stored.driver_id] -= 1
        if self.capped:
            self.add_to_sums(rows)
        self.report.reversed += 1
        self.report.count(rows)

    def add_to_sums(self, rows: list[Accrual]) -> None:
        for row in rows:
            month = self.sums.get((row.referred_driver_id, row.month))
            if month is None:
                month = self.sums[(row.referred_driver_id, row.month)] = {}
            month[row.beneficiary] = month.get(row.beneficiary, 0) + row.amount_kopecks

    def flush(self) -> None:
        ids = self.ledger.add_orders(self.new_orders, self.now) if self.new_orders else {}
        for order in self.new_orders:
            self.known[order.external_id] = StoredOrder(
                ids[order.external_id],
                order.external_id,
                order.driver_id,
                order.status,
                order.completed_at,
            )
        rows = [(ref if isinstance(ref, int) else ids[ref], row) for ref, row in self.queue]
        self.ledger.post(self.program.park, rows, self.now)
        self.new_orders, self.new_ids, self.queue = [], set(), []


def read_statement(
    ledger: LedgerRepository, owner: Beneficiary, month: str, recent: int = 5
) -> Statement:
    """One beneficiary's statement, inside the caller's unit of work (the bots' flow runs
    in ``Database.run`` and reads it there)."""
    return Statement(
        owner=owner,
        balance=ledger.balance(owner),
        month=month,
        month_kopecks=ledger.month_total(owner, month),
        referrals=ledger.referral_count(owner),
        recent=ledger.entries(owner, limit=recent),
    )


def refuse_cycle(
    ledger: LedgerRepository, park: str, driver_id: int, referrer: Beneficiary | None
) -> None:
    """Raise ``ReferralCycle`` if ``referrer`` may not become the driver's referrer.

    Meant for the admin use case that sets or changes a driver's registration code, inside
    its own transaction.
    """

    def referrer_of(other: int) -> Beneficiary | None:
        facts = ledger.referral_facts(park, [other]).get(other)
        return facts.referrer if facts else None

    if referrer is not None and would_cycle(driver_id, referrer, referrer_of):
        raise ReferralCycle(driver_id, referrer)


def request_payout(
    ledger: LedgerRepository,
    program: BonusProgram,
    owner: Beneficiary,
    amount_kopecks: int,
    now: datetime,
) -> Payout:
    """A pending payout request, or ``PayoutRefused`` with its reason, inside the caller's
    transaction: the partner API (``LedgerService.request_payout``) and the bots' «Мои
    бонусы» use this one function."""
    refusal = request_refusal(amount_kopecks, program.payout_minimum_kopecks)
    if refusal is PayoutRefusal.BELOW_MINIMUM:
        raise PayoutRefused(
            refusal,
            f"the minimum payout is {format_roubles(program.payout_minimum_kopecks)}",
        )
    if refusal is not None:
        raise PayoutRefused(refusal, "the amount must be a positive number of kopecks")
    payout = ledger.reserve(program.park, owner, amount_kopecks, now)
    if payout is None:
        raise PayoutRefused(
            PayoutRefusal.INSUFFICIENT,
            f"the available balance is less than {format_roubles(amount_kopecks)}",
        )
    return payout


def move_payout(
    uow: UnitOfWork,
    payout_id: int,
    target: PayoutStatus,
    actor: Actor,
    now: datetime,
    requester: Beneficiary | None = None,
    note: str | None = None,
    *,
    notify: bool = True,
) -> Payout:
    """Move a payout request inside the caller's transaction and, unless ``notify`` is
    False (the bot answers the requester's own cancel in place), queue the requester's
    notice in the same transaction."""
    current = uow.ledger.payout(payout_id)
    if current is None or (actor is Actor.REQUESTER and current.owner != requester):
        raise PayoutRefused("unknown", f"no payout request {payout_id}")
    refusal = move_refusal(current.status, target, actor)
    if refusal is not None:
        raise PayoutRefused("move", refusal)
    if not uow.ledger.move_payout(payout_id, current.status, target, now, note):
        raise PayoutRefused("move", "the payout request changed meanwhile; try again")
    moved = uow.ledger.payout(payout_id) or current
    if notify:
        uow.outbox.add(payout_notice(moved))
    return moved


def queue_alerts(
    uow: UnitOfWork, park: str, due_before: datetime, now: datetime, limit: int
) -> int:
    """Move due pending accruals of a park into batched alerts (outbox rows)."""
    due = uow.ledger.take_alerts(park, due_before, now, limit)
    for alert in due:
        uow.outbox.add(accrual_alert(park, alert, now))
    return len(due)


def write_accrued_events(uow: UnitOfWork, park: str, report: ImportReport, now: datetime) -> None:
    """``bonus.accrued``: one webhook event per beneficiary the batch changed."""
    for owner, amount in sorted(report.by_beneficiary.items()):
        entries = report.entries_by_beneficiary.get(owner, 0)
        uow.webhooks.add(accrued_event(park, owner, amount, entries, now), now)


class LedgerService:
    """Async facade: each call is one ``Database.run``."""

    def __init__(
        self,
        db: Database,
        programs: Mapping[str, BonusProgram],
        clock: Clock,
        *,
        phone_regions: Mapping[str, str] | None = None,
        webhook_parks: Collection[str] = (),
    ) -> None:
        self._db = db
        self.programs = dict(programs)
        self._clock = clock
        self._regions = dict(phone_regions or {})
        # Parks with a webhook_url: their imports write ``bonus.accrued`` events.
        self.webhook_parks = set(webhook_parks)

    def program(self, park: str) -> BonusProgram:
        try:
            return self.programs[park]
        except KeyError:
            raise UnknownPark(park) from None

    async def import_orders(self, park: str, batch: Sequence[OrderInput]) -> ImportReport:
        program = self.program(park)
        if len(batch) > FILE_BATCH:
            raise DomainError(f"at most {FILE_BATCH} orders per batch, got {len(batch)}")
        now = self._clock.now()
        region = self._regions.get(park, "RU")
        webhooks = park in self.webhook_parks

        def work(uow: UnitOfWork) -> ImportReport:
            # A batch allocates tens of thousands of small objects that all live until it
            # ends; the cyclic collector would scan the whole heap several times meanwhile
            # for nothing (a fifth of a batch's time on a large ledger). Reference counting
            # still frees everything; the collector runs again right after.
            collecting = gc.isenabled()
            gc.disable()
            try:
                report = import_batch(uow.ledger, program, batch, now, phone_region=region)
                if webhooks:
                    write_accrued_events(uow, park, report, now)
                return report
            finally:
                if collecting:
                    gc.enable()

        for attempt in range(_IMPORT_ATTEMPTS):
            try:
                return await self._db.run(work)
            except StaleState:
                # Two imports of the same orders at once: the loser's transaction rolled
                # back; run again, and the orders the winner stored count as known.
                if attempt == _IMPORT_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def balance(self, owner: Beneficiary) -> Balance:
        return await self._db.read(lambda uow: uow.ledger.balance(owner))

    async def statement(self, park: str, owner: Beneficiary, *, recent: int = 5) -> Statement:
        """What «Мои бонусы» shows: balance, this month's accruals, referrals, last rows."""
        month = self.program(park).month(self._clock.now())
        return await self._db.read(lambda uow: read_statement(uow.ledger, owner, month, recent))

    async def owners(self, park: str, phone: str) -> list[Beneficiary]:
        """The park's driver and partner with this (normalized) phone, if any."""
        rows = await self._db.read(lambda uow: uow.codes.owners_of_phone(park, phone))
        return [Beneficiary(row.kind, row.id) for row in rows if row.park == park]

    async def month_entries(self, park: str, month: str) -> list[tuple[PostedAccrual, datetime]]:
        """Every ledger row of a park's month (``YYYY-MM``), for the accountant's export."""
        self.program(park)
        if not _MONTH.fullmatch(month) or not 1 <= int(month[5:]) <= 12:
            raise DomainError(f"month must be YYYY-MM, not {month[:20]!r}")
        return await self._db.read(lambda uow: uow.ledger.month_entries(park, month))

    async def request_payout(self, park: str, owner: Beneficiary, amount_kopecks: int) -> Payout:
        program = self.program(park)
        now = self._clock.now()
        return await self._db.run(
            lambda uow: request_payout(uow.ledger, program, owner, amount_kopecks, now)
        )

    async def move_payout(
        self,
        payout_id: int,
        target: PayoutStatus,
        actor: Actor,
        *,
        requester: Beneficiary | None = None,
        note: str | None = None,
    ) -> Payout:
        """Move a payout request; a requester may only touch their own requests. The
        requester is told in the bot (an outbox row in the same transaction)."""
        now = self._clock.now()
        return await self._db.run(
            lambda uow: move_payout(uow, payout_id, target, actor, now, requester, note)
        )

    async def queue_alerts(self, limit: int = 500) -> int:
        """The alert job: one outbox row per beneficiary whose accruals are due to be
        announced (at most one per the park's interval); returns how many were queued."""
        now = self._clock.now()
        queued = 0
        for park, program in sorted(self.programs.items()):
            while True:
                count = await self._db.run(
                    lambda uow, park=park, program=program: queue_alerts(
                        uow, park, now - program.alert_interval, now, limit
                    )
                )
                queued += count
                if count < limit:
                    break
        return queued

    async def payouts(
        self,
        *,
        park: str | None = None,
        owner: Beneficiary | None = None,
        status: PayoutStatus | None = None,
    ) -> list[Payout]:
        if park is not None:
            self.program(park)  # an unknown park (or any junk) is refused before the database
        return await self._db.read(
            lambda uow: uow.ledger.payouts(park=park, owner=owner, status=status)
        )


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text[:ORDER_ID_MAX]
