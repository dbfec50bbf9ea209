"""Issuing fresh referral codes."""

from __future__ import annotations

from core.domain.codes import MAX_LENGTH, MIN_LENGTH, generate_code
from core.domain.errors import CodeSpaceExhausted
from core.domain.model import OwnerKind
from core.ports import CodeRepository

# A few collisions in a row mean the space at this length is crowded: grow the code rather
# than keep guessing. The bound on lengths makes the loop finite.
ATTEMPTS_PER_LENGTH = 4


class CodeIssuer:
    def __init__(self, min_length: int = MIN_LENGTH) -> None:
        # Remembered per process so that, once codes grew, we stop retrying short ones.
        self._length = min_length

    def issue(self, codes: CodeRepository, park: str, kind: OwnerKind) -> str:
        length = self._length
        while length <= MAX_LENGTH:
            for _ in range(ATTEMPTS_PER_LENGTH):
                candidate = generate_code(length)
                if codes.reserve(candidate, park, kind):
                    return candidate
            length += 1
            self._length = max(self._length, length)
        raise CodeSpaceExhausted
