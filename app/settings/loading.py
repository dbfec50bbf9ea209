"""``load_settings``: read the sources, and turn every failure into one safe line."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings.exceptions import SettingsError

from app.settings.errors import ConfigError
from app.settings.root import Settings
from app.settings.sources import CONFIG_ENV_VAR, ENV_PREFIX, toml_path


def load_settings(config_path: str | Path | None = None, **overrides: Any) -> Settings:
    """Load settings from ``config_path`` (else ``$TAXIREG_CONFIG``, else no file).

    ``overrides`` are keyword arguments to ``Settings`` and beat every other source.
    Raises ``ConfigError`` with a one-line, secret-free message on any problem.
    """
    from_env = False
    if config_path is None or str(config_path) == "":
        env_value = os.environ.get(CONFIG_ENV_VAR, "").strip()
        config_path, from_env = (env_value or None), bool(env_value)

    path: Path | None = None
    if config_path is not None:
        path = Path(config_path).expanduser()
        origin = f" (named by {CONFIG_ENV_VAR})" if from_env else ""
        # TomlConfigSettingsSource silently skips missing files; an operator who named
        # a file wants to hear that it is not there.
        if not path.exists():
            raise ConfigError(f"config error: file not found: {path}{origin}")
        if not path.is_file():
            raise ConfigError(f"config error: not a file: {path}{origin}")

    token = toml_path.set(path)
    try:
        return Settings(**overrides)
    except tomllib.TOMLDecodeError as exc:
        # The decoder's message carries line/column, never the offending text.
        raise ConfigError(f"config error: invalid TOML: {exc} (file {path})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config error: invalid TOML: not UTF-8 text (file {path})") from None
    except OSError as exc:
        raise ConfigError(
            f"config error: cannot read file: {exc.strerror or exc} (file {path})"
        ) from None
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(exc, path, overrides)) from None
    except SettingsError as exc:
        raise ConfigError(_describe_settings_error(exc)) from None
    except RecursionError:
        # The TOML file's own case is caught where it is parsed (sources.py); what is left
        # is JSON in a TAXIREG_* variable (or an argument) nested thousands deep.
        raise ConfigError(
            "config error: a value in the environment is nested too deeply"
        ) from None
    finally:
        toml_path.reset(token)


_MAX_ERRORS_SHOWN = 3


def _describe_validation_error(
    exc: ValidationError, path: Path | None, overrides: Mapping[str, Any]
) -> str:
    # include_input=False is the point: pydantic would otherwise echo the offending
    # value, which may be a bot token. Messages are pydantic's templates or ours, and
    # neither interpolates the input.
    errors = exc.errors(include_input=False, include_url=False, include_context=False)
    described: list[tuple[str, str]] = []
    for error in errors[:_MAX_ERRORS_SHOWN]:
        loc = tuple(error["loc"])
        key = ".".join(str(part) for part in loc) or "settings"
        msg = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            msg = "unknown key"
        described.append((f"{key}: {msg}", _where(loc, path, overrides)))
    more = len(errors) - _MAX_ERRORS_SHOWN
    tail = f"; and {more} more" if more > 0 else ""
    if len({where for _, where in described}) == 1:
        # The usual case (everything from one file): name the source once, at the end.
        line = "; ".join(text for text, _ in described) + tail + described[0][1]
    else:
        line = "; ".join(text + where for text, where in described) + tail
    # One line, whatever a message template might contain.
    return "config error: " + " ".join(line.split())


def _where(loc: tuple[Any, ...], path: Path | None, overrides: Mapping[str, Any]) -> str:
    """Which source most likely supplied the bad value, mirroring source priority."""
    if loc and loc[0] in overrides:
        return ""
    env_names = {name.upper(): name for name in os.environ if name.upper().startswith(ENV_PREFIX)}
    for end in range(len(loc), 0, -1):
        candidate = ENV_PREFIX + "__".join(str(part) for part in loc[:end]).upper()
        if candidate in env_names:
            return f" (env {env_names[candidate]})"
    return f" (file {path})" if path is not None else ""


_SETTINGS_ERROR_FIELD = re.compile(r'field "([^"]+)"')


def _describe_settings_error(exc: SettingsError) -> str:
    # pydantic-settings raises this when an env value for a complex field is not JSON.
    match = _SETTINGS_ERROR_FIELD.search(str(exc))
    if match is None:
        return "config error: " + " ".join(str(exc).split())
    field = match[1]
    env_name = ENV_PREFIX + field.upper().replace(".", "__")
    return f"config error: {field}: invalid JSON in environment variable {env_name}"
