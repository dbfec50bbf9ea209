"""Value checks the sections share: one-line errors, blank values, URLs, stored text."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from pydantic import HttpUrl, TypeAdapter, ValidationError, field_validator
from pydantic_core import PydanticCustomError, PydanticKnownError

# C0 and C1 controls, DEL, and every surrogate code point. None belongs in a configured name
# or URL; PostgreSQL refuses NUL and any string that is not valid UTF-8 (an environment
# variable with bad bytes arrives as lone surrogates), where SQLite would quietly store them.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def error(kind: str, message: str) -> PydanticCustomError:
    # Custom errors render ``message`` verbatim; a ValueError would get pydantic's
    # "Value error, " prefix, which is noise in a one-line operator message.
    return PydanticCustomError(kind, message)


def blank_to_none(value: Any) -> Any:
    # An empty env var (TAXIREG_SMS__URL=) is the natural way to unset an optional
    # value that the TOML file sets; treat it as "not set" rather than as a bad URL.
    if isinstance(value, str) and not value.strip():
        return None
    return value


def blank_is_none(*fields: str) -> Any:
    """A section's before-validator of optional ``fields``: a blank value is not set.

    ``_blank = blank_is_none("url")`` in the class body, once for all such fields.
    """
    return field_validator(*fields, mode="before")(blank_to_none)


def check_text(value: str, limit: int | None = None) -> str:
    """Refuse control characters and, with ``limit``, more characters than the column holds.

    Refused rather than cut: the operator wrote this value and should see it used as written.
    """
    if _CONTROLS.search(value):
        raise error("control_characters", "must not contain control characters")
    if limit is not None and len(value) > limit:
        # pydantic's own error, so the wording matches its max_length messages.
        raise PydanticKnownError("string_too_long", {"max_length": limit})
    return value


@cache
def _http_url_adapter() -> TypeAdapter[HttpUrl]:
    # Built on first use: schema construction costs a few ms that the CLI need not pay
    # when no URL is configured.
    return TypeAdapter(HttpUrl)


def check_http_url(value: str, limit: int | None = None) -> str:
    """Validate an http(s) URL but return the operator's string unchanged.

    ``HttpUrl`` would normalise (e.g. add a trailing slash), and these URLs end up in
    messages to drivers exactly as configured. The parser silently drops tabs and newlines
    and escapes NUL, so control characters are refused before it sees the string.
    """
    value = check_text(value.strip(), limit)
    try:
        _http_url_adapter().validate_python(value)
    except ValidationError as exc:
        # Re-raise with pydantic's own wording ("Input should be a valid URL, ...")
        # but without the input, which the nested error would otherwise carry.
        raise error("url_parsing", exc.errors(include_input=False)[0]["msg"]) from None
    return value
