"""Money as text: roubles and percentages read and written exactly, without floats.

Config and CSV files write "2.5" (%) or "5000.50" (₽); parsed as decimals of integers, so
"0.1" is exactly 10 bp and never 0.1000000000000000055.
"""

from __future__ import annotations

import re

_DECIMAL = re.compile(r"([0-9]{1,12})(?:[.,]([0-9]{1,2}))?")


class MoneyError(ValueError):
    """Not an amount or a percentage we can read; the message says what is accepted."""


def parse_percent(text: str) -> int:
    """'2.5', '2,5 %' or '10' (percent) -> basis points: 250, 250, 1000."""
    cleaned = text.strip().removesuffix("%").strip()
    match = _DECIMAL.fullmatch(cleaned)
    if match is None:
        raise MoneyError(f"not a percentage with at most 2 decimals: {text[:40]!r}")
    whole, fraction = match.group(1), (match.group(2) or "").ljust(2, "0")
    value = int(whole) * 100 + int(fraction)
    if value > 10_000:
        raise MoneyError(f"a percentage above 100: {text[:40]!r}")
    return value


def parse_roubles(text: str) -> int:
    """'5000', '5 000,50' or '5000.5 ₽' -> kopecks: 500000, 500050, 500050."""
    cleaned = text.strip().removesuffix("₽").strip().replace(" ", "").replace("\u00a0", "")
    match = _DECIMAL.fullmatch(cleaned)
    if match is None:
        raise MoneyError(f"not an amount in roubles with at most 2 decimals: {text[:40]!r}")
    whole, fraction = match.group(1), (match.group(2) or "").ljust(2, "0")
    return int(whole) * 100 + int(fraction)


def format_roubles(kopecks: int) -> str:
    """12345678 -> '123 456.78 ₽'; negative amounts keep their sign."""
    sign = "-" if kopecks < 0 else ""
    roubles, rest = divmod(abs(kopecks), 100)
    grouped = f"{roubles:,}".replace(",", " ")
    return f"{sign}{grouped}.{rest:02d} ₽"
