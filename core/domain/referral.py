"""Whether a referral code may be used by someone: one rule for the bots and the operators."""

from __future__ import annotations

from enum import StrEnum

from core.domain.model import CodeInfo


class Refusal(StrEnum):
    UNKNOWN = "unknown"
    INACTIVE = "inactive"
    OTHER_PARK = "other_park"  # every code belongs to exactly one park
    OWN = "own"  # the code's owner has this very phone


def refusal(info: CodeInfo | None, park: str, phone: str | None) -> Refusal | None:
    """None if ``info`` (a looked-up code, or None) may be used in ``park`` by ``phone``."""
    if info is None:
        return Refusal.UNKNOWN
    if not info.active:
        return Refusal.INACTIVE
    if info.park != park:
        return Refusal.OTHER_PARK
    if phone is not None and info.owner_phone == phone:
        return Refusal.OWN
    return None
