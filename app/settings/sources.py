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
