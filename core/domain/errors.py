"""Domain errors that admin tools show as one clear line."""

from __future__ import annotations


class DomainError(Exception):
    """A rule of the domain refused the request; the message says which and why."""


class UnknownPark(DomainError):
    def __init__(self, slug: str) -> None:
        super().__init__(f"unknown park: {slug}")
        self.slug = slug


class InvalidPhoneError(DomainError):
    def __init__(self, raw: str, region: str) -> None:
        # An operator's paste can be anything, 100 KB included: the one-line error shows
        # enough to recognise it, not all of it.
        shown = repr(raw[:40]) + ("…" if len(raw) > 40 else "")
        super().__init__(f"not a valid {region} phone number: {shown}")


class DuplicatePartner(DomainError):
    def __init__(self, park: str, phone_masked: str, name: str | None, code: str) -> None:
        who = f"{name} ({phone_masked})" if name else phone_masked
        super().__init__(f"park {park} already has this partner: {who}, code {code}")
        self.code = code


class DriverNotFound(DomainError):
    def __init__(self, park: str, phone_masked: str) -> None:
        super().__init__(f"no driver with phone {phone_masked} in park {park}")


class CodeRefused(DomainError):
    """A referral code cannot be used here; the message says why."""


class CodeSpaceExhausted(DomainError):
    def __init__(self) -> None:
        super().__init__("could not find a free referral code; the code space is full")
