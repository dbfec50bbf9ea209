"""vkbottle's Bots Long Poll adjusted for a long-running service.

* The long-poll ``ts`` is kept in ``data_dir/vk/<group_id>.json`` instead of the current
  directory, and restored at start: messages sent while the bot was restarting are still
  answered (core ignores a repeated delivery by the message number).
* A non-JSON answer (VK's 5xx page) is not retried by sleeping inside vkbottle, which would
  hold the caller for seconds: it raises, and the caller's own policy decides.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
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


class StatePolling(BotPolling):  # type: ignore[misc,valid-type]
    """BotPolling that keeps its ``ts`` in our data directory."""

    def __init__(self, api: Any, group_id: int, state_dir: Path, wait: int = 25) -> None:
        super().__init__(api, group_id=group_id, wait=wait)
        self.state_path = state_dir / f"{group_id}.json"
        self._saved: str | None = None

    def restore_server_ts(self, server: dict[str, Any]) -> dict[str, Any]:
        try:
            ts = json.loads(self.state_path.read_text(encoding="utf-8")).get("ts")
        except FileNotFoundError:
            return server
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("vk: cannot read long-poll state %s: %s", self.state_path, exc)
            return server
        if ts is not None:
            # Too old a ts makes VK answer {"failed": 1} with a fresh one: no harm.
            server["ts"] = str(ts)
            self._saved = str(ts)
        return server

    def save_server_ts(self, server: dict[str, Any]) -> None:
        ts = str(server["ts"])
        if ts == self._saved:
            return  # an empty poll: nothing new to remember
        try:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            temp = self.state_path.with_suffix(".tmp")
            temp.write_text(json.dumps({"ts": ts}), encoding="utf-8")
            os.replace(temp, self.state_path)
            self._saved = ts
        except OSError as exc:
            log.warning("vk: cannot save long-poll state %s: %s", self.state_path, exc)
