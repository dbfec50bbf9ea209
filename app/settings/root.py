"""``Settings``: every section together, the park list, and what is derived from them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from app.settings.errors import UnknownPark
from app.settings.masking import mask_dump, redact_url
from app.settings.parks import ParkSettings, check_unique_parks
from app.settings.sections import (
    DatabaseSettings,
    LoggingSettings,
    NotificationSettings,
    RegistrationSettings,
    SmsSettings,
    TelegramSettings,
    VkSettings,
    WebSettings,
)
from app.settings.sources import ENV_PREFIX, sources


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/taxireg``, else ``~/.local/share/taxireg`` (XDG base-dir spec).

    The spec says a relative ``XDG_DATA_HOME`` is invalid and must be ignored.
    """
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "taxireg"


class Settings(BaseSettings):
    """All of taxireg's configuration. Build it with ``load_settings()``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        # A misspelt top-level key in the TOML file is an error, not a silent default.
        extra="forbid",
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    vk: VkSettings = Field(default_factory=VkSettings)
    sms: SmsSettings = Field(default_factory=SmsSettings)
    registration: RegistrationSettings = Field(default_factory=RegistrationSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    web: WebSettings | None = None
    """``[web]``; without it ``taxireg run`` serves no web pages or APIs."""
    parks: list[ParkSettings] = Field(default_factory=list)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return sources(settings_cls, init_settings, env_settings)

    @field_validator("data_dir")
    @classmethod
    def _expand_data_dir(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("parks")
    @classmethod
    def _check_unique(cls, parks: list[ParkSettings]) -> list[ParkSettings]:
        return check_unique_parks(parks)

    @property
    def database_url(self) -> str:
        """The effective SQLAlchemy URL (SQLite under ``data_dir`` by default)."""
        if self.database.url is not None:
            return self.database.url
        return f"sqlite:///{self.data_dir / 'taxireg.db'}"

    def ensure_data_dir(self) -> Path:
        """Create ``data_dir`` if needed (the default SQLite file lives there)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir

    def park(self, slug: str) -> ParkSettings:
        """The park with this slug; raises ``UnknownPark`` if there is none."""
        for park in self.parks:
            if park.slug == slug:
                return park
        raise UnknownPark(slug)

    def redacted_dict(self) -> dict[str, Any]:
        """All settings as JSON-friendly data that is safe to print or log.

        Tokens and other secrets become ``"***"`` when set (None when not); URL passwords
        and query values are masked. ``database_url`` (the effective URL) is added for
        convenience.
        """
        data = self.model_dump(mode="json")
        mask_dump(self, data)
        data["database_url"] = redact_url(self.database_url)
        return data
