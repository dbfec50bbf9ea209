"""The orders CSV reader: each line parsed or refused with its number and reason, any bytes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.commands.orders_csv import OrdersFileError, read_orders

MSK = ZoneInfo("Europe/Moscow")
HEADER = "order_id,driver_id,driver_phone,completed_at,price_kopecks,status\n"


def lines(text: str) -> list[tuple[int, object, str | None]]:
    return [(x.number, x.order, x.reason) for x in read_orders(text.encode(), MSK)]


def test_good_lines_and_bad_lines_with_their_numbers() -> None:
    text = HEADER + (
        "o1,17,,2026-11-23T14:05:00+03:00,45000,completed\n"
        "o2,,+7 916 000-00-10,2026-11-23 14:05,1000,Cancelled\n"
        "\n"
        "o3,17,,yesterday,1000,completed\n"
        "o4,17,,2026-11-23T10:00:00Z,12.50,completed\n"
        ",17,,2026-11-23T10:00:00Z,1,completed\n"
        "o6,,,2026-11-23T10:00:00Z,1,completed\n"
        "o7,x1,,2026-11-23T10:00:00Z,1,completed\n"
    )
    got = lines(text)
    assert [number for number, _, _ in got] == [2, 3, 5, 6, 7, 8, 9]
    first, second = got[0][1], got[1][1]
    assert first.external_id == "o1"  # type: ignore[attr-defined]
    assert first.driver_id == 17  # type: ignore[attr-defined]
    assert first.price_kopecks == 45000  # type: ignore[attr-defined]
    assert first.completed_at == datetime(2026, 11, 23, 11, 5, tzinfo=UTC)  # type: ignore[attr-defined]
    # No offset: the park's local time.
    assert second.completed_at.utcoffset() == timedelta(hours=3)  # type: ignore[attr-defined]
    assert second.status == "cancelled"  # type: ignore[attr-defined]
    assert second.driver_phone == "+7 916 000-00-10"  # type: ignore[attr-defined]
    reasons = {number: reason for number, _, reason in got[2:]}
    assert "ISO 8601" in reasons[5]
    assert "whole number of kopecks" in reasons[6]
    assert "order_id is empty" in reasons[7]
    assert "driver_id or driver_phone" in reasons[8]
    assert "driver_id must be" in reasons[9]


def test_columns_in_any_order_extra_ignored_and_bom() -> None:
    text = "\ufeffStatus,Price_Kopecks,extra,Completed_At,Order_ID,Driver_Phone\n" + (
        "completed,100,whatever,2026-11-23T10:00:00+00:00,a,89160000010\n"
    )
    (line,) = lines(text)
    assert line[1].external_id == "a"  # type: ignore[attr-defined]
    assert line[1].completed_at.utcoffset() == timedelta(0)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"order_id,status\n", "lacks"),
        (b"\xff\xfe\x00bad", "UTF-8"),
    ],
)
def test_unreadable_files(data: bytes, message: str) -> None:
    with pytest.raises(OrdersFileError, match=message):
        list(read_orders(data, MSK))


def test_nul_and_broken_quotes_are_reasons_not_crashes() -> None:
    got = lines(HEADER + "o\x001,1,,2026-11-23T10:00:00Z,1,completed\n" + 'o2,"1,\n')
    assert got[0][2] == "contains a NUL character"
    assert got[1][1] is None
    assert got[1][2]


@given(st.binary(max_size=300))
def test_any_bytes_after_a_header_are_lines_or_reasons(tail: bytes) -> None:
    message = ""
    try:
        got = list(read_orders(HEADER.encode() + tail, MSK))
    except OrdersFileError as exc:
        got, message = [], str(exc)
    # The one whole-file refusal bytes can cause is the encoding; all else is per line.
    assert not message or "UTF-8" in message
    for line in got:
        assert (line.order is None) != (line.reason is None)
        assert line.number >= 2


@given(st.text(max_size=200))
def test_any_text_after_a_header_is_lines_or_reasons(tail: str) -> None:
    for line in read_orders((HEADER + tail).encode("utf-8", "replace"), MSK):
        assert (line.order is None) != (line.reason is None)
