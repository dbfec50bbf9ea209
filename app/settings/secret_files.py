"""Secrets from files: a key ``<name>_file`` beside ``<name>`` names a file holding the value.

systemd credentials (``$CREDENTIALS_DIRECTORY``) and container secrets (``/run/secrets``)
hand a service its secrets as files. Reading them here keeps tokens out of the config file
and out of the environment, which every child process inherits.

The rule is generic: any section that declares both ``x`` and ``x_file`` gets it, so a new
secret needs only its two fields.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails

from app.settings.checks import blank_to_none, error

SUFFIX = "_file"
MAX_BYTES = 64 * 1024  # far above any token or URL; stops /dev/zero or a log file early


class SecretFileError(Exception):
    """The file cannot give a secret. ``str(exc)`` names the path, never the contents."""


def secret_file_pairs(model: type[BaseModel]) -> list[tuple[str, str]]:
    """``(name, name_file)`` for every field ``name_file`` whose ``name`` is a field too."""
    fields = model.model_fields
    return [
        (name.removesuffix(SUFFIX), name)
        for name in fields
        if name.endswith(SUFFIX) and name.removesuffix(SUFFIX) in fields
    ]


def read_secret_files(model: type[BaseModel], data: Any) -> Any:
    """Fill ``name`` from the file ``name_file`` names, before any field is validated.

    Before, so that every rule about ``name`` (a token needs a username, ``sms.url`` is
    required for the http sender) sees the value from the file. Problems are reported on
    the ``name_file`` key.
    """
    if not isinstance(data, dict):
        return data  # a model instance, or garbage that field validation will name
    pairs = secret_file_pairs(model)
    if not pairs:
        return data
    data = dict(data)
    problems: list[InitErrorDetails] = []
    for name, file_key in pairs:
        path = blank_to_none(data.get(file_key))
        data[file_key] = path  # an empty env var unsets the key, as for every other key
        if not isinstance(path, str | os.PathLike):
            continue  # None, or a wrong type that the field's own validation reports
        if blank_to_none(data.get(name)) is not None:
            message = f"set either {name} or {file_key}, not both"
            problems.append(_problem(file_key, "secret_file_conflict", message))
            continue
        try:
            data[name] = read_secret(path)
        except SecretFileError as exc:
            problems.append(_problem(file_key, "secret_file", str(exc)))
    if problems:
        # A ValidationError raised here keeps each problem's key in its location.
        raise ValidationError.from_exception_data(model.__name__, problems)
    return data


def read_secret(value: str | os.PathLike[str]) -> str:
    """The secret in the file: one line, its trailing newline removed.

    A relative path is relative to the working directory, and ``~`` is expanded.
    """
    path = Path(value).expanduser()
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise SecretFileError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise SecretFileError(f"not a file: {path}") from None
    except OSError as exc:
        raise SecretFileError(f"cannot read file: {exc.strerror or exc} ({path})") from None
    if len(raw) > MAX_BYTES:
        raise SecretFileError(f"file is larger than {MAX_BYTES // 1024} KiB: {path}")
    try:
        # utf-8-sig: a byte-order mark from a Windows editor is never part of a secret.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SecretFileError(f"not UTF-8 text: {path}") from None
    # `echo token > file` and most editors end the file with a newline; it is not the secret.
    text = text.removesuffix("\n").removesuffix("\r")
    if not text.strip():
        raise SecretFileError(f"file is empty: {path}")
    if "\n" in text or "\r" in text:
        raise SecretFileError(f"must hold the secret on one line: {path}")
    return text


def _problem(key: str, kind: str, message: str) -> InitErrorDetails:
    return InitErrorDetails(type=error(kind, message), loc=(key,), input=None)
