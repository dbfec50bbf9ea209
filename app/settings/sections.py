"""The ``[database]``, ``[telegram]``, ``[vk]``, ``[sms]``, ``[registration]``,
``[notifications]`` and ``[logging]`` sections."""

from __future__ import annotations

import logging
import re
import warnings
from datetime import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from app.settings.base import Section
from app.settings.checks import blank_is_none, check_http_url, check_text, error
from core.domain import limits
from core.domain.registration import MIN_OTP_SECRET

# Upper bounds that keep each number inside what it feeds, so a typo of a few zeros is a
# config error rather than a crash later: ten years for a duration ("now minus a TTL" before
# year 1 overflows datetime), and 32 bits for a count (an SQL LIMIT, a counter column).
MAX_DAYS = 3650
MAX_HOURS = MAX_DAYS * 24
MAX_SECONDS = MAX_HOURS * 3600
Count = Annotated[int, Field(gt=0, le=2**31 - 1)]
Seconds = Annotated[int, Field(gt=0, le=MAX_SECONDS)]


class DatabaseSettings(Section):
    """``[database]``."""

    masked_urls: ClassVar[tuple[str, ...]] = ("url",)

    url: str | None = None
    """SQLAlchemy URL; None means SQLite in ``data_dir`` (see ``Settings.database_url``)."""
    url_file: Path | None = None
    """A file holding ``url``: a PostgreSQL URL carries the database password."""
    echo: bool = False

    _blank = blank_is_none("url")

    @field_validator("url")
    @classmethod
    def _normalise_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        scheme, sep, rest = value.partition("://")
        if not sep or not scheme or not rest:
            raise error(
                "database_url",
                "Input should be an SQLAlchemy URL such as postgresql://user:password@host/db",
            )
        # PostgreSQL is reached through SQLAlchemy's asyncio engine, so bare schemes (as
        # Heroku-style providers and psql users write them) get the async driver. SQLite runs
        # on the standard library's driver in a thread of its own (storage.database); the
        # aiosqlite spelling of earlier versions names the same file. Any other explicit
        # driver is the operator's choice and is left alone.
        driver = {
            "postgres": "postgresql+asyncpg",
            "postgresql": "postgresql+asyncpg",
            "sqlite+aiosqlite": "sqlite",
        }.get(scheme.lower(), scheme)
        return f"{driver}://{rest}"


# Telegram's rule for setWebhook's secret_token: 1-256 of these characters.
_TELEGRAM_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class TelegramMode(StrEnum):
    POLLING = "polling"
    WEBHOOK = "webhook"


class VkMode(StrEnum):
    LONG_POLL = "long_poll"
    CALLBACK = "callback"


class TelegramSettings(Section):
    """``[telegram]``."""

    masked_urls: ClassVar[tuple[str, ...]] = ("api_server",)

    api_server: str | None = None
    """Base URL of a self-hosted Bot API server; None means Telegram's own."""
    polling_timeout: Seconds = 30
    """Long-poll timeout in seconds."""
    mode: TelegramMode = TelegramMode.POLLING
    """``webhook``: Telegram POSTs updates to ``[web] public_url``/webhooks/telegram/<park>."""
    webhook_secret: SecretStr | None = None
    """setWebhook's ``secret_token``; generated once into the database when unset."""
    webhook_secret_file: Path | None = None

    _blank = blank_is_none("webhook_secret", "api_server")

    @field_validator("webhook_secret")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _TELEGRAM_SECRET.match(value.get_secret_value()):
            raise error(
                "telegram_webhook_secret",
                "must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)",
            )
        return value

    @field_validator("api_server")
    @classmethod
    def _check_server(cls, value: str | None) -> str | None:
        # Trailing slash dropped: the Bot API client appends "/bot<token>/<method>".
        return None if value is None else check_http_url(value).rstrip("/")


class VkSettings(Section):
    """``[vk]``."""

    api_url: str = "https://api.vk.com/method/"
    api_version: str = Field(default="5.199", pattern=r"^\d+\.\d+$")
    mode: VkMode = VkMode.LONG_POLL
    """``callback``: VK's Callback API POSTs to ``[web] public_url``/webhooks/vk/<park>."""
    callback_confirmation: str | dict[str, str] | None = None
    """The string VK asks the server to return: one for every park, or a table by park slug
    (each community's Callback API settings show its own)."""
    callback_secret: SecretStr | None = None
    """The «Секретный ключ» set in the communities' Callback API settings."""
    callback_secret_file: Path | None = None

    _blank = blank_is_none("callback_secret", "callback_confirmation")

    @field_validator("callback_confirmation")
    @classmethod
    def _check_confirmation(cls, value: str | dict[str, str] | None) -> Any:
        texts = value.values() if isinstance(value, dict) else [value] if value else []
        for text in texts:
            check_text(text.strip(), limits.URL)
            if not text.strip():
                raise error("blank", "must not be blank")
        return value

    def confirmation(self, park: str) -> str | None:
        """The confirmation string of this park's community."""
        value = self.callback_confirmation
        if isinstance(value, dict):
            return value.get(park)
        return value

    @field_validator("api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        return check_http_url(value)


class SmsSettings(Section):
    """``[sms]``: how one-time codes reach the driver's phone."""

    masked_urls: ClassVar[tuple[str, ...]] = ("url",)

    sender: Literal["log", "http"] = "log"
    # validate_default: the "required when sender = http" rule must fire even when the
    # key is absent, and it must be reported on ``sms.url`` (a model validator would
    # only be able to name ``sms``).
    url: str | None = Field(default=None, validate_default=True)
    """URL template with ``{phone}`` and ``{text}`` placeholders, for sender = "http"."""
    url_file: Path | None = None
    """A file holding ``url`` (the gateway's key is usually in it); excludes ``url``."""
    timeout: float = Field(default=10.0, gt=0, le=MAX_SECONDS)
    code_secret: SecretStr | None = None
    """The key one-time codes are hashed with (HMAC); generated into the database when unset."""
    code_secret_file: Path | None = None
    """A file holding ``code_secret``."""

    @field_validator("code_secret")
    @classmethod
    def _check_code_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < MIN_OTP_SECRET:
            raise error("sms_code_secret_short", f"must be at least {MIN_OTP_SECRET} bytes")
        return value

    _blank = blank_is_none("url")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            if info.data.get("sender") == "http":
                raise error("sms_url_required", 'required when sms.sender = "http"')
            return None
        missing = [p for p in ("{phone}", "{text}") if p not in value]
        if missing:
            raise error(
                "sms_url_placeholders", "must contain the placeholder(s) " + " and ".join(missing)
            )
        # Validate the shape with harmless stand-ins: braces are not valid URL chars.
        check_http_url(value.replace("{phone}", "70000000000").replace("{text}", "x"))
        return value.strip()


_HH_MM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class RegistrationSettings(Section):
    """``[registration]``: one-time-code and invite-code limits."""

    otp_ttl_seconds: Seconds = 300
    otp_max_attempts: Count = 5
    otp_resend_seconds: int = Field(default=60, ge=0, le=MAX_SECONDS)
    otp_max_per_hour: Count = 5
    code_max_failures: Count = 5
    code_failure_window_seconds: Seconds = 600
    code_cooldown_seconds: int = Field(default=600, ge=0, le=MAX_SECONDS)
    sms_per_phone_10min: Count = 3
    """One-time codes one phone number may get in any 10 minutes, over all chats."""
    sms_per_phone_day: Count = 10
    """... and in any 24 hours."""
    reminder_after_hours: int = Field(default=24, gt=0, le=MAX_HOURS)
    """One reminder to a driver whose registration has been idle this long (Telegram)."""
    reminder_day_from: str = "10:00"
    """Reminders go out only from this park-local time ..."""
    reminder_day_to: str = "20:00"
    """... until this one (HH:MM, in each park's timezone)."""

    @field_validator("reminder_day_from", "reminder_day_to")
    @classmethod
    def _check_reminder_time(cls, value: str) -> str:
        match = _HH_MM.match(value.strip())
        if match is None:
            raise error("reminder_time", "Input should be a time of day as HH:MM, e.g. 10:00")
        return f"{int(match[1]):02d}:{match[2]}"

    def reminder_day(self) -> tuple[time, time]:
        """``reminder_day_from`` and ``reminder_day_to`` as ``datetime.time``."""
        start, end = (
            time(int(v[:2]), int(v[3:])) for v in (self.reminder_day_from, self.reminder_day_to)
        )
        return start, end


class NotificationSettings(Section):
    """``[notifications]``: the outbox relay and scheduled reminders."""

    deliver_interval_seconds: float = Field(default=3.0, gt=0, le=MAX_SECONDS)
    batch_size: Count = 100
    lease_seconds: Seconds = 60
    max_attempts: Count = 8
    per_bot_rate: float = Field(default=25.0, gt=0)
    """Messages per second per bot."""
    per_chat_interval_seconds: float = Field(default=1.0, ge=0, le=MAX_SECONDS)
    backoff_base_seconds: float = Field(default=2.0, gt=0, le=MAX_SECONDS)
    backoff_max_seconds: float = Field(default=600.0, gt=0, le=MAX_SECONDS)
    unlinked_ttl_hours: int = Field(default=72, gt=0, le=MAX_HOURS)
    digest_time: str = "20:00"
    """Local time (park timezone) of the partners' daily digest, HH:MM."""
    abandoned_registration_days: int = Field(default=30, gt=0, le=MAX_DAYS)
    enabled: bool = True

    @field_validator("digest_time")
    @classmethod
    def _check_digest_time(cls, value: str) -> str:
        match = _HH_MM.match(value.strip())
        if match is None:
            raise error("digest_time", "Input should be a time of day as HH:MM, e.g. 20:00")
        # Normalised to HH:MM so that "9:30" and "09:30" compare equal downstream.
        return f"{int(match[1]):02d}:{match[2]}"

    @field_validator("backoff_max_seconds")
    @classmethod
    def _check_backoff(cls, value: float, info: ValidationInfo) -> float:
        base = info.data.get("backoff_base_seconds")
        if base is not None and value < base:
            raise error("backoff", "must be >= notifications.backoff_base_seconds")
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

    class LoggingSettings(Section):
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
                raise error("log_level", "Input should be one of " + ", ".join(_LOG_LEVELS))
            return level

        @property
        def level_number(self) -> int:
            """The level as the ``logging`` module's integer."""
            return logging.getLevelNamesMapping()[self.level]


class WebSettings(Section):
    """``[web]``: the landing page, the APIs, webhooks and metrics, served by ``taxireg run``."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    public_url: str = "http://127.0.0.1:8080"
    """Where people reach this server; landing-page and QR links are built from it."""
    admin_token: SecretStr | None = None
    """Bearer token of the admin API; without one the admin API answers 401 to everyone."""
    admin_token_file: Path | None = None
    """A file holding ``admin_token``."""
    cors_origins: list[str] = Field(default_factory=list)
    """Web origins (the partner cabinet's site) allowed to call the API from a browser."""

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str) -> str:
        return check_http_url(value, limits.URL).rstrip("/")

    _blank = blank_is_none("admin_token")
