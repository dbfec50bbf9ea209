"""Code and payload parsing is total: any text gives a code or "not a code", never an error.

Hypothesis drives arbitrary text, URL-like strings full of brackets and deep-link payloads
through the parsers and checks what a returned value must look like.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.domain import limits
from core.domain.codes import (
    ALPHABET,
    MAX_LENGTH,
    MIN_LENGTH,
    normalize_code,
    normalize_payload,
)
from tests.hostile import ANY_CHAR, hostile_text

CODE = re.compile(rf"[{ALPHABET}]{{{MIN_LENGTH},{MAX_LENGTH}}}")
FUZZ = settings(max_examples=400, deadline=None)

# Characters that steer URL parsing, plus brackets, controls and a lone surrogate.
_URL_WORDS = (
    "https:// http:// t.me/ vk.me/ ? # & = / : @ % %5B %00 [ ] [::1] [v1.x] [abc] :: "
    "code= start= ref= a74t A74T а74т -src « » '"
)
URL_BITS = st.sampled_from([*_URL_WORDS.split(), "\x00", "\n", "\t", " ", "\ud800"])
URL_LIKE = st.lists(st.one_of(URL_BITS, st.text(ANY_CHAR, max_size=6)), max_size=14).map("".join)
PAYLOAD_LIKE = st.tuples(
    st.one_of(st.sampled_from(["a74t", "A74T", "", "[", "a74t["]), hostile_text(20)),
    st.sampled_from(["", "-"]),
    st.one_of(hostile_text(120), URL_LIKE),
).map("".join)


def check_code(code: str | None) -> None:
    if code is None:
        return
    assert CODE.fullmatch(code), code
    assert len(code) <= limits.CODE
    assert normalize_code(code) == code  # a code is already normal


@pytest.mark.parametrize(
    "raw",
    [
        # Each of these raised ValueError from urllib.parse or ipaddress before.
        "http://[::1",
        "a[b=c/d",
        "https://[abc]/?code=a74t",
        "t.me/bot?start=[",
        "[/=",
    ],
)
def test_bracketed_links_are_read_without_raising(raw: str) -> None:
    code = normalize_code(raw)
    assert code == ("a74t" if "code=a74t" in raw else None)


@FUZZ
@given(hostile_text(600))
@example("x" * 600)
@example("\ud800code=a74t/")
def test_any_text_gives_a_normal_code_or_none(raw: str) -> None:
    check_code(normalize_code(raw))


@FUZZ
@given(URL_LIKE)
def test_url_like_text_gives_a_normal_code_or_none(raw: str) -> None:
    check_code(normalize_code(raw))


@FUZZ
@given(st.sampled_from(["https://x.ru/?code=", "t.me/b?start=", "?ref="]), URL_LIKE)
def test_a_code_survives_junk_after_the_link(prefix: str, junk: str) -> None:
    # "...?code=a74t#<junk>" always yields the code: the fragment is never the query.
    assert normalize_code(f"{prefix}a74t#{junk}") == "a74t"


@FUZZ
@given(st.one_of(PAYLOAD_LIKE, hostile_text(300)))
@example("a74t-" + "\x00" * 3 + "s" * 200)
@example("a74t-[")
def test_payloads_give_a_normal_code_and_a_storable_tag(raw: str) -> None:
    code, tag = normalize_payload(raw)
    check_code(code)
    if tag is not None:
        assert 0 < len(tag) <= limits.SOURCE_TAG
        assert tag == tag.strip()
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in tag)
        tag.encode("utf-8")  # a surrogate would raise here, as PostgreSQL refuses it
    if code is not None:
        # The normal form reads back as itself.
        again = f"{code}-{tag}" if tag is not None else code
        assert normalize_payload(again) == (code, tag)
