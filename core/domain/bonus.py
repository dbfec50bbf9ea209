"""Bonus rules and accrual arithmetic: what one completed order pays up the referral chain.

Money is integer kopecks everywhere; a percentage is integer basis points (1 bp = 0.01 %,
10 000 bp = 100 %). No float is ever made: ``percent_of`` divides integers.

The rules, stated once (README repeats them):

- A park's program has rule *versions*. An order is priced by the version whose ``starts_at``
  is the latest one at or before the order's ``completed_at``; an order completed before the
  first version pays nothing. Accruals are computed once, when the order arrives, so a new
  version never changes what older orders paid (never retroactive).
- Level 1 is the owner of the code the order's driver registered with, level 2 that owner's
  own referrer, and so on. A partner has nobody above them, so a chain ends at a partner.
- Percentages round half down to the kopeck: 0.5 kopeck and less is dropped, more than 0.5
  rounds up (``percent_of``).
- ``min_orders``: a referral starts paying after the referred driver has completed that many
  orders; the order that arrives with ``completed_before >= min_orders`` pays. 0 = from the
  first order. Orders are counted in the order they reach us; cancelled ones do not count.
- ``window_days``: only orders completed within that many days after the referred driver
  registered pay (``completed_at < registered_at + window_days``).
- ``monthly_cap_kopecks``: what one beneficiary may earn from one referred driver in one
  calendar month of the park's time zone; the order that reaches the cap pays the remainder.
  Reversals give the room back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

from core.domain.model import OwnerKind

BASIS_POINTS = 10_000  # 100 %
DEFAULT_PAYOUT_MINIMUM = 500_000  # 5 000 ₽ in kopecks
# At most one accrual alert per beneficiary per this many minutes, summing what accrued.
DEFAULT_ALERT_INTERVAL_MINUTES = 60
# A sanity bound on one order's price (10 million roubles): a typo of several zeros in a
# fleet export is refused instead of paying out a fortune.
MAX_PRICE_KOPECKS = 1_000_000_000


_zone = lru_cache(maxsize=64)(ZoneInfo)


class RuleError(ValueError):
    """A bonus rule is not well-formed; the message says which field and why."""


class RewardKind(StrEnum):
    FIXED = "fixed"  # kopecks per order
    PERCENT = "percent"  # basis points of the order's price


class OrderStatus(StrEnum):
    COMPLETED = "completed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, order=True)
class Beneficiary:
    """Who is paid: a driver or a partner, by id."""

    kind: OwnerKind
    id: int

    def __post_init__(self) -> None:
        # Beneficiaries key the import's sums and totals, tens of thousands of lookups a
        # batch: the hash is computed once, not from a tuple holding an enum each time.
        object.__setattr__(self, "_hash", hash((self.kind, self.id)))

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined, no-any-return]

    def __eq__(self, other: object) -> bool:
        # Kept by @dataclass (it adds __eq__ only when the class has none): the generated
        # one builds two tuples per call, and an import compares beneficiaries read by
        # different queries as dictionary keys thousands of times a batch.
        if self is other:
            return True
        if type(other) is not Beneficiary:
            return NotImplemented
        return self.id == other.id and self.kind == other.kind

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class LevelRule:
    level: int
    kind: RewardKind
    value: int  # kopecks for FIXED, basis points for PERCENT

    def __post_init__(self) -> None:
        _require_int("level", self.level, minimum=1)
        _require_int("value", self.value, minimum=0)
        if self.kind is RewardKind.PERCENT and self.value > BASIS_POINTS:
            raise RuleError(f"level {self.level}: a percentage above 100 % ({self.value} bp)")

    def share(self, price_kopecks: int) -> int:
        """What this level earns from an order of this price, before any cap."""
        if self.kind is RewardKind.FIXED:
            return self.value
        return percent_of(price_kopecks, self.value)


@dataclass(frozen=True)
class RuleSet:
    """One version of a park's rules."""

    version: int
    starts_at: datetime
    levels: tuple[LevelRule, ...]
    monthly_cap_kopecks: int | None = None
    window_days: int | None = None
    min_orders: int = 0

    def __post_init__(self) -> None:
        _require_int("version", self.version, minimum=1)
        if self.starts_at.tzinfo is None:
            raise RuleError(f"version {self.version}: starts_at needs a time zone")
        numbers = [rule.level for rule in self.levels]
        if numbers != list(range(1, len(numbers) + 1)):
            raise RuleError(f"version {self.version}: levels must be 1..N in order: {numbers}")
        if self.monthly_cap_kopecks is not None:
            _require_int("monthly_cap_kopecks", self.monthly_cap_kopecks, minimum=0)
        if self.window_days is not None:
            _require_int("window_days", self.window_days, minimum=1)
        _require_int("min_orders", self.min_orders, minimum=0)

    @property
    def depth(self) -> int:
        return len(self.levels)


@dataclass(frozen=True)
class BonusProgram:
    """A park's rule versions and payout minimum."""

    park: str
    versions: tuple[RuleSet, ...] = ()
    payout_minimum_kopecks: int = DEFAULT_PAYOUT_MINIMUM
    timezone: str = "Europe/Moscow"
    alert_interval_minutes: int = DEFAULT_ALERT_INTERVAL_MINUTES

    def __post_init__(self) -> None:
        _require_int("payout_minimum_kopecks", self.payout_minimum_kopecks, minimum=1)
        _require_int("alert_interval_minutes", self.alert_interval_minutes, minimum=1)
        for earlier, later in zip(self.versions, self.versions[1:], strict=False):
            if later.version <= earlier.version or later.starts_at <= earlier.starts_at:
                raise RuleError(
                    f"park {self.park}: versions must grow in number and start time "
                    f"({earlier.version} then {later.version})"
                )
        ZoneInfo(self.timezone)  # an unknown zone fails here, at configuration time

    def rules_at(self, moment: datetime) -> RuleSet | None:
        """The version in force at ``moment``: the latest one started at or before it."""
        found = None
        for rules in self.versions:
            if rules.starts_at <= moment:
                found = rules
        return found

    @property
    def alert_interval(self) -> timedelta:
        return timedelta(minutes=self.alert_interval_minutes)

    @property
    def depth(self) -> int:
        """How many levels any version pays: how far up a chain needs to be read."""
        return max((rules.depth for rules in self.versions), default=0)

    def month(self, moment: datetime) -> str:
        """The calendar month (``YYYY-MM``) of ``moment`` in the park's time zone."""
        local = moment.astimezone(_zone(self.timezone))
        return f"{local.year:04d}-{local.month:02d}"


@dataclass(frozen=True)
class Order:
    """One order as the park's fleet system reports it, with the driver resolved to our id."""

    park: str
    external_id: str
    driver_id: int
    completed_at: datetime
    price_kopecks: int
    status: OrderStatus


@dataclass(frozen=True)
class Accrual:
    """One ledger row. A reversal has a negative amount and points at the row it reverses."""

    order_external_id: str
    beneficiary: Beneficiary
    referred_driver_id: int
    level: int
    rule_version: int
    amount_kopecks: int
    month: str
    reversal_of: int | None = None


def percent_of(price_kopecks: int, basis_points: int) -> int:
    """``price * bp / 10 000`` rounded half down to the kopeck, in integers only."""
    whole, rest = divmod(price_kopecks * basis_points, BASIS_POINTS)
    return whole + 1 if rest * 2 > BASIS_POINTS else whole


def accruals(
    order: Order,
    program: BonusProgram,
    chain: Sequence[Beneficiary],
    *,
    registered_at: datetime,
    completed_before: int,
    month_to_date: Mapping[Beneficiary, int],
    month: str | None = None,
) -> list[Accrual]:
    """The rows one completed order adds to the ledger.

    ``chain`` is the referral chain above the order's driver (level 1 first);
    ``completed_before`` counts the driver's earlier completed orders; ``month_to_date`` is,
    per beneficiary, what they have already earned from this driver in the order's month.
    ``month`` is ``program.month(order.completed_at)`` when the caller has it already.
    Rows of zero kopecks are not written.
    """
    if order.status is not OrderStatus.COMPLETED:
        return []
    rules = program.rules_at(order.completed_at)
    if rules is None or completed_before < rules.min_orders:
        return []
    if rules.window_days is not None and order.completed_at >= registered_at + timedelta(
        days=rules.window_days
    ):
        return []
    month = month or program.month(order.completed_at)
    rows: list[Accrual] = []
    for rule, beneficiary in zip(rules.levels, chain, strict=False):
        amount = rule.share(order.price_kopecks)
        if rules.monthly_cap_kopecks is not None:
            room = rules.monthly_cap_kopecks - month_to_date.get(beneficiary, 0)
            amount = max(0, min(amount, room))
        if amount:
            rows.append(
                Accrual(
                    order_external_id=order.external_id,
                    beneficiary=beneficiary,
                    referred_driver_id=order.driver_id,
                    level=rule.level,
                    rule_version=rules.version,
                    amount_kopecks=amount,
                    month=month,
                )
            )
    return rows


@dataclass(frozen=True)
class PostedAccrual:
    """A ledger row as stored, with its id: what a reversal points at."""

    id: int
    accrual: Accrual


def reversals(posted: Sequence[PostedAccrual], reversed_ids: frozenset[int]) -> list[Accrual]:
    """Negative rows that cancel every positive row of an order not reversed yet."""
    out = []
    for row in posted:
        original = row.accrual
        if original.reversal_of is not None or original.amount_kopecks <= 0:
            continue
        if row.id in reversed_ids:
            continue
        out.append(
            Accrual(
                order_external_id=original.order_external_id,
                beneficiary=original.beneficiary,
                referred_driver_id=original.referred_driver_id,
                level=original.level,
                rule_version=original.rule_version,
                amount_kopecks=-original.amount_kopecks,
                month=original.month,
                reversal_of=row.id,
            )
        )
    return out


def _require_int(name: str, value: object, *, minimum: int) -> None:
    # bool is an int to Python, and a float slipping in would put floats in money.
    if isinstance(value, bool) or not isinstance(value, int):
        raise RuleError(f"{name} must be a whole number, not {value!r}")
    if value < minimum:
        raise RuleError(f"{name} must be at least {minimum}, not {value}")
