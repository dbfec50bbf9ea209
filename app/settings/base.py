"""The base of every section: unknown keys are errors, ``<name>_file`` reads a secret."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator

from app.settings.masking import redacted_repr_args
from app.settings.secret_files import read_secret_files


class Section(BaseModel):
    """A ``[section]`` of the file (or one ``[[parks]]`` entry).

    Declaring a field ``x_file`` beside a secret ``x`` is all a section needs for ``x`` to
    be readable from a file (see ``app.settings.secret_files``).
    """

    # Unknown keys are errors: a typo such as ``sendr = "http"`` must not silently fall
    # back to the default. TOML has ``inf`` and ``nan``; no interval or rate here means them.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    masked_urls: ClassVar[tuple[str, ...]] = ()
    """Fields holding URLs that may carry credentials: masked in repr and redacted dumps."""

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, data: Any) -> Any:
        return read_secret_files(cls, data)

    def __repr_args__(self) -> Iterator[tuple[str, Any]]:
        return redacted_repr_args(self, self.masked_urls)
