"""Where settings come from: ``TAXIREG_*`` environment variables and one TOML file."""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, TomlConfigSettingsSource

from app.settings.errors import ConfigError

ENV_PREFIX = "TAXIREG_"
CONFIG_ENV_VAR = "TAXIREG_CONFIG"

# The TOML path travels from load_settings() to settings_customise_sources() (a
# classmethod, so it cannot take arguments) through a ContextVar rather than a
# module global: two loads in concurrent tasks or threads must not see each other's file.
toml_path: ContextVar[Path | None] = ContextVar("taxireg_toml_path", default=None)


def sources(
    settings_cls: type[BaseSettings],
    init_settings: PydanticBaseSettingsSource,
    env_settings: PydanticBaseSettingsSource,
) -> tuple[PydanticBaseSettingsSource, ...]:
    """The sources in priority order: init kwargs > environment > TOML (> field defaults).

    dotenv/secret-dir sources are dropped on purpose (see the package docstring).
    """
    found: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
    path = toml_path.get()
    if path is not None:
        check_key_depth(path)
        try:
            # The source parses the file right here, in its constructor.
            found.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        except RecursionError:
            # tomllib parses nested arrays and tables by recursion: `x = [[[...]]]` a few
            # thousand deep exhausts the stack instead of failing as bad TOML.
            raise ConfigError(
                f"config error: invalid TOML: nested too deeply (file {path})"
            ) from None
    return tuple(found)


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
