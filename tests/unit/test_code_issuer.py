from __future__ import annotations

import pytest

from core.domain.codes import MAX_LENGTH, MIN_LENGTH
from core.domain.errors import CodeSpaceExhausted
from core.domain.model import OwnerKind
from core.services.codes import ATTEMPTS_PER_LENGTH, CodeIssuer


class CrowdedCodes:
    """Refuses every code shorter than ``free_from``: a code space filled up to that length."""

    def __init__(self, free_from: int) -> None:
        self.free_from = free_from
        self.tries: list[str] = []

    def reserve(self, code: str, park: str, kind: OwnerKind) -> bool:
        self.tries.append(code)
        return len(code) >= self.free_from


def test_codes_start_short() -> None:
    codes = CrowdedCodes(free_from=MIN_LENGTH)
    code = CodeIssuer().issue(codes, "mos", OwnerKind.DRIVER)  # type: ignore[arg-type]
    assert len(code) == MIN_LENGTH
    assert codes.tries == [code]


def test_codes_grow_when_the_space_is_crowded_and_stay_grown() -> None:
    issuer = CodeIssuer()
    codes = CrowdedCodes(free_from=MIN_LENGTH + 1)
    code = issuer.issue(codes, "mos", OwnerKind.DRIVER)  # type: ignore[arg-type]
    assert len(code) == MIN_LENGTH + 1
    assert len(codes.tries) == ATTEMPTS_PER_LENGTH + 1
    # The issuer remembers: the next code does not retry the crowded length.
    codes.tries.clear()
    issuer.issue(codes, "mos", OwnerKind.DRIVER)  # type: ignore[arg-type]
    assert len(codes.tries) == 1


def test_generation_never_loops_forever() -> None:
    codes = CrowdedCodes(free_from=MAX_LENGTH + 1)
    with pytest.raises(CodeSpaceExhausted):
        CodeIssuer().issue(codes, "mos", OwnerKind.DRIVER)  # type: ignore[arg-type]
    assert len(codes.tries) == ATTEMPTS_PER_LENGTH * (MAX_LENGTH - MIN_LENGTH + 1)
