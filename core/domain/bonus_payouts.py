"""Payout requests: statuses, who may move them where, and what a request must satisfy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core.domain.bonus import Beneficiary


class PayoutStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    ERROR = "error"

    @property
    def reserves(self) -> bool:
        """Whether the amount is still held back from the available balance."""
        return self in (PayoutStatus.PENDING, PayoutStatus.PROCESSING)


class Actor(StrEnum):
    REQUESTER = "requester"  # the driver or partner who asked
    ADMIN = "admin"


# Which moves exist and who may make them: the requester may only cancel, and only while
# nobody has started paying; an admin takes a request into processing and settles it.
_MOVES: dict[tuple[PayoutStatus, PayoutStatus], frozenset[Actor]] = {
    (PayoutStatus.PENDING, PayoutStatus.PROCESSING): frozenset({Actor.ADMIN}),
    (PayoutStatus.PENDING, PayoutStatus.CANCELLED): frozenset({Actor.ADMIN, Actor.REQUESTER}),
    (PayoutStatus.PENDING, PayoutStatus.ERROR): frozenset({Actor.ADMIN}),
    (PayoutStatus.PROCESSING, PayoutStatus.CONFIRMED): frozenset({Actor.ADMIN}),
    (PayoutStatus.PROCESSING, PayoutStatus.ERROR): frozenset({Actor.ADMIN}),
}


def move_refusal(current: PayoutStatus, target: PayoutStatus, actor: Actor) -> str | None:
    """None if ``actor`` may move a request from ``current`` to ``target``, else why not."""
    allowed = _MOVES.get((current, target))
    if target is PayoutStatus.CANCELLED and current is not PayoutStatus.PENDING:
        return f"a payout request can be cancelled only while pending; this one is {current}"
    if allowed is None:
        return f"a {current} payout request cannot become {target}"
    if actor not in allowed:
        return f"only an administrator can mark a payout request {target}"
    return None


class PayoutRefusal(StrEnum):
    BELOW_MINIMUM = "below_minimum"
    NOT_POSITIVE = "not_positive"
    INSUFFICIENT = "insufficient"


def request_refusal(amount_kopecks: int, minimum_kopecks: int) -> PayoutRefusal | None:
    """What is wrong with the amount on its own; the balance is checked by the database."""
    if isinstance(amount_kopecks, bool) or not isinstance(amount_kopecks, int):
        return PayoutRefusal.NOT_POSITIVE
    if amount_kopecks <= 0:
        return PayoutRefusal.NOT_POSITIVE
    if amount_kopecks < minimum_kopecks:
        return PayoutRefusal.BELOW_MINIMUM
    return None


@dataclass(frozen=True)
class Payout:
    id: int
    park: str
    owner: Beneficiary
    amount_kopecks: int
    status: PayoutStatus
    requested_at: datetime
    updated_at: datetime
    note: str | None = None


@dataclass(frozen=True)
class Balance:
    """One beneficiary's money, all integer kopecks.

    ``accrued`` is the ledger's sum (accruals minus reversals); ``reserved`` is held by
    pending and processing payouts; ``paid`` by confirmed ones.
    """

    accrued: int = 0
    reserved: int = 0
    paid: int = 0

    @property
    def available(self) -> int:
        """What a new payout request may take."""
        return self.accrued - self.reserved - self.paid
