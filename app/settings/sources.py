"""Where settings come from: ``TAXIREG_*`` environment variables and one TOML file.

Read here rather than through pydantic-settings, whose import (its many providers, dotenv,
the plugin loader) was a tenth of an operator command's start. The rules are the ones it
applied and the tests pin: keyword arguments beat the environment, which beats the file,
and tables merge key by key; ``TAXIREG_<FIELD>`` is matched in any case, ``__`` separates
nested keys (``TAXIREG_DATABASE__URL``), and a value for a table, list or dict is JSON (for
a field that may also be a plain value, a value that is not JSON stays text).
"""

from __future__ import annotations

import json
import os
import tomllib
import types
from collections import deque
from collections.abc import Mapping, Sequence, Set
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, SecretBytes, SecretStr

from app.settings.errors import ConfigError

ENV_PREFIX = "TAXIREG_"
CONFIG_ENV_VAR = "TAXIREG_CONFIG"

# The TOML path travels from load_settings() to Settings() (whose keyword arguments are
# the settings themselves) through a ContextVar rather than a module global: two loads in
# concurrent tasks or threads must not see each other's file.
toml_path: ContextVar[Path | None] = ContextVar("taxireg_toml_path", default=None)


class EnvJsonError(ValueError):
    """A ``TAXIREG_*`` value that must be JSON is not; ``field`` is the top-level key."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


def gather(model: type[BaseModel], init: Mapping[str, Any]) -> dict[str, Any]:
    """The values to validate ``model`` with: the TOML file named by ``toml_path``, then
    the environment, then ``init``, later ones winning key by key."""
    merged: dict[str, Any] = {}
    path = toml_path.get()
    if path is not None:
        check_key_depth(path)
        try:
            with path.open("rb") as file:
                merged = tomllib.load(file)
        except RecursionError:
            # tomllib parses nested arrays and tables by recursion: `x = [[[...]]]` a few
            # thousand deep exhausts the stack instead of failing as bad TOML.
            raise ConfigError(
                f"config error: invalid TOML: nested too deeply (file {path})"
            ) from None
    merged = deep_update(merged, environment(model))
    return deep_update(merged, {name.lower(): value for name, value in init.items()})


def deep_update(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_update(merged[key], value)
        else:
            merged[key] = value
    return merged


def environment(model: type[BaseModel]) -> dict[str, Any]:
    """The model's fields set by ``TAXIREG_*`` variables (names in any case)."""
    env = {name.lower(): value for name, value in os.environ.items()}
    prefix = ENV_PREFIX.lower()
    found: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = prefix + name
        complex_, lenient = _complexity(field.annotation)
        nested = _nested(env, key + "__", field.annotation, name)
        if key not in env:
            if nested:
                found[name] = nested
            continue
        value: Any = env[key]
        if complex_:
            try:
                value = json.loads(value)
            except ValueError:
                if not lenient:
                    raise EnvJsonError(name) from None
            if isinstance(value, dict):
                value = deep_update(value, nested)
        found[name] = value
    return found


def _nested(env: Mapping[str, str], prefix: str, annotation: Any, field: str) -> dict[str, Any]:
    """``TAXIREG_DATABASE__URL=x`` as ``{"url": "x"}``; a value for a table, list or dict
    below is JSON."""
    result: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(prefix):
            continue
        *keys, last = name[len(prefix) :].split("__")
        target: Any = annotation
        into = result
        for key in keys:
            target = _member(target, key)
            into = into.setdefault(key, {}) if isinstance(into, dict) else into
        target = _member(target, last)
        decoded: Any = value
        if target is not None and value:
            complex_, lenient = _complexity(target)
            if complex_:
                try:
                    decoded = json.loads(value)
                except ValueError:
                    if not lenient:
                        raise EnvJsonError(field) from None
        if isinstance(into, dict):
            into[last] = decoded
    return result


def _member(annotation: Any, key: str) -> Any:
    """The type of ``key`` inside ``annotation`` (a model's field, a dict's values), or
    None when it has no such member."""
    if annotation is None:
        return None
    for option in _options(annotation):
        origin = get_origin(option) or option
        if isinstance(origin, type) and issubclass(origin, BaseModel):
            for name, field in origin.model_fields.items():
                if name.lower() == key:
                    return field.annotation
        elif isinstance(origin, type) and issubclass(origin, Mapping):
            args = get_args(option)
            return args[1] if len(args) == 2 else Any
    return None


def _options(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) is Annotated:
        return _options(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return tuple(a for arg in get_args(annotation) for a in _options(arg))
    return (annotation,)


def _complexity(annotation: Any) -> tuple[bool, bool]:
    """(is the value JSON, may it also be plain text): a model, list or dict is JSON; a
    union with one of them tries JSON and keeps the text when it is not."""
    if get_origin(annotation) is Annotated:
        return _complexity(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        if any(_is_complex(arg) for arg in _options(annotation)):
            return True, True
        return False, False
    return _is_complex(annotation), False


def _is_complex(annotation: Any) -> bool:
    target = get_origin(annotation) or annotation
    if not isinstance(target, type) or issubclass(target, (str, bytes, SecretStr, SecretBytes)):
        return False
    return issubclass(target, (BaseModel, Mapping, Sequence, Set, tuple, deque))


# A dotted key costs tomllib time and memory quadratic in its number of parts: one line
# `a.a.a... = 1` of 20,000 parts takes 10 s, and 100,000 parts exhausted memory. No real key
# here has more than three parts, so a hundred is plenty.
MAX_KEY_PARTS = 100


def check_key_depth(path: Path) -> None:
    """Refuse a key with more than ``MAX_KEY_PARTS`` parts before tomllib sees the file.

    A key, a table header and an inline table each sit on one line in TOML, so counting the
    dots outside quotes per line bounds them all. Dots in numbers count too, and a line
    inside a multi-line string is scanned as well: both err on the side of refusing, and
    no real line of this config comes near a hundred.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return  # the TOML source reports these in its own words
    for number, line in enumerate(text.splitlines(), start=1):
        # The cheap count first: almost every line has a handful of dots at most.
        if line.count(".") >= MAX_KEY_PARTS and _dots_outside_strings(line) >= MAX_KEY_PARTS:
            raise ConfigError(
                f"config error: invalid TOML: line {number}: a key has more than "
                f"{MAX_KEY_PARTS} parts (file {path})"
            )


def _dots_outside_strings(line: str) -> int:
    """Dots outside quoted strings and before a comment."""
    dots = 0
    quote = ""
    escaped = False
    for char in line:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\" and quote == '"':
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#":
            break
        elif char == ".":
            dots += 1
    return dots
