"""Hostile orders (any types, any text, any times) never break an import: each one is taken,
reported as unknown or refused with a reason, and nothing refused reaches the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain.bonus import Beneficiary, BonusProgram, LevelRule, RewardKind, RuleSet
from core.domain.bonus_records import OrderInput
from core.domain.model import OwnerKind
from core.services.ledger import import_batch
from tests.fakes.ledger import MemoryLedger

T0 = datetime(2001, 1, 1, tzinfo=UTC)
PROGRAM = BonusProgram("mos", (RuleSet(1, T0, (LevelRule(1, RewardKind.PERCENT, 333),)),))

anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=80),
    st.binary(max_size=10),
    st.lists(st.integers(), max_size=2),
)
good_moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
moments = st.one_of(
    good_moments,
    good_moments,
    good_moments,
    st.datetimes(timezones=st.just(UTC)),  # any year
    st.datetimes(),  # naive
    st.datetimes(
        timezones=st.builds(
            lambda m: timezone(timedelta(minutes=m)), st.integers(-23 * 60, 23 * 60)
        )
    ),
    anything,
)


def mostly(good: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """Usually a good value, so that hostile ones meet otherwise valid orders."""
    return st.one_of(good, good, good, anything)


orders = st.builds(
    OrderInput,
    external_id=mostly(st.one_of(st.text(max_size=80), st.sampled_from(["a", "b"]))),
    completed_at=moments,
    price_kopecks=mostly(st.integers(-10, 10**12)),
    status=mostly(st.sampled_from(["completed", "cancelled", "COMPLETED"])),
    driver_id=st.one_of(st.none(), st.none(), st.integers(-5, 5), st.integers(), anything),
    driver_phone=mostly(st.just("+79160000001")),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(orders, max_size=12))
def test_every_order_is_taken_or_reported(batch: list[OrderInput]) -> None:
    ledger = MemoryLedger()
    ledger.add_driver("mos", 1, "+79160000001", T0, Beneficiary(OwnerKind.PARTNER, 1))
    report = import_batch(ledger, PROGRAM, batch, T0)
    handled = (
        report.accepted
        + report.arrived_cancelled
        + report.reversed
        + report.unchanged
        + len(report.unknown_drivers)
        + len(report.invalid)
    )
    assert handled == len(batch)
    assert all(p.reason for p in report.invalid + report.unknown_drivers)
    refused = {p.index for p in report.invalid + report.unknown_drivers}
    for index, raw in enumerate(batch):
        stored = (
            ledger.stored.get(("mos", raw.external_id))
            if isinstance(raw.external_id, str)
            else None
        )
        if index in refused and stored is not None:
            # The same id may also have come in a good row of this batch.
            assert any(
                j not in refused and other.external_id == raw.external_id
                for j, other in enumerate(batch)
            )
    for _, _, row in ledger.rows:
        assert type(row.amount_kopecks) is int


GOOD = {
    "external_id": "a",
    "completed_at": datetime(2020, 1, 1, tzinfo=UTC),
    "price_kopecks": 100,
    "status": "completed",
    "driver_id": None,
    "driver_phone": "+79160000001",
}
HOSTILE = [
    ("external_id", 5),
    ("external_id", "a\x00b"),
    ("external_id", "\ud800"),
    ("external_id", "x" * 65),
    ("completed_at", "2020-01-01"),
    ("completed_at", datetime(2020, 1, 1)),
    ("completed_at", datetime(9999, 12, 31, 23, tzinfo=UTC)),
    ("completed_at", datetime(1, 1, 1, tzinfo=UTC)),
    ("price_kopecks", 1.5),
    ("price_kopecks", True),
    ("price_kopecks", "100"),
    ("price_kopecks", 10**30),
    ("status", ["completed"]),
    ("status", None),
    ("driver_id", 2**31),
    ("driver_id", -1),
    ("driver_id", "1"),
    ("driver_phone", 79160000001),
    ("driver_phone", ["+79160000001"]),
    ("driver_phone", "+7916" + "0" * 100),
]


def test_each_hostile_field_alone_is_refused_with_a_reason() -> None:
    for name, value in HOSTILE:
        ledger = MemoryLedger()
        ledger.add_driver("mos", 1, "+79160000001", T0, Beneficiary(OwnerKind.PARTNER, 1))
        report = import_batch(ledger, PROGRAM, [OrderInput(**{**GOOD, name: value})], T0)
        assert [p.index for p in report.invalid] == [0], (name, value)
        assert not ledger.stored, (name, value)
    # and the good one is taken
    ledger = MemoryLedger()
    ledger.add_driver("mos", 1, "+79160000001", T0, Beneficiary(OwnerKind.PARTNER, 1))
    assert import_batch(ledger, PROGRAM, [OrderInput(**GOOD)], T0).accepted == 1
