from __future__ import annotations

import pytest

from core.domain.phones import InvalidPhone, mask_phone, normalize_phone


@pytest.mark.parametrize(
    "raw",
    ["8 916 123-45-67", "+7(916)1234567", "+7 916 123 45 67", "79161234567", "9161234567"],
)
def test_common_russian_formats_become_e164(raw: str) -> None:
    assert normalize_phone(raw, "RU") == "+79161234567"


@pytest.mark.parametrize(
    "raw",
    ["", "hello", "12345", "+1 202 555 0143", "+7 916 123", "😀", "1" * 100, "+380 44 123 4567"],
)
def test_junk_and_foreign_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidPhone):
        normalize_phone(raw, "RU")


def test_region_comes_from_the_park() -> None:
    assert normalize_phone("050 123 4567", "UA") == "+380501234567"


def test_masked_phone_keeps_only_the_last_digits() -> None:
    assert mask_phone("+79161234567") == "+7 *** ***-45-67"
    assert mask_phone(None) == "-"
