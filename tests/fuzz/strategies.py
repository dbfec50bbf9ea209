"""Hypothesis strategies for the flow fuzz suite's steps (``tests.fuzz.world.Step``)."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.fuzz.world import KINDS, URLISH, Step
from tests.hostile import hostile_text

# URL-like strings and brackets beside the plain hostile text: what a paste looks like.
TEXT = st.one_of(
    hostile_text(80),
    st.sampled_from(URLISH).map(lambda u: u.format(c="a74t", C="A74T")),
    st.text(alphabet="[]()<>{}?=&#/:@.-", max_size=30),
    st.just("x" * 5000),
)


def steps(users: int) -> st.SearchStrategy[Step]:
    return st.builds(
        Step,
        kind=st.sampled_from(KINDS),
        user=st.integers(0, users - 1),
        text=TEXT,
        pick=st.integers(0, 999),
        flag=st.booleans(),
        event=st.sampled_from(("next", "next", "next", "next", "repeat", "jump", "none")),
    )
