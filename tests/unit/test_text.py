"""Sanitising at the edge: whatever arrives, what is kept can be stored on PostgreSQL."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.domain import limits
from core.domain.model import Channel, Identity, Profile
from core.domain.text import MESSAGE, clean, clean_line, clean_name
from core.events import Command, ContactShared, Incoming, Start, Text
from tests.hostile import hostile_text

FUZZ = settings(max_examples=500, deadline=None)
LIMITS = st.integers(min_value=0, max_value=80)


def is_control(char: str) -> bool:
    return ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F


def is_surrogate(char: str) -> bool:
    return 0xD800 <= ord(char) <= 0xDFFF


def assert_storable(text: str) -> None:
    assert "\x00" not in text
    assert not any(is_surrogate(c) for c in text)
    text.encode("utf-8")  # what PostgreSQL requires: this raises on a lone surrogate


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Иван\x00", "Иван"),
        ("a\x1b[31mb", "a[31mb"),  # an ANSI escape loses its ESC
        ("line1\r\nline2\rline3", "line1\nline2\nline3"),
        ("col1\tcol2\n", "col1\tcol2\n"),
        ("x\ud800y\udfffz", "xyz"),
        ("\x7f\x85\x9f", ""),
        ("😀 ok", "😀 ok"),
    ],
)
def test_clean_keeps_text_and_lines_drops_controls(raw: str, expected: str) -> None:
    assert clean(raw) == expected


def test_clean_cuts_to_the_limit() -> None:
    assert clean("x" * 10_000) == "x" * MESSAGE
    assert clean("абвгд", 3) == "абв"
    assert clean("\x00" * 10 + "ab", 1) == "a"  # the limit counts what is kept


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Иван \n Петров\t", "Иван Петров"),
        ("Иван \x00 Петров", "Иван Петров"),  # no double space where a NUL was
        ("Ivan\u202eвоntеп", "Ivanвоntеп"),  # a direction override is gone
        ("\x00\ud800 \t", None),
        ("", None),
        (None, None),
        ("a" * 300, "a" * 200),
    ],
)
def test_clean_name_gives_one_tidy_line(raw: str | None, expected: str | None) -> None:
    assert clean_name(raw, 200) == expected


def test_clean_line_does_not_end_on_a_space_after_the_cut() -> None:
    assert clean_line("abc def", 4) == "abc"


@FUZZ
@given(hostile_text(300), LIMITS)
@example("a\x00\r\n\ud800b", 5)
def test_clean_output_is_storable_short_and_stable(raw: str, limit: int) -> None:
    out = clean(raw, limit)
    assert_storable(out)
    assert not any(is_control(c) and c not in "\t\n" for c in out)
    assert len(out) <= limit
    assert clean(out, limit) == out


@FUZZ
@given(hostile_text(300), LIMITS)
def test_clean_removes_only_junk_and_cuts_what_is_left(raw: str, limit: int) -> None:
    raw = raw.replace("\r", "")  # CR becomes LF: checked above
    kept = "".join(c for c in raw if c in "\t\n" or not (is_control(c) or is_surrogate(c)))
    assert clean(raw, limit) == kept[:limit]


@FUZZ
@given(hostile_text(300), LIMITS)
@example(" a\x00 b ", 3)
@example("ab \u2028 c", 3)
def test_clean_line_is_one_stripped_line(raw: str, limit: int) -> None:
    out = clean_line(raw, limit)
    assert_storable(out)
    assert not any(is_control(c) for c in out)
    assert "  " not in out
    assert out == out.strip()
    assert len(out) <= limit
    assert clean_line(out, limit) == out


@FUZZ
@given(st.one_of(st.none(), hostile_text(400)), LIMITS)
def test_clean_name_is_storable_and_stable(raw: str | None, limit: int) -> None:
    out = clean_name(raw, limit)
    if out is None:
        return
    assert_storable(out)
    assert 0 < len(out) <= limit
    assert not any(is_control(c) for c in out)
    assert not set(out) & set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    assert clean_name(out, limit) == out


# -- events: every channel builds these, so cleaning there covers every channel ------------

WHO = Identity(Channel.VK, "1")


@FUZZ
@given(hostile_text(300), hostile_text(300), hostile_text(100), hostile_text(300))
def test_events_carry_only_storable_text(text: str, payload: str, tag: str, name: str) -> None:
    start = Start(payload, tag)
    incoming = Incoming("mos", WHO, Text(text), Profile(name=name, language=tag))
    assert isinstance(incoming.event, Text)
    assert incoming.profile is not None
    fields = [
        incoming.event.text,
        start.payload,
        start.tag,
        incoming.profile.name,
        incoming.profile.language,
        Command(name).name,
        ContactShared(text, own=True).phone,
    ]
    for value in fields:
        if value is not None:
            assert_storable(value)
    assert start.tag is None or 0 < len(start.tag) <= limits.SOURCE_TAG
    assert incoming.profile.name is None or len(incoming.profile.name) <= limits.PERSON_NAME


def test_events_are_cleaned_when_built() -> None:
    # A VK ref_source over 64 characters failed on PostgreSQL ("value too long").
    assert Start("a74t", "s" * 100).tag == "s" * limits.SOURCE_TAG
    assert Start("\x00", " ").payload is None
    assert Start("\x00", " ").tag is None
    assert Text("a74t\x00").text == "a74t"
    assert Command("help\x00").name == "help"
    assert ContactShared("+7 916 123\x00 45 67", own=True).phone == "+7 916 123 45 67"
    incoming = Incoming("mos", WHO, Text("x"), Profile(name=" Иван\x00 ", language="ru\x00"))
    assert incoming.profile == Profile(name="Иван", language="ru")
    assert Incoming("mos", WHO, Text("x"), Profile(name="\x00")).profile == Profile()
