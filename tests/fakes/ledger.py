"""An in-memory ``LedgerRepository``: the ledger's rules checked without a database.

It keeps the same facts the SQL one does (orders, append-only rows, a balances summary,
payouts) and derives nothing the SQL one would not, so a property that holds here and on
the real stores holds for the service, not for a shortcut.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from core.domain.bonus import Accrual, Beneficiary, Order, OrderStatus, PostedAccrual
from core.domain.bonus_chain import chain_above
from core.domain.bonus_payouts import Balance, Payout, PayoutStatus
from core.domain.bonus_records import DriverChain, ReferralFacts, StoredOrder


@dataclass
class MemoryLedger:
    drivers: dict[int, tuple[str, str, ReferralFacts]] = field(default_factory=dict)
    stored: dict[tuple[str, str], StoredOrder] = field(default_factory=dict)
    rows: list[tuple[int, int, Accrual]] = field(default_factory=list)  # (id, order id, row)
    balances: dict[Beneficiary, Balance] = field(default_factory=dict)
    payout_rows: dict[int, Payout] = field(default_factory=dict)

    def add_driver(
        self,
        park: str,
        driver_id: int,
        phone: str,
        registered_at: datetime,
        referrer: Beneficiary | None,
    ) -> None:
        self.drivers[driver_id] = (park, phone, ReferralFacts(driver_id, registered_at, referrer))

    # -- LedgerRepository ---------------------------------------------------------------------

    def referral_facts(self, park: str, driver_ids: Collection[int]) -> dict[int, ReferralFacts]:
        return {
            i: self.drivers[i][2]
            for i in driver_ids
            if i in self.drivers and self.drivers[i][0] == park
        }

    def chains(self, park: str, driver_ids: Collection[int], depth: int) -> dict[int, DriverChain]:
        def referrer_of(driver_id: int) -> Beneficiary | None:
            facts = self.referral_facts(park, [driver_id]).get(driver_id)
            return facts.referrer if facts else None

        return {
            i: DriverChain(i, facts.registered_at, tuple(chain_above(i, referrer_of, depth)))
            for i, facts in self.referral_facts(park, driver_ids).items()
        }

    def drivers_by_phone(self, park: str, phones: Collection[str]) -> dict[str, int]:
        return {
            phone: i for i, (p, phone, _) in self.drivers.items() if p == park and phone in phones
        }

    def orders(self, park: str, external_ids: Collection[str]) -> dict[str, StoredOrder]:
        return {e: self.stored[(park, e)] for e in external_ids if (park, e) in self.stored}

    def completed_counts(self, driver_ids: Collection[int]) -> dict[int, int]:
        counts: dict[int, int] = {}
        for order in self.stored.values():
            if order.driver_id in driver_ids and order.status is OrderStatus.COMPLETED:
                counts[order.driver_id] = counts.get(order.driver_id, 0) + 1
        return counts

    def lock_drivers(self, driver_ids: Collection[int]) -> None:
        return None  # one thread, one ledger: nothing runs beside us

    def month_sums(
        self, keys: Collection[tuple[int, str]]
    ) -> dict[tuple[Beneficiary, int, str], int]:
        sums: dict[tuple[Beneficiary, int, str], int] = {}
        for _, _, row in self.rows:
            if (row.referred_driver_id, row.month) in keys:
                key = (row.beneficiary, row.referred_driver_id, row.month)
                sums[key] = sums.get(key, 0) + row.amount_kopecks
        return sums

    def add_orders(self, orders: Sequence[Order], now: datetime) -> dict[str, int]:
        ids = {}
        for order in orders:
            key = (order.park, order.external_id)
            if key in self.stored:  # the unique constraint of the real table
                raise ValueError(f"duplicate order {key}")
            new_id = len(self.stored) + 1
            self.stored[key] = StoredOrder(
                new_id, order.external_id, order.driver_id, order.status, order.completed_at
            )
            ids[order.external_id] = new_id
        return ids

    def post(self, park: str, rows: Sequence[tuple[int, Accrual]], now: datetime) -> None:
        reversed_ids = {row.reversal_of for _, _, row in self.rows if row.reversal_of}
        for order_id, row in rows:
            if not isinstance(row.amount_kopecks, int):
                raise TypeError("money must be int")
            if row.reversal_of is not None and row.reversal_of in reversed_ids:
                raise ValueError("a row is reversed twice")  # the unique reversal_of
            self.rows.append((len(self.rows) + 1, order_id, row))
            old = self.balances.get(row.beneficiary, Balance())
            self.balances[row.beneficiary] = replace(old, accrued=old.accrued + row.amount_kopecks)

    def posted(self, order_ids: Collection[int]) -> tuple[list[PostedAccrual], frozenset[int]]:
        mine = [PostedAccrual(i, row) for i, o, row in self.rows if o in order_ids]
        done = frozenset(p.accrual.reversal_of for p in mine if p.accrual.reversal_of)
        return mine, done

    def cancel_orders(self, order_ids: Collection[int], now: datetime) -> None:
        for key, order in self.stored.items():
            if order.id in order_ids:
                self.stored[key] = replace(order, status=OrderStatus.CANCELLED)

    def balance(self, owner: Beneficiary) -> Balance:
        return self.balances.get(owner, Balance())

    def entries(
        self, owner: Beneficiary, *, limit: int, before_id: int | None = None
    ) -> list[PostedAccrual]:
        mine = [
            PostedAccrual(i, row)
            for i, _, row in reversed(self.rows)
            if row.beneficiary == owner and (before_id is None or i < before_id)
        ]
        return mine[:limit]

    def reserve(self, park: str, owner: Beneficiary, amount: int, now: datetime) -> Payout | None:
        balance = self.balance(owner)
        if balance.available < amount:
            return None
        self.balances[owner] = replace(balance, reserved=balance.reserved + amount)
        payout = Payout(
            len(self.payout_rows) + 1, park, owner, amount, PayoutStatus.PENDING, now, now
        )
        self.payout_rows[payout.id] = payout
        return payout

    def payout(self, payout_id: int) -> Payout | None:
        return self.payout_rows.get(payout_id)

    def move_payout(
        self,
        payout_id: int,
        current: PayoutStatus,
        target: PayoutStatus,
        now: datetime,
        note: str | None = None,
    ) -> bool:
        payout = self.payout_rows.get(payout_id)
        if payout is None or payout.status is not current:
            return False
        balance = self.balance(payout.owner)
        reserved = balance.reserved - (payout.amount_kopecks if not target.reserves else 0)
        paid = balance.paid + (payout.amount_kopecks if target is PayoutStatus.CONFIRMED else 0)
        self.balances[payout.owner] = replace(balance, reserved=reserved, paid=paid)
        self.payout_rows[payout_id] = replace(payout, status=target, updated_at=now, note=note)
        return True

    def payouts(
        self,
        *,
        park: str | None = None,
        owner: Beneficiary | None = None,
        status: PayoutStatus | None = None,
    ) -> list[Payout]:
        return [
            p
            for p in self.payout_rows.values()
            if (park is None or p.park == park)
            and (owner is None or p.owner == owner)
            and (status is None or p.status is status)
        ]

    def month_total(self, owner: Beneficiary, month: str) -> int:
        return sum(
            row.amount_kopecks
            for _, _, row in self.rows
            if row.beneficiary == owner and row.month == month
        )

    def referral_count(self, owner: Beneficiary) -> int:
        return sum(1 for _, _, facts in self.drivers.values() if facts.referrer == owner)

    def month_entries(self, park: str, month: str) -> list[tuple[PostedAccrual, datetime]]:
        completed = {order.id: order.completed_at for order in self.stored.values()}
        return [
            (PostedAccrual(i, row), completed[order_id])
            for i, order_id, row in self.rows
            if row.month == month and self.drivers[row.referred_driver_id][0] == park
        ]
