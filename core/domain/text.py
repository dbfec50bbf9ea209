"""Text from outside (messages, payloads, profile names) made safe to store and show.

PostgreSQL refuses NUL in text and any string that is not valid UTF-8 (a lone surrogate
cannot be encoded); SQLite takes both, so without this the two databases disagree. Control
characters have no business in a name shown to a partner, and a column has a length.
Every function here is total on any ``str`` and idempotent: cleaning twice changes nothing.
"""

from __future__ import annotations

import re

# The longest message a channel delivers (Telegram and VK both stop at 4096 characters);
# nothing longer is ever meaningful input, and cutting it keeps hostile pastes cheap.
MESSAGE = 4096

# C0 controls except TAB and LF, DEL, C1 controls, and every surrogate code point: in a
# Python str a surrogate is always "lone" (a valid pair would be one astral character).
_JUNK = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_JUNK_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Bidirectional embeddings, overrides and isolates: in a name they can reverse the text
# of the alert around it ("…registered by <RLO>…").
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_NEWLINES = re.compile("\r\n?")
_SPACES = re.compile(r"\s+")


def clean(text: str, limit: int = MESSAGE) -> str:
    """Drop control characters (keeping TAB and newlines) and surrogates; cut to ``limit``.

    CR and CRLF become LF first, so a pasted Windows text keeps its lines.
    """
    text = _JUNK.sub("", _NEWLINES.sub("\n", text))
    return text[:limit]


def clean_line(text: str, limit: int) -> str:
    """One line of plain text (a tag, a command name): no controls at all, no outer spaces,
    at most ``limit`` characters. TAB and newlines become spaces rather than glue words."""
    # Controls go before spaces collapse: "a <NUL> b" must not leave two spaces behind.
    text = _SPACES.sub(" ", _JUNK_LINE.sub(_space_or_nothing, text))
    # Strip after the cut too: a cut can end on a space, and a second pass must not change it.
    return text.strip()[:limit].strip()


def clean_name(name: str | None, limit: int) -> str | None:
    """A person's name from a profile: one line, runs of spaces collapsed, no direction
    overrides, at most ``limit`` characters; None when nothing is left."""
    if name is None:
        return None
    return clean_line(_BIDI.sub("", name), limit) or None


def _space_or_nothing(match: re.Match[str]) -> str:
    return " " if match.group().isspace() else ""
