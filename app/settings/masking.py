"""Keeping secrets out of what settings print: URL credentials, query values and tokens."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr

REDACTED = "***"


def redact_url(url: str) -> str:
    """Hide the password in ``scheme://user:password@host`` and the query values.

    Every query value without a ``{phone}``/``{text}`` placeholder is masked: SMS
    gateways typically take their API key as a query parameter (``?api_id=...``) and
    guessing which names are secret would leak the unusual ones. Over-masking
    (``?ssl=***``) is the safe side.
    """
    parts = urlsplit(url)
    if not parts.scheme:
        return url
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{REDACTED}@{host}"
    query = parts.query
    if query:
        pieces = []
        for piece in query.split("&"):
            key, sep, value = piece.partition("=")
            keep = not sep or "{" in value
            pieces.append(piece if keep else f"{key}={REDACTED}")
        query = "&".join(pieces)
    # Rebuilt by hand: urlunsplit() would mangle sqlite's "scheme:////abs/path" form.
    rebuilt = f"{parts.scheme}://{netloc}{parts.path}"
    rebuilt += f"?{query}" if query else ""
    rebuilt += f"#{parts.fragment}" if parts.fragment else ""
    return rebuilt


def redacted_repr_args(model: BaseModel, url_fields: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    # repr() of settings ends up in logs and tracebacks; URLs may embed credentials.
    for name, value in BaseModel.__repr_args__(model):
        if name in url_fields and isinstance(value, str):
            yield name, redact_url(value)
        else:
            yield name, value


def mask_dump(model: BaseModel, dumped: dict[str, Any]) -> None:
    """Mask, in place, ``model.model_dump(mode="json")`` of ``model`` and everything in it.

    Every ``SecretStr`` that is set becomes ``"***"`` (unset ones stay None), and every
    field a section lists in ``masked_urls`` is passed through ``redact_url``. Walking the
    models rather than naming keys means a new secret is masked without being listed here.
    """
    masked_urls: tuple[str, ...] = getattr(model, "masked_urls", ())
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            dumped[name] = REDACTED
        elif isinstance(value, BaseModel):
            mask_dump(value, dumped[name])
        elif isinstance(value, list):
            for item, item_dumped in zip(value, dumped[name], strict=True):
                if isinstance(item, BaseModel):
                    mask_dump(item, item_dumped)
        elif name in masked_urls and isinstance(value, str):
            dumped[name] = redact_url(dumped[name])
