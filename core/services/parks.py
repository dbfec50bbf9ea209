"""The parks a service knows, from the config: looked up by slug, unknown slugs refused."""

from __future__ import annotations

from collections.abc import Mapping

from core.domain.errors import UnknownPark
from core.domain.model import Park


def require_park(parks: Mapping[str, Park], slug: str) -> Park:
    try:
        return parks[slug]
    except KeyError:
        raise UnknownPark(slug) from None
