"""The two ways settings refuse: unusable configuration, and a park that is not configured."""

from __future__ import annotations


class ConfigError(Exception):
    """Configuration cannot be used. ``str(exc)`` is one line, safe to print (no secrets)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownPark(LookupError):
    """``Settings.park(slug)`` was asked for a slug that is not configured."""

    def __init__(self, slug: str) -> None:
        super().__init__(f"unknown park: {slug!r}")
        self.slug = slug
