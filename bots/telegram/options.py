"""What the Telegram front end is given: its parks' bots and tuning, nothing of ``app``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bots.telegram.polling import PollingOptions
from bots.telegram.sender import RetryPolicy


@dataclass(frozen=True)
class TelegramPark:
    slug: str
    token: str = field(repr=False)
    username: str | None = None
    """The configured @username; a token of another bot is reported at start-up."""


@dataclass(frozen=True)
class TelegramWebhook:
    """Webhook mode: each park's bot gets its updates POSTed to its URL (the web front end's
    endpoint) with this ``secret_token``, instead of being long-polled."""

    urls: Mapping[str, str]
    """Park slug -> the URL given to setWebhook."""
    secret: str = field(repr=False)


@dataclass(frozen=True)
class TelegramOptions:
    parks: tuple[TelegramPark, ...] = ()
    api_server: str | None = None
    """A self-hosted Bot API server's base URL (``[telegram] api_server``), or Telegram's."""
    polling: PollingOptions = field(default_factory=PollingOptions)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    check_timeout: float = 10.0
    """How long start-up waits for each bot's getMe."""
    drain_timeout: float = 10.0
    """How long stopping waits for updates being handled."""
    lease_prefix: str = "telegram"
    """Lease names are ``<prefix>:<park slug>``."""
    webhook: TelegramWebhook | None = None
    """Set: webhook mode (setWebhook at start, no polling); None: long polling."""
    webhook_retry_delay: float = 5.0
    """Pause before trying a failed setWebhook again."""
