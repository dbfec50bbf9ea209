"""taxireg configuration: one TOML file plus ``TAXIREG_*`` environment overrides.

Sources, highest priority first:

1. keyword arguments (``Settings(...)`` / ``load_settings(path, **overrides)``),
2. environment: ``TAXIREG_<KEY>``, ``__`` between nested keys
   (``TAXIREG_DATABASE__URL``, ``TAXIREG_SMS__SENDER``); complex values such as the
   park list are JSON (``TAXIREG_PARKS='[{"slug": "...", ...}]'``),
3. the TOML file named by ``--config`` or ``TAXIREG_CONFIG``,
4. the defaults below, so a zero-config ``taxireg demo`` runs.

``.env`` files and secret directories are deliberately not read: a stray ``.env`` in
the working directory silently changing a production bot is worse than typing
``export``.

This module is imported by the CLI before anything else, so it must stay light:
no aiogram, vkbottle or SQLAlchemy here (``phonenumbers`` is imported lazily too).
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
import warnings
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from datetime import time
from functools import cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    PositiveInt,
    SecretStr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings.exceptions import SettingsError

from core.domain.model import telegram_link, vk_link

__all__ = [
    "CONFIG_ENV_VAR",
    "ENV_PREFIX",
    "ConfigError",
    "DatabaseSettings",
    "LoggingSettings",
    "NotificationSettings",
    "ParkSettings",
    "RegistrationSettings",
    "Settings",
    "SmsSettings",
    "TelegramSettings",
    "UnknownPark",
    "VkSettings",
    "default_data_dir",
    "load_settings",
]

ENV_PREFIX = "TAXIREG_"
CONFIG_ENV_VAR = "TAXIREG_CONFIG"
REDACTED = "***"

# The TOML path travels from load_settings() to settings_customise_sources() (a
# classmethod, so it cannot take arguments) through a ContextVar rather than a
# module global: two loads in concurrent tasks or threads must not see each other's file.
_toml_path: ContextVar[Path | None] = ContextVar("taxireg_toml_path", default=None)


class ConfigError(Exception):
    """Configuration cannot be used. ``str(exc)`` is one line, safe to print (no secrets)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownPark(LookupError):
    """``Settings.park(slug)`` was asked for a slug that is not configured."""

    def __init__(self, slug: str) -> None:
        super().__init__(f"unknown park: {slug!r}")
        self.slug = slug


# --------------------------------------------------------------------------- helpers


def _error(kind: str, message: str) -> PydanticCustomError:
    # Custom errors render ``message`` verbatim; a ValueError would get pydantic's
    # "Value error, " prefix, which is noise in a one-line operator message.
    return PydanticCustomError(kind, message)


def _blank_to_none(value: Any) -> Any:
    # An empty env var (TAXIREG_SMS__URL=) is the natural way to unset an optional
    # value that the TOML file sets; treat it as "not set" rather than as a bad URL.
    if isinstance(value, str) and not value.strip():
        return None
    return value


@cache
def _http_url_adapter() -> TypeAdapter[HttpUrl]:
    # Built on first use: schema construction costs a few ms that the CLI need not pay
    # when no URL is configured.
    return TypeAdapter(HttpUrl)


def _check_http_url(value: str) -> str:
    """Validate an http(s) URL but return the operator's string unchanged.

    ``HttpUrl`` would normalise (e.g. add a trailing slash), and these URLs end up in
    messages to drivers exactly as configured.
    """
    value = value.strip()
    try:
        _http_url_adapter().validate_python(value)
    except ValidationError as exc:
        # Re-raise with pydantic's own wording ("Input should be a valid URL, ...")
        # but without the input, which the nested error would otherwise carry.
        raise _error("url_parsing", exc.errors(include_input=False)[0]["msg"]) from None
    return value


def _redact_url(url: str) -> str:
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


def _redacted_repr_args(
    model: BaseModel, url_fields: tuple[str, ...]
) -> Iterator[tuple[str, Any]]:
    # repr() of settings ends up in logs and tracebacks; URLs may embed credentials.
    for name, value in BaseModel.__repr_args__(model):
        if name in url_fields and isinstance(value, str):
            yield name, _redact_url(value)
        else:
            yield name, value


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/taxireg``, else ``~/.local/share/taxireg`` (XDG base-dir spec).

    The spec says a relative ``XDG_DATA_HOME`` is invalid and must be ignored.
    """
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "taxireg"


# --------------------------------------------------------------------------- sections


class _Section(BaseModel):
    # Unknown keys are errors: a typo such as ``sendr = "http"`` must not silently fall
    # back to the default.
    model_config = ConfigDict(extra="forbid")


class DatabaseSettings(_Section):
    """``[database]``."""

    url: str | None = None
    """SQLAlchemy URL; None means SQLite in ``data_dir`` (see ``Settings.database_url``)."""
    echo: bool = False

    @field_validator("url", mode="before")
    @classmethod
    def _blank_url(cls, value: Any) -> Any:
        return _blank_to_none(value)

    @field_validator("url")
    @classmethod
    def _normalise_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        scheme, sep, rest = value.partition("://")
        if not sep or not scheme or not rest:
            raise _error(
                "database_url",
                "Input should be an SQLAlchemy URL such as postgresql://user:password@host/db",
            )
        # The storage layer is async-only, so bare schemes (as Heroku-style providers
        # and psql users write them) get the async driver. An explicit driver is the
        # operator's choice and is left alone.
        driver = {
            "postgres": "postgresql+asyncpg",
            "postgresql": "postgresql+asyncpg",
            "sqlite": "sqlite+aiosqlite",
        }.get(scheme.lower(), scheme)
        return f"{driver}://{rest}"

    def __repr_args__(self) -> Iterator[tuple[str, Any]]:
        return _redacted_repr_args(self, ("url",))


class TelegramSettings(_Section):
    """``[telegram]``."""

    api_server: str | None = None
    """Base URL of a self-hosted Bot API server; None means Telegram's own."""
    polling_timeout: PositiveInt = 30
    """Long-poll timeout in seconds."""

    @field_validator("api_server", mode="before")
    @classmethod
    def _blank_server(cls, value: Any) -> Any:
        return _blank_to_none(value)

    @field_validator("api_server")
    @classmethod
    def _check_server(cls, value: str | None) -> str | None:
        # Trailing slash dropped: the Bot API client appends "/bot<token>/<method>".
        return None if value is None else _check_http_url(value).rstrip("/")

    def __repr_args__(self) -> Iterator[tuple[str, Any]]:
        return _redacted_repr_args(self, ("api_server",))


class VkSettings(_Section):
    """``[vk]``."""

    api_url: str = "https://api.vk.com/method/"
    api_version: str = Field(default="5.199", pattern=r"^\d+\.\d+$")

    @field_validator("api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        return _check_http_url(value)


class SmsSettings(_Section):
    """``[sms]``: how one-time codes reach the driver's phone."""

    sender: Literal["log", "http"] = "log"
    # validate_default: the "required when sender = http" rule must fire even when the
    # key is absent, and it must be reported on ``sms.url`` (a model validator would
    # only be able to name ``sms``).
    url: str | None = Field(default=None, validate_default=True)
    """URL template with ``{phone}`` and ``{text}`` placeholders, for sender = "http"."""
    timeout: float = Field(default=10.0, gt=0)

    @field_validator("url", mode="before")
    @classmethod
    def _blank_url(cls, value: Any) -> Any:
        return _blank_to_none(value)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            if info.data.get("sender") == "http":
                raise _error("sms_url_required", 'required when sms.sender = "http"')
            return None
        missing = [p for p in ("{phone}", "{text}") if p not in value]
        if missing:
            raise _error(
                "sms_url_placeholders", "must contain the placeholder(s) " + " and ".join(missing)
            )
        # Validate the shape with harmless stand-ins: braces are not valid URL chars.
        _check_http_url(value.replace("{phone}", "70000000000").replace("{text}", "x"))
        return value.strip()

    def __repr_args__(self) -> Iterator[tuple[str, Any]]:
        return _redacted_repr_args(self, ("url",))


class RegistrationSettings(_Section):
    """``[registration]``: one-time-code and invite-code limits."""

    otp_ttl_seconds: PositiveInt = 300
    otp_max_attempts: PositiveInt = 5
    otp_resend_seconds: int = Field(default=60, ge=0)
    otp_max_per_hour: PositiveInt = 5
    code_max_failures: PositiveInt = 5
    code_failure_window_seconds: PositiveInt = 600
    code_cooldown_seconds: int = Field(default=600, ge=0)


_HH_MM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class NotificationSettings(_Section):
    """``[notifications]``: the outbox relay and scheduled reminders."""

    deliver_interval_seconds: float = Field(default=3.0, gt=0)
    batch_size: PositiveInt = 100
    lease_seconds: PositiveInt = 60
    max_attempts: PositiveInt = 8
    per_bot_rate: float = Field(default=25.0, gt=0)
    """Messages per second per bot."""
    per_chat_interval_seconds: float = Field(default=1.0, ge=0)
    backoff_base_seconds: float = Field(default=2.0, gt=0)
    backoff_max_seconds: float = Field(default=600.0, gt=0)
    unlinked_ttl_hours: PositiveInt = 72
    digest_time: str = "20:00"
    """Local time (park timezone) of the partners' daily digest, HH:MM."""
    abandoned_registration_days: PositiveInt = 30
    enabled: bool = True

    @field_validator("digest_time")
    @classmethod
    def _check_digest_time(cls, value: str) -> str:
        match = _HH_MM.match(value.strip())
        if match is None:
            raise _error("digest_time", "Input should be a time of day as HH:MM, e.g. 20:00")
        # Normalised to HH:MM so that "9:30" and "09:30" compare equal downstream.
        return f"{int(match[1]):02d}:{match[2]}"

    @field_validator("backoff_max_seconds")
    @classmethod
    def _check_backoff(cls, value: float, info: ValidationInfo) -> float:
        base = info.data.get("backoff_base_seconds")
        if base is not None and value < base:
            raise _error("backoff", "must be >= notifications.backoff_base_seconds")
        return value

    @property
    def digest_clock(self) -> time:
        """``digest_time`` as a ``datetime.time``."""
        hour, minute = self.digest_time.split(":")
        return time(int(hour), int(minute))


_LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")

# The key is ``json`` because operators write ``[logging] json = true``; the field
# shadows the deprecated ``BaseModel.json()`` method, which is harmless here and keeps
# ``settings.logging.json`` a plain bool. Only that one warning is silenced.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message='Field name "json"', category=UserWarning)

    class LoggingSettings(_Section):
        """``[logging]``."""

        level: str = "INFO"
        json: bool = False  # type: ignore[assignment]
        """One JSON object per line instead of human-readable lines."""

        @field_validator("level")
        @classmethod
        def _check_level(cls, value: str) -> str:
            level = value.strip().upper()
            level = "WARNING" if level == "WARN" else level
            if level not in _LOG_LEVELS:
                raise _error("log_level", "Input should be one of " + ", ".join(_LOG_LEVELS))
            return level

        @property
        def level_number(self) -> int:
            """The level as the ``logging`` module's integer."""
            return logging.getLevelNamesMapping()[self.level]


_SLUG = r"^[a-z0-9][a-z0-9-]{1,31}$"
_TELEGRAM_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")
_VK_SCREEN_NAME = re.compile(r"^[A-Za-z0-9_.]{2,64}$")


class ParkSettings(_Section):
    """One ``[[parks]]`` entry: a taxi park and its bots."""

    slug: str = Field(pattern=_SLUG)
    """Stable identifier used in links, the database and the CLI."""
    name: str = Field(min_length=1)
    landing_url: str
    """Where a registered driver is sent (the park's referral landing page)."""
    telegram_token: SecretStr | None = None
    # validate_default + declared after telegram_token: the "token needs a username"
    # rule is reported on this key.
    telegram_username: str | None = Field(default=None, validate_default=True)
    vk_group_id: PositiveInt | None = None
    vk_token: SecretStr | None = None
    vk_screen_name: str | None = None
    phone_region: str = "RU"
    """Region for parsing phone numbers written without a country code."""
    timezone: str = "Europe/Moscow"

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str) -> str:
        if not value.strip():
            raise _error("blank", "must not be blank")
        return value.strip()

    @field_validator("landing_url")
    @classmethod
    def _check_landing_url(cls, value: str) -> str:
        return _check_http_url(value)

    @field_validator("telegram_token", "vk_token", mode="before")
    @classmethod
    def _blank_token(cls, value: Any) -> Any:
        return _blank_to_none(value)

    @field_validator("telegram_username", "vk_screen_name", mode="before")
    @classmethod
    def _strip_at(cls, value: Any) -> Any:
        # People copy "@mos_gortaxi_bot" from Telegram; the @ is not part of the name.
        if isinstance(value, str):
            value = value.strip().removeprefix("@")
        return _blank_to_none(value)

    @field_validator("telegram_username")
    @classmethod
    def _check_telegram_username(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            # Without the username the bot's t.me link cannot be built for drivers.
            if info.data.get("telegram_token") is not None:
                raise _error("telegram_username_required", "required when telegram_token is set")
            return None
        if not _TELEGRAM_USERNAME.match(value):
            raise _error(
                "telegram_username",
                "Input should be a Telegram username: a letter, then 4-32 letters, "
                "digits or _ (no @)",
            )
        return value

    @field_validator("vk_token")
    @classmethod
    def _check_vk_token(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        # The group id routes VK events to the park and builds the vk.me link; only
        # complain if vk_group_id was absent, not if it already failed on its own.
        if value is not None and "vk_group_id" in info.data and info.data["vk_group_id"] is None:
            raise _error("vk_group_id_required", "vk_group_id is required when vk_token is set")
        return value

    @field_validator("vk_screen_name")
    @classmethod
    def _check_vk_screen_name(cls, value: str | None) -> str | None:
        if value is not None and not _VK_SCREEN_NAME.match(value):
            raise _error(
                "vk_screen_name", "Input should be a VK short name: letters, digits, _ or ."
            )
        return value

    @field_validator("phone_region")
    @classmethod
    def _check_phone_region(cls, value: str) -> str:
        import phonenumbers  # lazy: only configs with parks pay for the metadata import

        region = value.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise _error(
                "phone_region", "Input should be a region code supported by phonenumbers, e.g. RU"
            )
        return region

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        value = value.strip()
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise _error(
                "timezone", "Input should be an IANA time zone, e.g. Europe/Moscow"
            ) from None
        return value

    @property
    def telegram_link(self) -> str | None:
        return telegram_link(self.telegram_username)

    @property
    def vk_link(self) -> str | None:
        return vk_link(self.vk_screen_name, self.vk_group_id)

    @property
    def zoneinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


# --------------------------------------------------------------------------- root


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
        # Order is priority: init kwargs > environment > TOML > field defaults.
        # dotenv/secret-dir sources are dropped on purpose (see the module docstring).
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _toml_path.get()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @field_validator("data_dir")
    @classmethod
    def _expand_data_dir(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("parks")
    @classmethod
    def _check_unique(cls, parks: list[ParkSettings]) -> list[ParkSettings]:
        # Each of these keys routes an incoming update or a link to exactly one park.
        keys: dict[str, Any] = {
            "slug": lambda p: p.slug,
            # Telegram usernames are case-insensitive.
            "telegram_username": lambda p: p.telegram_username and p.telegram_username.lower(),
            "vk_group_id": lambda p: p.vk_group_id,
        }
        for key, get in keys.items():
            seen: dict[Any, int] = {}
            for index, park in enumerate(parks):
                value = get(park)
                if value is None:
                    continue
                if value in seen:
                    raise _error(
                        "duplicate_park",
                        f"duplicate {key} {getattr(park, key)!r} (parks {seen[value]} "
                        f"and {index}); each park needs its own",
                    )
                seen[value] = index
        return parks

    @property
    def database_url(self) -> str:
        """The effective async SQLAlchemy URL (SQLite under ``data_dir`` by default)."""
        if self.database.url is not None:
            return self.database.url
        return f"sqlite+aiosqlite:///{self.data_dir / 'taxireg.db'}"

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

        Tokens become ``"***"`` when set (None when not); URL passwords and query
        values are masked. ``database_url`` (the effective URL) is added for convenience.
        """
        data = self.model_dump(mode="json")
        data["database_url"] = _redact_url(self.database_url)
        for section, key in (("database", "url"), ("sms", "url"), ("telegram", "api_server")):
            if data[section][key] is not None:
                data[section][key] = _redact_url(data[section][key])
        for park, dumped in zip(self.parks, data["parks"], strict=True):
            for key in ("telegram_token", "vk_token"):
                dumped[key] = REDACTED if getattr(park, key) is not None else None
        return data


# --------------------------------------------------------------------------- loading


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

    token = _toml_path.set(path)
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
    finally:
        _toml_path.reset(token)


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
