"""Phone numbers: one canonical form (E.164) for lookups, a masked form for logs and alerts."""

from __future__ import annotations

import re

_MAX_INPUT = 64
_ALLOWED = re.compile(r"^[\d\s()+\-.]+$")


class InvalidPhone(ValueError):
    """The text is not a valid phone number of the park's region."""


def normalize_phone(raw: str, region: str = "RU") -> str:
    """Parse a phone in any common format and return it in E.164.

    Numbers of another country are refused: a park recruits locally and SMS to foreign
    numbers cost money and fail often.
    """
    text = raw.strip()
    if not text or len(text) > _MAX_INPUT or not _ALLOWED.match(text):
        raise InvalidPhone(raw)
    if text[0].isdigit() and len(re.sub(r"\D", "", text)) > 10 and not text.startswith("8"):
        # Telegram contacts come without '+': 79161234567.
        text = "+" + text
    import phonenumbers  # here: its metadata costs a command that parses no phone ~30 ms

    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(raw) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(raw)
    if phonenumbers.region_code_for_number(number) != region:
        raise InvalidPhone(raw)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(phone: str | None) -> str:
    """``+79161234567`` -> ``+7 *** ***-45-67``: enough to recognise, not enough to call."""
    if not phone:
        return "-"
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 5:
        return "***"
    country = digits[:-10] or digits[:1]
    return f"+{country} *** ***-{digits[-4:-2]}-{digits[-2:]}"
