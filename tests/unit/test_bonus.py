"""Accrual arithmetic: fixed and percentage rules over three levels, caps, the eligibility
window, the minimum-orders threshold, rule versions and the rounding rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.domain.bonus import (
    Accrual,
    Beneficiary,
    BonusProgram,
    LevelRule,
    Order,
    OrderStatus,
    PostedAccrual,
    RewardKind,
    RuleError,
    RuleSet,
    accruals,
    percent_of,
    reversals,
)
from core.domain.bonus_chain import chain_above, would_cycle
from core.domain.bonus_payouts import (
    Actor,
    Balance,
    PayoutRefusal,
    PayoutStatus,
    move_refusal,
    request_refusal,
)
from core.domain.model import OwnerKind

T0 = datetime(2026, 1, 1, tzinfo=UTC)
A = Beneficiary(OwnerKind.DRIVER, 1)
B = Beneficiary(OwnerKind.DRIVER, 2)
P = Beneficiary(OwnerKind.PARTNER, 7)
CHAIN = [A, B, P]


def fixed(level: int, kopecks: int) -> LevelRule:
    return LevelRule(level, RewardKind.FIXED, kopecks)


def percent(level: int, bp: int) -> LevelRule:
    return LevelRule(level, RewardKind.PERCENT, bp)


def program(*levels: LevelRule, **options: object) -> BonusProgram:
    return BonusProgram("mos", (RuleSet(1, T0, tuple(levels), **options),))  # type: ignore[arg-type]


def order(price: int = 100_000, at: datetime = T0 + timedelta(days=3), **kw: object) -> Order:
    base: dict[str, object] = {
        "park": "mos",
        "external_id": "o1",
        "driver_id": 10,
        "completed_at": at,
        "price_kopecks": price,
        "status": OrderStatus.COMPLETED,
    }
    base.update(kw)
    return Order(**base)  # type: ignore[arg-type]


def pay(
    prog: BonusProgram,
    o: Order,
    chain: list[Beneficiary] = CHAIN,
    *,
    registered_at: datetime = T0,
    before: int = 0,
    mtd: dict[Beneficiary, int] | None = None,
) -> list[tuple[Beneficiary, int, int]]:
    rows = accruals(
        o,
        prog,
        chain,
        registered_at=registered_at,
        completed_before=before,
        month_to_date=mtd or {},
    )
    for row in rows:
        assert type(row.amount_kopecks) is int
    return [(r.beneficiary, r.level, r.amount_kopecks) for r in rows]


def test_fixed_amounts_over_three_levels() -> None:
    prog = program(fixed(1, 5000), fixed(2, 2000), fixed(3, 1000))
    assert pay(prog, order()) == [(A, 1, 5000), (B, 2, 2000), (P, 3, 1000)]


def test_percentages_over_three_levels() -> None:
    prog = program(percent(1, 500), percent(2, 200), percent(3, 50))  # 5 %, 2 %, 0.5 %
    assert pay(prog, order(price=123_456)) == [(A, 1, 6173), (B, 2, 2469), (P, 3, 617)]


def test_mixed_rules_and_a_short_chain_pays_only_the_levels_present() -> None:
    prog = program(percent(1, 1000), fixed(2, 300), fixed(3, 100))
    assert pay(prog, order(price=50_000), [A]) == [(A, 1, 5000)]
    assert pay(prog, order(price=50_000), []) == []


def test_partner_ends_the_chain() -> None:
    lookup = {10: A, 1: P}.get
    assert chain_above(10, lookup, 3) == [A, P]
    lookup_deeper = {10: A, 1: B, 2: P}.get
    assert chain_above(10, lookup_deeper, 2) == [A, B]  # depth bounds the walk


@pytest.mark.parametrize(
    ("price", "bp", "expected"),
    [
        (150, 100, 1),  # 1.5 kopecks: exactly half rounds down
        (151, 100, 2),  # 1.51 rounds up
        (149, 100, 1),
        (50, 100, 0),  # 0.5 -> 0
        (51, 100, 1),
        (250, 100, 2),  # 2.5 -> 2 (half down, not banker's: 3.5 -> 3 as well)
        (350, 100, 3),
        (0, 5000, 0),
        (999_999_999, 10_000, 999_999_999),
        (1, 1, 0),
        (5_000, 1, 0),  # 0.5 -> 0
        (5_001, 1, 1),
    ],
)
def test_percentages_round_half_down(price: int, bp: int, expected: int) -> None:
    assert percent_of(price, bp) == expected


def test_cap_per_beneficiary_per_referred_driver_per_month() -> None:
    prog = program(fixed(1, 3000), fixed(2, 3000), monthly_cap_kopecks=10_000)
    # A has 8 000 this month from this driver: 2 000 left; B has 10 000: nothing left.
    assert pay(prog, order(), mtd={A: 8000, B: 10_000}) == [(A, 1, 2000)]
    assert pay(prog, order(), mtd={A: 0}) == [(A, 1, 3000), (B, 2, 3000)]
    # Over the cap already (a rule change lowered it): nothing, never a negative accrual.
    assert pay(prog, order(), mtd={A: 12_000, B: 9_999}) == [(B, 2, 1)]


def test_month_is_the_parks_calendar_month() -> None:
    prog = program(fixed(1, 100))
    # 22:30 UTC on Jan 31 is already February in Moscow (UTC+3).
    late = datetime(2026, 1, 31, 22, 30, tzinfo=UTC)
    rows = accruals(
        order(at=late), prog, [A], registered_at=T0, completed_before=0, month_to_date={}
    )
    assert [r.month for r in rows] == ["2026-02"]


def test_eligibility_window_counts_from_registration() -> None:
    prog = program(fixed(1, 1000), window_days=90)
    registered = T0 + timedelta(days=1)
    last_second = registered + timedelta(days=90) - timedelta(seconds=1)
    assert pay(prog, order(at=last_second), registered_at=registered) == [(A, 1, 1000)]
    assert pay(prog, order(at=registered + timedelta(days=90)), registered_at=registered) == []


def test_minimum_completed_orders_before_paying() -> None:
    prog = program(fixed(1, 1000), min_orders=3)
    assert pay(prog, order(), before=0) == []
    assert pay(prog, order(), before=2) == []
    assert pay(prog, order(), before=3) == [(A, 1, 1000)]


def test_cancelled_order_accrues_nothing() -> None:
    prog = program(fixed(1, 1000))
    assert pay(prog, order(status=OrderStatus.CANCELLED)) == []


def test_versions_apply_only_to_orders_completed_after_their_start() -> None:
    v1 = RuleSet(1, T0, (fixed(1, 1000),))
    v2 = RuleSet(2, T0 + timedelta(days=10), (fixed(1, 2000), fixed(2, 500)))
    prog = BonusProgram("mos", (v1, v2))
    before_v1 = pay(prog, order(at=T0 - timedelta(seconds=1)))
    under_v1 = accruals(
        order(at=T0 + timedelta(days=9)),
        prog,
        CHAIN,
        registered_at=T0,
        completed_before=0,
        month_to_date={},
    )
    under_v2 = accruals(
        order(at=T0 + timedelta(days=10)),
        prog,
        CHAIN,
        registered_at=T0,
        completed_before=0,
        month_to_date={},
    )
    assert before_v1 == []
    assert [(r.rule_version, r.amount_kopecks) for r in under_v1] == [(1, 1000)]
    assert [(r.rule_version, r.amount_kopecks) for r in under_v2] == [(2, 2000), (2, 500)]


@pytest.mark.parametrize(
    "make",
    [
        lambda: LevelRule(1, RewardKind.PERCENT, 10_001),
        lambda: LevelRule(1, RewardKind.FIXED, -1),
        lambda: LevelRule(1, RewardKind.PERCENT, 5.5),
        lambda: LevelRule(0, RewardKind.FIXED, 1),
        lambda: RuleSet(1, T0, (fixed(2, 1),)),
        lambda: RuleSet(1, T0.replace(tzinfo=None), (fixed(1, 1),)),
        lambda: RuleSet(1, T0, (fixed(1, 1),), monthly_cap_kopecks=1.0),
        lambda: BonusProgram(
            "mos", (RuleSet(2, T0, (fixed(1, 1),)), RuleSet(1, T0 + timedelta(1), ()))
        ),
        lambda: BonusProgram("mos", (), payout_minimum_kopecks=True),
    ],
)
def test_malformed_rules_are_refused(make: object) -> None:
    with pytest.raises(RuleError):
        make()  # type: ignore[operator]


def test_reversal_is_negative_and_points_at_the_original() -> None:
    row = Accrual("o1", A, 10, 1, 1, 5000, "2026-01")
    posted = [
        PostedAccrual(11, row),
        PostedAccrual(12, Accrual("o1", B, 10, 2, 1, 700, "2026-01")),
    ]
    back = reversals(posted, frozenset({12}))  # row 12 was reversed already
    assert [(r.reversal_of, r.beneficiary, r.amount_kopecks) for r in back] == [(11, A, -5000)]
    # Reversal rows themselves are never reversed again.
    assert reversals([PostedAccrual(13, back[0])], frozenset()) == []


def test_cycle_check() -> None:
    # 3 was referred by 2, 2 by 1, 1 by a partner.
    referrer = {3: B, 2: A, 1: P}.get
    assert would_cycle(1, Beneficiary(OwnerKind.DRIVER, 3), referrer)  # 1 <- 3 <- 2 <- 1
    assert would_cycle(1, A, referrer)  # self-referral
    assert not would_cycle(3, A, referrer)  # moving 3 up the tree is fine
    assert not would_cycle(1, P, referrer)  # a partner never closes a loop
    assert not would_cycle(1, None, referrer)  # removing the code
    looped = {5: Beneficiary(OwnerKind.DRIVER, 6), 6: Beneficiary(OwnerKind.DRIVER, 5)}.get
    assert would_cycle(9, Beneficiary(OwnerKind.DRIVER, 5), looped)  # an existing loop: refused


def test_payout_moves() -> None:
    assert move_refusal(PayoutStatus.PENDING, PayoutStatus.CANCELLED, Actor.REQUESTER) is None
    assert move_refusal(PayoutStatus.PENDING, PayoutStatus.PROCESSING, Actor.ADMIN) is None
    assert move_refusal(PayoutStatus.PROCESSING, PayoutStatus.CONFIRMED, Actor.ADMIN) is None
    refusal = move_refusal(PayoutStatus.PROCESSING, PayoutStatus.CANCELLED, Actor.REQUESTER)
    assert refusal is not None
    assert "only while pending" in refusal
    assert move_refusal(PayoutStatus.PENDING, PayoutStatus.PROCESSING, Actor.REQUESTER)
    assert move_refusal(PayoutStatus.CONFIRMED, PayoutStatus.ERROR, Actor.ADMIN)
    assert request_refusal(499_999, 500_000) is PayoutRefusal.BELOW_MINIMUM
    assert request_refusal(0, 500_000) is PayoutRefusal.NOT_POSITIVE
    assert request_refusal(500_000.0, 500_000) is PayoutRefusal.NOT_POSITIVE  # type: ignore[arg-type]
    assert request_refusal(500_000, 500_000) is None
    assert Balance(accrued=900, reserved=300, paid=100).available == 500


def test_import_reports_unknown_drivers_and_bad_rows_and_keeps_the_good_ones() -> None:
    from core.domain.bonus_records import OrderInput
    from core.services.ledger import import_batch
    from tests.fakes.ledger import MemoryLedger

    ledger = MemoryLedger()
    ledger.add_driver("mos", 1, "+79160000001", T0, None)
    ledger.add_driver("mos", 10, "+79160000010", T0, A)
    ledger.add_driver("spb", 20, "+79160000020", T0, A)  # another park's driver
    prog = program(fixed(1, 700))
    at = T0 + timedelta(days=1)
    batch = [
        OrderInput("ok-id", at, 1000, "completed", driver_id=10),
        OrderInput("ok-phone", at, 1000, "completed", driver_phone="8 916 000-00-10"),
        OrderInput("ghost", at, 1000, "completed", driver_id=99),
        OrderInput("other-park", at, 1000, "completed", driver_id=20),
        OrderInput("ghost-phone", at, 1000, "completed", driver_phone="+79169999999"),
        OrderInput("float", at, 10.5, "completed", driver_id=10),  # type: ignore[arg-type]
        OrderInput("naive", at.replace(tzinfo=None), 1, "completed", driver_id=10),
        OrderInput("status", at, 1, "done", driver_id=10),
        OrderInput(" ", at, 1, "completed", driver_id=10),
        OrderInput("neg", at, -1, "completed", driver_id=10),
        OrderInput("nobody", at, 1, "completed"),
        OrderInput("badphone", at, 1, "completed", driver_phone="call me"),
    ]
    report = import_batch(ledger, prog, batch, at)
    assert report.accepted == 2
    assert [p.external_id for p in report.unknown_drivers] == [
        "ghost",
        "other-park",
        "ghost-phone",
    ]
    assert [p.index for p in report.invalid] == [5, 6, 7, 8, 9, 10, 11]
    assert all(p.reason for p in report.invalid)
    assert ledger.balance(A).accrued == 1400
    assert report.by_beneficiary == {A: 1400}
    assert set(ledger.orders("mos", ["ghost", "float", "ok-id"])) == {"ok-id"}
