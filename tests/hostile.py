"""Hypothesis strategies for hostile text, shared by the unit fuzz tests and the flow fuzz suite.

Plain ``st.text()`` leaves out surrogates and rarely draws control characters; these are
exactly what breaks storage (PostgreSQL refuses NUL and anything that is not UTF-8), so they
are mixed in on purpose.
"""

from __future__ import annotations

from hypothesis import strategies as st

HOSTILE = (
    "\x00\x01\x08\x0b\x1b\x1f\x7f\x85\x9f"  # C0, DEL, C1 controls
    "\ud800\udbff\udc00\udfff"  # lone surrogates
    "\r\n\t \xa0\u2028\u3000"  # blanks of every kind
    "\u202e\u2066\u200d\ufeff"  # direction overrides, a joiner, a BOM
    "İßﬃ😀𝔞"  # case mapping changes the length; astral characters
)
HOSTILE_CHARS = st.sampled_from(list(HOSTILE))
# Every code point, surrogates included, with the hostile ones drawn often.
ANY_CHAR = st.one_of(st.characters(exclude_categories=()), HOSTILE_CHARS)


def hostile_text(max_size: int = 200) -> st.SearchStrategy[str]:
    return st.text(ANY_CHAR, max_size=max_size)
