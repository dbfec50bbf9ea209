"""Money text is read exactly (no floats) and refused with a reason when it is not money."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.domain.money import MoneyError, format_roubles, parse_percent, parse_roubles


@pytest.mark.parametrize(
    ("text", "bp"),
    [("2.5", 250), ("2,5 %", 250), ("10", 1000), ("0.1", 10), ("0.01", 1), ("100", 10_000)],
)
def test_percentages(text: str, bp: int) -> None:
    assert parse_percent(text) == bp


@pytest.mark.parametrize(
    "text", ["", "abc", "-1", "1.234", "100.01", "1e2", "nan", "½", "٣", "1 2"]
)
def test_bad_percentages(text: str) -> None:
    with pytest.raises(MoneyError):
        parse_percent(text)


@pytest.mark.parametrize(
    ("text", "kopecks"),
    [("5000", 500_000), ("5 000,50", 500_050), ("5000.5 ₽", 500_050), ("0.01", 1)],
)
def test_roubles(text: str, kopecks: int) -> None:
    assert parse_roubles(text) == kopecks


@pytest.mark.parametrize("text", ["", "-5", "5.001", "five", "1e3", "inf"])
def test_bad_roubles(text: str) -> None:
    with pytest.raises(MoneyError):
        parse_roubles(text)


def test_format() -> None:
    assert format_roubles(12_345_678) == "123 456.78 ₽"
    assert format_roubles(-5) == "-0.05 ₽"
    assert format_roubles(0) == "0.00 ₽"


@given(st.integers(0, 10**14 - 1))
def test_format_then_parse_is_identity(kopecks: int) -> None:
    assert parse_roubles(format_roubles(kopecks)) == kopecks


@given(st.text(max_size=30))
def test_parsing_is_total(text: str) -> None:
    for parse in (parse_percent, parse_roubles):
        try:
            value = parse(text)
        except MoneyError:
            continue
        assert type(value) is int
        assert value >= 0
