"""The referral chain above a driver, and the check that keeps it from ever forming a cycle.

Both take ``referrer_of``: a lookup from a driver's id to who referred them (None if nobody),
so they stay pure; storage answers it from the ``drivers`` table, tests from a dict.
"""

from __future__ import annotations

from collections.abc import Callable

from core.domain.bonus import Beneficiary
from core.domain.model import OwnerKind

ReferrerOf = Callable[[int], Beneficiary | None]


def chain_above(driver_id: int, referrer_of: ReferrerOf, depth: int) -> list[Beneficiary]:
    """Up to ``depth`` beneficiaries above the driver, level 1 first.

    A partner ends the chain: nobody refers a partner. A cycle in stored data (which
    ``would_cycle`` prevents) ends it too, rather than paying someone twice for one order.
    """
    chain: list[Beneficiary] = []
    seen = {driver_id}
    current = referrer_of(driver_id)
    while current is not None and len(chain) < depth:
        if current.kind is OwnerKind.DRIVER and current.id in seen:
            break
        chain.append(current)
        if current.kind is OwnerKind.PARTNER:
            break
        seen.add(current.id)
        current = referrer_of(current.id)
    return chain


def would_cycle(driver_id: int, new_referrer: Beneficiary | None, referrer_of: ReferrerOf) -> bool:
    """Whether making ``new_referrer`` the referrer of driver ``driver_id`` closes a loop.

    It does exactly when the driver already sits somewhere above ``new_referrer`` (or is
    it). A loop already present above is reported as a cycle too: refusing is the safe side.
    """
    seen: set[int] = set()
    current = new_referrer
    while current is not None and current.kind is OwnerKind.DRIVER:
        if current.id == driver_id or current.id in seen:
            return True
        seen.add(current.id)
        current = referrer_of(current.id)
    return False
