"""Referral codes: the alphabet, input normalisation and generation."""

from __future__ import annotations

import re
import secrets
from urllib.parse import parse_qs

from core.domain import limits
from core.domain.text import clean_line

# Lowercase latin letters and digits without the look-alikes 0/o, 1/l/i: a code read aloud
# or copied from a screenshot survives.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
MIN_LENGTH = 4
MAX_LENGTH = 12

_CODE_RE = re.compile(rf"^[{ALPHABET}]{{{MIN_LENGTH},{MAX_LENGTH}}}$")
# Cyrillic letters that look like latin ones: people switch keyboard layouts mid-word.
_LOOKALIKES = str.maketrans("аеорсхктумнв", "aeopcxktymhb")
_QUOTES = "\"'`«»“”„‘’ \t\r\n\u00a0"
_LINK_PARAMS = ("code", "start", "ref")
_URL_BLANKS = str.maketrans("", "", "\t\r\n")
# Longer input cannot be a code or a link to one; refusing it early keeps 10 KB pastes cheap.
MAX_INPUT = 512


def split_payload(payload: str) -> tuple[str, str | None]:
    """``a74t-src1`` -> (``a74t``, ``src1``): a deep-link payload may carry a source tag.

    The tag is stored as given, so it is cleaned and cut to the column here.
    """
    code, sep, tag = payload.partition("-")
    return code, (clean_line(tag, limits.SOURCE_TAG) or None) if sep else None


def normalize_code(raw: str) -> str | None:
    """Reduce what a person typed or pasted to a code, or None if it cannot be one."""
    if len(raw) > MAX_INPUT:
        return None
    text = raw.strip(_QUOTES)
    if "=" in text or "/" in text:
        text = _code_from_link(text)
        if text is None:
            return None
    text = text.lower().translate(_LOOKALIKES)
    return text if _CODE_RE.match(text) else None


def normalize_payload(raw: str) -> tuple[str | None, str | None]:
    """A deep-link payload (``a74t`` or ``a74t-src1``) -> (code or None, source tag)."""
    code, tag = split_payload(raw.strip())
    return normalize_code(code), tag


def looks_like_code(code: str) -> bool:
    return bool(_CODE_RE.match(code))


def generate_code(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def _code_from_link(text: str) -> str | None:
    # The query is what follows the first '?' before any '#', as urlsplit reads it. Cut by
    # hand because urlsplit raises on what it finds malformed ('[' gives "Invalid IPv6 URL",
    # a bracketed host that is no IP address raises from ipaddress), and a paste must get an
    # answer, never an exception. Like urlsplit, ignore the TAB/CR/LF a paste can carry.
    query = parse_qs(text.translate(_URL_BLANKS).partition("#")[0].partition("?")[2])
    for name in _LINK_PARAMS:
        values = query.get(name)
        if values:
            return split_payload(values[0].strip())[0]
    return None
