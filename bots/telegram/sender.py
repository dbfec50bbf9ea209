"""Sending through the park's bots: replies (``Sender``) and alerts (``TelegramMessenger``).

Both send with the front end's ``Bot`` objects and their one shared session, and both read
Telegram's errors through ``send_result``, the one place that maps aiogram's exceptions to
core's send results (delivered / wait / chat gone / message refused / try again).

Replies get a small, bounded retry: aiogram does not retry a failed call made inside a
handler (a 429 or 5xx is only raised), and the per-user lock is held meanwhile, so a long
wait would stall that user's next messages. Alerts are never retried here: the relay
records each answer and decides (``core.services.delivery``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import KeyboardButton, ReplyKeyboardMarkup

from bots.telegram.render import Outgoing
from core.domain.delivery import (
    Delivered,
    Refused,
    SendResult,
    Throttled,
    Transient,
    Unreachable,
)

log = logging.getLogger("taxireg.telegram")

# 400s that mean the chat is gone rather than that the message is wrong.
_CHAT_GONE = ("chat not found", "user not found", "peer_id_invalid", "user is deactivated")


def send_result(exc: BaseException, bot: Bot | None = None) -> SendResult:
    """What a failed Bot API call means, as core's send result (never with the token)."""
    reason = describe(exc, bot)
    if isinstance(exc, TelegramRetryAfter):
        return Throttled(float(exc.retry_after), reason)
    if isinstance(exc, TelegramForbiddenError):
        return Unreachable(reason)  # blocked by the user, or a deleted account
    if isinstance(exc, TelegramBadRequest):
        if any(marker in exc.message.lower() for marker in _CHAT_GONE):
            return Unreachable(reason)
        return Refused(reason)
    # A revoked token (401) fails every message of the park the same way until an operator
    # fixes it: worth retrying (and ending as dead) rather than dropping silently. Network
    # errors, timeouts, 5xx and anything unexpected: another try may work.
    return Transient(reason)


class TelegramMessenger:
    """``core.ports.Messenger`` on the front end's bots: park slug -> its running ``Bot``.

    The mapping is the front end's own (it fills it as bots pass their start-up check), so a
    park whose bot is off is simply not offered to the relay.
    """

    def __init__(self, bots: Mapping[str, Bot]) -> None:
        self._bots = bots

    @property
    def parks(self) -> frozenset[str]:
        return frozenset(self._bots)

    async def send(
        self, park: str, chat_id: int, text: str, *, buttons: Sequence[str] = ()
    ) -> SendResult:
        bot = self._bots.get(park)
        if bot is None:
            return Transient(f"park {park} has no running Telegram bot")
        # Quick replies: a press sends the label, which the registration flow reads back.
        markup = None
        if buttons:
            rows = [[KeyboardButton(text=label)] for label in buttons]
            markup = ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True)
        try:
            message = await bot.send_message(chat_id, text, reply_markup=markup)
        except TelegramUnauthorizedError as exc:
            log.error("telegram refused the bot token", extra={"park": park})
            return send_result(exc, bot)
        except TelegramAPIError as exc:
            return send_result(exc, bot)
        except Exception as exc:  # a bug or an odd answer must not kill the relay
            log.exception("unexpected error sending an alert", extra={"park": park})
            return send_result(exc, bot)
        return Delivered(message.message_id)


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
            except TelegramAPIError as exc:
                result = send_result(exc, bot)
            match result:
                case Throttled(retry_after):
                    if last or retry_after > self.policy.max_retry_after:
                        log.warning(
                            "reply dropped: rate limited by Telegram",
                            extra={**context, "retry_after": retry_after, "attempt": attempt + 1},
                        )
                        return False
                    await asyncio.sleep(retry_after)
                case Unreachable():
                    # Blocked by the user (or a deleted account): retrying cannot help.
                    log.info("reply dropped: the user blocked the bot", extra=context)
                    return False
                case Transient(reason):
                    if last:
                        log.warning(
                            "reply dropped: Telegram unavailable",
                            extra={**context, "error": reason, "attempt": attempt + 1},
                        )
                        return False
                    await asyncio.sleep(self.policy.backoff * 2**attempt)
                case Refused(reason):  # a bad request: the same call would fail again
                    log.error("reply refused by Telegram", extra={**context, "error": reason})
                    return False
                case Delivered():  # pragma: no cover - a failed call is never delivered
                    return True
        return False  # pragma: no cover - the loop always returns


def describe(exc: BaseException, bot: Bot | None = None) -> str:
    """One line about an error, never containing the bot's token.

    Network errors may quote the request URL, which is ``.../bot<token>/<method>``.
    """
    text = f"{type(exc).__name__}: {exc}"
    if bot is not None:
        text = text.replace(bot.token, "***")
    return " ".join(text.split())[:300]
