from __future__ import annotations

import re

from core.ports import SmsError


class RecordingSms:
    """Keeps every SMS so a test can read the code the user would receive."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.failures = 0  # how many next sends fail

    async def send(self, phone: str, text: str) -> None:
        if self.failures:
            self.failures -= 1
            raise SmsError("gateway down")
        self.sent.append((phone, text))

    def last_code(self, phone: str | None = None) -> str:
        for to, text in reversed(self.sent):
            if phone is None or to == phone:
                match = re.search(r"\b(\d{6})\b", text)
                if match:
                    return match.group(1)
        raise LookupError(f"no SMS code sent to {phone}")
