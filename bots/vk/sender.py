"""``messages.send`` with VK's failure modes handled: one bounded retry, then a log line.

Every send carries a ``random_id`` derived from the update and the reply's position, so a
retried request that VK did deliver after all (a 5xx after the fact) is not shown twice:
VK answers a repeated random_id with the first message and delivers nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aiohttp

from bots.common.failures import hide_sql_parameters
from bots.vk.compat import vkbottle
from bots.vk.render import VkMessage

log = logging.getLogger("taxireg.vk")

VKAPIError = vkbottle.VKAPIError

# The user blocked the community or never allowed messages: nothing we send will arrive.
UNREACHABLE_CODES = frozenset({7, 900, 901, 902})
# Worth one more try: flood control, too many requests per second, VK's internal error.
TRANSIENT_CODES = frozenset({6, 9, 10})
KEYBOARD_INVALID = 911


class VkUnavailable(Exception):
    """VK answered with something that is not JSON (a 5xx page from its front servers)."""


class SendResult(StrEnum):
    SENT = "sent"
    UNREACHABLE = "unreachable"  # stop sending to this peer for this update
    DROPPED = "dropped"


def random_id(group_id: int, peer_id: int, number: int | None, index: int) -> int:
    """A stable non-zero int32 per (community, peer, update, reply)."""
    if number is None:
        # No update number (should not happen for private messages): VK's "no dedup".
        return 0
    digest = hashlib.blake2b(f"{group_id}:{peer_id}:{number}:{index}".encode(), digest_size=4)
    return int.from_bytes(digest.digest(), "big") & 0x7FFFFFFF or 1


@dataclass
class VkSender:
    api: Any  # vkbottle.API
    park: str
    retry_delay: float = 1.0

    async def send(self, peer_id: int, message: VkMessage, rid: int) -> SendResult:
        params: dict[str, Any] = {"peer_id": peer_id, "random_id": rid, "message": message.text}
        if message.keyboard is not None:
            params["keyboard"] = message.keyboard
        for attempt in (1, 2):
            try:
                await self.api.request("messages.send", params)
                return SendResult.SENT
            except VKAPIError as error:
                code = error.code
                if code in UNREACHABLE_CODES:
                    self._log(logging.INFO, "user unreachable, reply dropped", peer_id, code)
                    return SendResult.UNREACHABLE
                if code == KEYBOARD_INVALID and "keyboard" in params:
                    # A bug on our side: still give the user the text.
                    self._log(logging.ERROR, "keyboard refused, sending text only", peer_id, code)
                    params.pop("keyboard")
                    continue
                if code not in TRANSIENT_CODES:
                    self._log(logging.WARNING, "reply dropped", peer_id, code, describe(error))
                    return SendResult.DROPPED
                failure = f"VK error {code}"
            except (VkUnavailable, aiohttp.ClientError, TimeoutError) as error:
                failure = describe(error)
            if attempt == 1:
                await asyncio.sleep(self.retry_delay)
        self._log(logging.WARNING, "reply dropped after a retry", peer_id, None, failure)
        return SendResult.DROPPED

    def _log(
        self, level: int, what: str, peer_id: int, code: int | None, error: str | None = None
    ) -> None:
        extra: dict[str, Any] = {"park": self.park, "channel": "vk", "peer": peer_id}
        if code is not None:
            extra["vk_error"] = code
        if error is not None:
            extra["error"] = error
        log.log(level, "vk %s: %s (%s)", self.park, what, error or f"VK error {code}", extra=extra)


_TOKEN_IN_URL = re.compile(r"(access_token=)[^&\s'\"]+")


def describe(error: BaseException) -> str:
    """One line about an error, safe for logs: no token, no multi-line HTML bodies, no SQL
    parameters."""
    hide_sql_parameters(error)
    if isinstance(error, VKAPIError):
        text = f"VK error {error.code}: {getattr(error, 'error_msg', '') or ''}".rstrip(": ")
    else:
        text = f"{type(error).__name__}: {error}".rstrip(": ")
    text = _TOKEN_IN_URL.sub(r"\1***", " ".join(text.split()))
    return text[:300]
