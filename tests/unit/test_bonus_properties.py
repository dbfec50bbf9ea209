"""Ledger invariants over random referral trees and order streams (in-memory ledger).

- each order's rows sum to the configured shares of the levels present (after caps, never
  more than the cap per beneficiary, referred driver and month);
- re-delivering orders changes nothing; how a stream is cut into batches changes nothing;
- cancelling an order takes exactly its accruals back off every balance;
- every amount is an int, and the balances summary always equals the ledger's sum.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain.bonus import Beneficiary, BonusProgram, LevelRule, RewardKind, RuleSet
from core.domain.bonus_records import OrderInput
from core.domain.model import OwnerKind
from core.services.ledger import import_batch
from tests.fakes.ledger import MemoryLedger

T0 = datetime(2026, 3, 1, tzinfo=UTC)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
PARK = "mos"


@st.composite
def trees(draw: st.DrawFn) -> dict[int, Beneficiary | None]:
    """Driver ids 1..n; each referred by nobody, a partner, or an earlier driver (acyclic)."""
    n = draw(st.integers(1, 12))
    tree: dict[int, Beneficiary | None] = {}
    for driver in range(1, n + 1):
        choice = draw(st.integers(0, 2 if driver > 1 else 1))
        if choice == 0:
            tree[driver] = None
        elif choice == 1:
            tree[driver] = Beneficiary(OwnerKind.PARTNER, draw(st.integers(1, 3)))
        else:
            tree[driver] = Beneficiary(OwnerKind.DRIVER, draw(st.integers(1, driver - 1)))
    return tree


levels = st.lists(
    st.one_of(
        st.builds(lambda v: (RewardKind.FIXED, v), st.integers(0, 50_000)),
        st.builds(lambda v: (RewardKind.PERCENT, v), st.integers(0, 10_000)),
    ),
    min_size=1,
    max_size=3,
)


def program(
    shape: list[tuple[RewardKind, int]],
    cap: int | None = None,
    min_orders: int = 0,
    window: int | None = None,
) -> BonusProgram:
    rules = tuple(LevelRule(i + 1, kind, value) for i, (kind, value) in enumerate(shape))
    return BonusProgram(
        PARK,
        (
            RuleSet(
                1, T0, rules, monthly_cap_kopecks=cap, min_orders=min_orders, window_days=window
            ),
        ),
    )


def ledger_for(tree: dict[int, Beneficiary | None]) -> MemoryLedger:
    ledger = MemoryLedger()
    for driver, referrer in tree.items():
        ledger.add_driver(PARK, driver, f"+7916000{driver:04d}", T0, referrer)
    return ledger


def orders(n_drivers: int, *, cancelled: bool = False) -> st.SearchStrategy[list[OrderInput]]:
    one = st.builds(
        lambda oid, driver, minutes, price, cancel: OrderInput(
            external_id=f"o{oid}",
            driver_id=driver,
            completed_at=T0 + timedelta(minutes=minutes),
            price_kopecks=price,
            status="cancelled" if cancel else "completed",
        ),
        st.integers(0, 40),
        st.integers(1, n_drivers),
        st.integers(0, 60 * 24 * 70),  # across three calendar months
        st.integers(0, 2_000_000),
        st.booleans() if cancelled else st.just(False),
    )
    return st.lists(one, max_size=40)


def chain(tree: dict[int, Beneficiary | None], driver: int, depth: int) -> list[Beneficiary]:
    out: list[Beneficiary] = []
    above = tree[driver]
    while above is not None and len(out) < depth:
        out.append(above)
        above = tree[above.id] if above.kind is OwnerKind.DRIVER else None
    return out


def share(kind: RewardKind, value: int, price: int) -> int:
    if kind is RewardKind.FIXED:
        return value
    exact = price * value  # in 1/10 000 kopeck
    whole, rest = divmod(exact, 10_000)
    return whole + (1 if rest > 5_000 else 0)  # half down


def import_in(ledger: MemoryLedger, prog: BonusProgram, stream: list[OrderInput], cuts: list[int]):  # type: ignore[no-untyped-def]
    edges = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    reports = []
    for start, end in itertools.pairwise(edges):
        reports.append(import_batch(ledger, prog, stream[start:end], NOW))
    return reports


def snapshot(ledger: MemoryLedger) -> tuple[object, ...]:
    return (list(ledger.rows), dict(ledger.balances), dict(ledger.stored))


def assert_consistent(ledger: MemoryLedger) -> None:
    sums: dict[Beneficiary, int] = defaultdict(int)
    for _, _, row in ledger.rows:
        assert type(row.amount_kopecks) is int
        sums[row.beneficiary] += row.amount_kopecks
    for who, balance in ledger.balances.items():
        assert type(balance.accrued) is int
        assert balance.accrued == sums[who]


def per_order(ledger: MemoryLedger) -> dict[int, int]:
    totals: dict[int, int] = defaultdict(int)
    for _, order_id, row in ledger.rows:
        totals[order_id] += row.amount_kopecks
    return totals


@settings(max_examples=150, deadline=None)
@given(data=st.data(), tree=trees(), shape=levels)
def test_each_order_pays_the_configured_shares(
    data: st.DataObject, tree: dict[int, Beneficiary | None], shape: list[tuple[RewardKind, int]]
) -> None:
    prog = program(shape)
    ledger = ledger_for(tree)
    stream = data.draw(orders(len(tree)))
    import_in(ledger, prog, stream, data.draw(st.lists(st.integers(0, 40), max_size=4)))
    assert_consistent(ledger)
    first = {}
    for raw in stream:
        first.setdefault(raw.external_id, raw)
    totals = per_order(ledger)
    for external_id, raw in first.items():
        stored = ledger.stored[(PARK, external_id)]
        levels_paid = chain(tree, stored.driver_id, len(shape))
        expected = sum(
            share(kind, value, raw.price_kopecks)
            for (kind, value), _ in zip(shape, levels_paid, strict=False)
        )
        assert totals.get(stored.id, 0) == expected


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    tree=trees(),
    shape=levels,
    cap=st.one_of(st.none(), st.integers(0, 100_000)),
    min_orders=st.integers(0, 3),
    window=st.one_of(st.none(), st.integers(1, 60)),
)
def test_batching_and_redelivery_change_nothing_and_caps_hold(
    data: st.DataObject,
    tree: dict[int, Beneficiary | None],
    shape: list[tuple[RewardKind, int]],
    cap: int | None,
    min_orders: int,
    window: int | None,
) -> None:
    prog = program(shape, cap, min_orders, window)
    stream = data.draw(orders(len(tree), cancelled=True))
    one_by_one = ledger_for(tree)
    for raw in stream:
        import_batch(one_by_one, prog, [raw], NOW)
    batched = ledger_for(tree)
    import_in(batched, prog, stream, data.draw(st.lists(st.integers(0, 40), max_size=4)))
    assert snapshot(batched) == snapshot(one_by_one)
    assert_consistent(batched)

    before = snapshot(batched)
    again = import_in(batched, prog, stream, data.draw(st.lists(st.integers(0, 40), max_size=4)))
    assert snapshot(batched) == before
    assert sum(r.entries for r in again) == 0

    if cap is not None:
        month_sums: dict[tuple[Beneficiary, int, str], int] = defaultdict(int)
        for _, _, row in batched.rows:
            month_sums[(row.beneficiary, row.referred_driver_id, row.month)] += row.amount_kopecks
        assert all(0 <= total <= cap for total in month_sums.values())


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(), tree=trees(), shape=levels, cap=st.one_of(st.none(), st.integers(0, 50_000))
)
def test_a_cancellation_takes_back_exactly_its_accruals(
    data: st.DataObject,
    tree: dict[int, Beneficiary | None],
    shape: list[tuple[RewardKind, int]],
    cap: int | None,
) -> None:
    prog = program(shape, cap)
    ledger = ledger_for(tree)
    stream = data.draw(orders(len(tree)))
    import_batch(ledger, prog, stream, NOW)
    if not ledger.stored:
        return
    victim = data.draw(st.sampled_from(sorted(ledger.stored.values(), key=lambda o: o.id)))
    before = dict(ledger.balances)
    own: dict[Beneficiary, int] = defaultdict(int)
    for _, order_id, row in ledger.rows:
        if order_id == victim.id:
            own[row.beneficiary] += row.amount_kopecks
    cancel = OrderInput(
        victim.external_id, victim.completed_at, 0, "cancelled", driver_id=victim.driver_id
    )
    report = import_batch(ledger, prog, [cancel], NOW)
    assert report.reversed == 1
    for who, balance in ledger.balances.items():
        assert balance.accrued == before[who].accrued - own.get(who, 0)
    # Cancelling it again, or "completing" it again, changes nothing.
    after = snapshot(ledger)
    import_batch(ledger, prog, [cancel, stream[0]], NOW)
    assert snapshot(ledger) == after
    # Cancelling every order brings every balance back to zero.
    for order in list(ledger.stored.values()):
        import_batch(
            ledger,
            prog,
            [OrderInput(order.external_id, order.completed_at, 0, "cancelled", order.driver_id)],
            NOW,
        )
    assert all(balance.accrued == 0 for balance in ledger.balances.values())
    assert_consistent(ledger)


def orders_of(*specs: tuple[int, bool]) -> list[OrderInput]:
    return [
        OrderInput(f"o{oid}", T0, 0, "cancelled" if cancel else "completed", driver_id=1)
        for oid, cancel in specs
    ]


# The streams hypothesis found when batching still changed the ledger: a reversal written
# before the queued orders of its batch, and one of an order stored by the batch itself.
REGRESSIONS = [
    (orders_of(*[(0, False)] * 10, (1, False), (0, True)), [1]),
    (orders_of((0, False), (1, False), (0, True), (1, True)), []),
    (orders_of((0, False), (0, True), (1, False), (0, False), (1, True), (1, False)), [2]),
]


@pytest.mark.parametrize(("stream", "cuts"), REGRESSIONS)
def test_completed_then_cancelled_in_one_batch_is_what_single_imports_give(
    stream: list[OrderInput], cuts: list[int]
) -> None:
    tree: dict[int, Beneficiary | None] = {1: Beneficiary(OwnerKind.PARTNER, 1)}
    prog = program([(RewardKind.FIXED, 100)])
    one_by_one = ledger_for(tree)
    for raw in stream:
        import_batch(one_by_one, prog, [raw], NOW)
    batched = ledger_for(tree)
    import_in(batched, prog, stream, cuts)
    assert snapshot(batched) == snapshot(one_by_one)
    assert_consistent(batched)
    # Exactly one reversal row per cancelled order, each pointing at its order's accrual.
    reversals = [row for _, _, row in batched.rows if row.reversal_of is not None]
    assert len(reversals) == len({r.order_external_id for r in reversals})
