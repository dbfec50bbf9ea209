"""What the ledger reads and reports: orders as they arrive and as stored, referral facts,
and the outcome of one import."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from core.domain.bonus import Accrual, Beneficiary, OrderStatus

ORDER_ID_MAX = 64  # characters of a fleet system's order id


@dataclass(frozen=True)
class OrderInput:
    """One order as the fleet system sends it; the driver by our id or by phone.

    Fields are typed loosely on purpose: the edges (CSV, API) hand over what they parsed and
    ``check_order`` says what is wrong, so every source gets the same reasons.
    """

    external_id: str
    completed_at: datetime
    price_kopecks: int
    status: OrderStatus | str
    driver_id: int | None = None
    driver_phone: str | None = None


@dataclass(frozen=True)
class ReferralFacts:
    """What the rules need to know about a driver: when they registered, who referred them."""

    driver_id: int
    registered_at: datetime
    referrer: Beneficiary | None


@dataclass(frozen=True)
class DriverChain:
    """A driver of the park as an import needs them: when they registered, and who is paid
    for their orders, level 1 first (``core.domain.bonus_chain.chain_above``'s rules: a
    partner or a repeated driver ends it)."""

    driver_id: int
    registered_at: datetime
    chain: tuple[Beneficiary, ...]


@dataclass(frozen=True)
class StoredOrder:
    id: int
    external_id: str
    driver_id: int
    status: OrderStatus
    completed_at: datetime


@dataclass(frozen=True)
class Problem:
    """A row that was not imported: its position in the batch (0-based) and why."""

    index: int
    external_id: str
    reason: str


@dataclass
class ImportReport:
    accepted: int = 0  # new completed orders
    arrived_cancelled: int = 0  # new orders that were already cancelled
    reversed: int = 0  # known orders now cancelled: their accruals reversed
    unchanged: int = 0  # seen before with nothing to do
    unknown_drivers: list[Problem] = field(default_factory=list)
    invalid: list[Problem] = field(default_factory=list)
    entries: int = 0  # ledger rows written, reversals included
    accrued_kopecks: int = 0
    reversed_kopecks: int = 0
    # Net change per beneficiary in this import: what a batched alert reports.
    by_beneficiary: dict[Beneficiary, int] = field(default_factory=dict)
    # Ledger rows per beneficiary in this import (accruals and reversals).
    entries_by_beneficiary: dict[Beneficiary, int] = field(default_factory=dict)

    def count(self, rows: list[Accrual]) -> None:
        for row in rows:
            self.entries += 1
            who = row.beneficiary
            self.entries_by_beneficiary[who] = self.entries_by_beneficiary.get(who, 0) + 1
            if row.amount_kopecks >= 0:
                self.accrued_kopecks += row.amount_kopecks
            else:
                self.reversed_kopecks -= row.amount_kopecks
            total = self.by_beneficiary.get(row.beneficiary, 0) + row.amount_kopecks
            self.by_beneficiary[row.beneficiary] = total
