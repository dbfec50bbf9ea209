"""Choosing the page's language from the Accept-Language header."""

from __future__ import annotations

from collections.abc import Collection

# A header longer than this is not a browser's; only its start is read.
_MAX_HEADER = 1000


def pick_language(header: str | None, available: Collection[str], default: str) -> str:
    """The available language the visitor ranks highest (q-values, RFC 9110), else default.

    Total on any header: malformed entries are skipped.
    """
    best, best_q = default, 0.0
    for entry in (header or "")[:_MAX_HEADER].split(","):
        tag, _, params = entry.strip().partition(";")
        lang = tag.strip().split("-")[0].lower()
        if lang not in available:
            continue
        q = _quality(params)
        # Strictly higher: of equal q the first listed wins; q=0 means "not this one".
        if q > best_q:
            best, best_q = lang, q
    return best


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value)
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0
