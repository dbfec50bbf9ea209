"""Sending alerts through each park's Telegram bot, with Telegram's answers sorted into what
the relay does next (delivered / wait / give up on the chat / give up on the message / retry).

One aiogram ``Bot`` per park, created on first use. ``[telegram] api_server`` points every
bot at a self-hosted Bot API server (and the tests at their fake), exactly as the bots do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)

if TYPE_CHECKING:
    from app.settings import Settings

log = logging.getLogger("taxireg.notify")

# 400s that mean the chat is gone rather than that the message is wrong.
_CHAT_GONE = ("chat not found", "user not found", "peer_id_invalid", "user is deactivated")

SessionFactory = Callable[[str | None, float], BaseSession]


@dataclass(frozen=True)
class Delivered:
    message_id: int | None


@dataclass(frozen=True)
class Throttled:
    retry_after: float
    reason: str


@dataclass(frozen=True)
class Unreachable:
    """403 (blocked, deactivated) or 400 chat not found: stop writing to this chat."""

    reason: str


@dataclass(frozen=True)
class Refused:
    """Any other 400: this message will never be accepted as it is."""

    reason: str


@dataclass(frozen=True)
class Transient:
    """Network errors, timeouts, 5xx and anything unexpected: worth another try."""

    reason: str


SendResult = Delivered | Throttled | Unreachable | Refused | Transient


def default_session(api_server: str | None, timeout: float) -> BaseSession:
    if api_server:
        return AiohttpSession(api=TelegramAPIServer.from_base(api_server), timeout=timeout)
    return AiohttpSession(timeout=timeout)


class TelegramSender:
    def __init__(
        self,
        tokens: dict[str, str],
        *,
        api_server: str | None = None,
        request_timeout: float = 15.0,
        session_factory: SessionFactory = default_session,
    ) -> None:
        self._tokens = dict(tokens)
        self._api_server = api_server
        self.request_timeout = request_timeout
        self._session_factory = session_factory
        self._bots: dict[str, Bot] = {}

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        request_timeout: float = 15.0,
        session_factory: SessionFactory = default_session,
    ) -> TelegramSender:
        tokens = {
            p.slug: p.telegram_token.get_secret_value()
            for p in settings.parks
            if p.telegram_token is not None
        }
        return cls(
            tokens,
            api_server=settings.telegram.api_server,
            request_timeout=request_timeout,
            session_factory=session_factory,
        )

    @property
    def parks(self) -> frozenset[str]:
        """Parks that have a bot; rows of other parks wait until one is configured."""
        return frozenset(self._tokens)

    def bot(self, park: str) -> Bot:
        bot = self._bots.get(park)
        if bot is None:
            session = self._session_factory(self._api_server, self.request_timeout)
            bot = self._bots[park] = Bot(self._tokens[park], session=session)
        return bot

    async def send(self, park: str, chat_id: int, text: str) -> SendResult:
        try:
            message = await self.bot(park).send_message(chat_id, text)
        except TelegramRetryAfter as exc:
            return Throttled(float(exc.retry_after), _describe(exc))
        except TelegramForbiddenError as exc:
            return Unreachable(_describe(exc))
        except TelegramBadRequest as exc:
            if any(marker in exc.message.lower() for marker in _CHAT_GONE):
                return Unreachable(_describe(exc))
            return Refused(_describe(exc))
        except TelegramUnauthorizedError as exc:
            # The token was revoked: every alert of this park fails the same way until an
            # operator fixes it, so retry (and end as dead) rather than drop silently.
            log.error("telegram refused the bot token of park %s", park)
            return Transient(_describe(exc))
        except (TelegramNetworkError, TelegramServerError, TelegramAPIError) as exc:
            return Transient(_describe(exc))
        except Exception as exc:  # a bug or an odd answer must not kill the relay
            log.exception("unexpected error sending an alert (park %s)", park)
            return Transient(f"{type(exc).__name__}: {exc}")
        return Delivered(message.message_id)

    async def close(self) -> None:
        bots, self._bots = self._bots, {}
        for bot in bots.values():
            await bot.session.close()


def _describe(exc: TelegramAPIError) -> str:
    # aiogram's message is Telegram's description, e.g. "Forbidden: bot was blocked by the
    # user"; the class name adds the HTTP class for operators reading last_error.
    return f"{type(exc).__name__}: {exc.message}"
