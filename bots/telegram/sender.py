"""Sending replies with a small, bounded retry.

aiogram does not retry a failed call made inside a handler (a 429 or 5xx is only raised),
and updates are confirmed before they are handled, so the update will not come back: a
short retry here is the only second chance a reply gets. It is bounded because the
per-user lock is held meanwhile and a long wait would stall that user's next messages.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

from bots.telegram.render import Outgoing

log = logging.getLogger("taxireg.telegram")


@dataclass(frozen=True)
class RetryPolicy:
    max_retry_after: float = 5.0
    """A 429 asking to wait longer than this drops the reply (logged) instead of waiting."""
    retries: int = 2
    """Further attempts after a 429, a 5xx or a network error."""
    backoff: float = 0.3
    """Seconds before the first retry after a 5xx or a network error; doubled after that."""


class Sender:
    def __init__(self, policy: RetryPolicy | None = None) -> None:
        self.policy = policy or RetryPolicy()

    async def send(self, bot: Bot, chat_id: int, messages: list[Outgoing], *, park: str) -> bool:
        """Send in order; stop at the first message that cannot be delivered.

        Returns whether everything was sent. Later messages are dropped after a failure:
        without the earlier text they would not make sense.
        """
        for message in messages:
            if not await self._send_one(bot, chat_id, message, park):
                return False
        return True

    async def _send_one(self, bot: Bot, chat_id: int, message: Outgoing, park: str) -> bool:
        context = {"park": park, "chat_id": chat_id}
        for attempt in range(self.policy.retries + 1):
            last = attempt == self.policy.retries
            try:
                await bot.send_message(chat_id, message.text, reply_markup=message.markup)
                return True
            except TelegramRetryAfter as exc:
                if last or exc.retry_after > self.policy.max_retry_after:
                    log.warning(
                        "reply dropped: rate limited by Telegram",
                        extra={**context, "retry_after": exc.retry_after, "attempt": attempt + 1},
                    )
                    return False
                await asyncio.sleep(exc.retry_after)
            except TelegramForbiddenError:
                # Blocked by the user (or a deleted account): retrying cannot help.
                log.info("reply dropped: the user blocked the bot", extra=context)
                return False
            except (TelegramServerError, TelegramNetworkError) as exc:
                if last:
                    log.warning(
                        "reply dropped: Telegram unavailable",
                        extra={**context, "error": describe(exc, bot), "attempt": attempt + 1},
                    )
                    return False
                await asyncio.sleep(self.policy.backoff * 2**attempt)
            except TelegramAPIError as exc:  # a bad request: the same call would fail again
                log.error(
                    "reply refused by Telegram", extra={**context, "error": describe(exc, bot)}
                )
                return False
        return False  # pragma: no cover - the loop always returns


def describe(exc: BaseException, bot: Bot | None = None) -> str:
    """One line about an error, never containing the bot's token.

    Network errors may quote the request URL, which is ``.../bot<token>/<method>``.
    """
    text = f"{type(exc).__name__}: {exc}"
    if bot is not None:
        text = text.replace(bot.token, "***")
    return " ".join(text.split())[:300]
