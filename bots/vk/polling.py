"""vkbottle's Bots Long Poll, resumed from the position kept in the database.

vkbottle's ``BotPolling.listen()`` yields each answer of the long-poll server; the caller
handles its updates and only then stores the answer's ``ts`` (``bots.vk.app``), so a crash
before that makes the next poller, in this process or another, get those updates again, and
core recognises them by message number. ``restore_server_ts`` and ``save_server_ts`` are
BotPolling's own hooks for where the position lives: here it is passed in before each
``listen()`` and saved by the caller, never in a file.

A non-JSON answer (VK's 5xx page) is not retried by sleeping inside vkbottle, which would
hold the caller for seconds: it raises, and the caller's own policy decides.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bots.vk.compat import vkbottle
from bots.vk.sender import VkUnavailable

log = logging.getLogger("taxireg.vk")

BotPolling = vkbottle.BotPolling
ABCRequestRescheduler = vkbottle.api.request_rescheduler.ABCRequestRescheduler


class NoReschedule(ABCRequestRescheduler):  # type: ignore[misc,valid-type]
    async def reschedule(
        self, ctx_api: Any, method: str, data: dict[str, Any], recent_response: Any
    ) -> dict[str, Any]:
        raise VkUnavailable(f"{method}: VK answered with a non-JSON body")


class CursorPolling(BotPolling):  # type: ignore[misc,valid-type]
    """BotPolling that starts from ``resume_from``'s ts and saves nothing by itself."""

    def __init__(
        self,
        api: Any,
        group_id: int,
        wait: int = 25,
        on_server: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(api, group_id=group_id, wait=wait, skip_old_events=False)
        self._resume: str | None = None
        self._on_server = on_server

    def resume_from(self, ts: str | None) -> None:
        """The stored position for the next ``listen()``; None starts from VK's current."""
        self._resume = ts

    async def get_server(self) -> dict[str, Any]:
        server: dict[str, Any] = await super().get_server()
        if self._on_server is not None:
            self._on_server()
        return server

    def restore_server_ts(self, server: dict[str, Any]) -> dict[str, Any]:
        if self._resume is not None:
            # Too old a ts makes VK answer {"failed": 1} with a fresh one: no harm.
            server["ts"] = self._resume
        return server

    def save_server_ts(self, server: dict[str, Any]) -> None:
        """Saved by the caller once the updates are handled (it needs the database)."""
