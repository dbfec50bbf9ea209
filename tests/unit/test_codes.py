from __future__ import annotations

import pytest

from core.domain.codes import ALPHABET, generate_code, normalize_code, normalize_payload


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a74t", "a74t"),
        ("A74T", "a74t"),
        ("  a74t \n", "a74t"),
        ('"a74t"', "a74t"),
        ("«a74t»", "a74t"),
        ("'A74t'", "a74t"),
        ("https://mos-gortaxi.ru/ref?code=a74t", "a74t"),
        ("mos-gortaxi.ru/ref?code=A74T", "a74t"),
        ("https://t.me/mos_gortaxi_bot?start=a74t", "a74t"),
        ("t.me/mos_gortaxi_bot?start=a74t-src1", "a74t"),
        ("https://vk.me/mosgortaxi?ref=a74t&ref_source=flyer", "a74t"),
        # Cyrillic look-alikes typed on a Russian layout.
        ("а74т", "a74t"),
        ("А74Т", "a74t"),
        ("вкхр", "bkxp"),
        ("еумн", "eymh"),
        ("с2с2", "c2c2"),
    ],
)
def test_normalises_what_people_type_and_paste(raw: str, expected: str) -> None:
    assert normalize_code(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "a7",  # too short
        "a74t!",
        "😀😀😀😀",
        "привет",
        "a0b1",  # 0 and 1 are not in the alphabet
        "ilo2",  # i, l, o neither
        "x" * 10_000,
        "https://mos-gortaxi.ru/ref",  # a link without a code
        "https://mos-gortaxi.ru/ref?code=",
        "/start",
    ],
)
def test_refuses_what_cannot_be_a_code(raw: str) -> None:
    assert normalize_code(raw) is None


def test_payload_carries_an_optional_source_tag() -> None:
    assert normalize_payload("a74t-src1") == ("a74t", "src1")
    assert normalize_payload("A74T") == ("a74t", None)
    assert normalize_payload("junk!") == (None, None)


def test_generated_codes_use_only_the_alphabet() -> None:
    codes = {generate_code(5) for _ in range(200)}
    assert all(len(code) == 5 and set(code) <= set(ALPHABET) for code in codes)
    assert len(codes) > 190  # random, not a constant
    assert not set("01ilo") & set(ALPHABET)
