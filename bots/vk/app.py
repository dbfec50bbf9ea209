"""``VkFrontEnd``: every park's VK community bot (Bots Long Poll) in the app's event loop.

Each park gets its own vkbottle ``Bot`` with its own API instance and HTTP session, and its
own supervised polling task: vkbottle does not protect its start-up (a VK error in the
first ``groups.getLongPollServer`` ends ``run_polling``), so a failed run is restarted with
a growing delay. A rejected token is reported once and that park stays off; the other
parks keep running.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import aiohttp

from app.bootstrap import Container
from app.settings import ParkSettings
from bots.vk.compat import vkbottle
from bots.vk.handler import VkHandler
from bots.vk.polling import NoReschedule, StatePolling
from bots.vk.sender import VkSender, describe

log = logging.getLogger("taxireg.vk")

VKAPIError = vkbottle.VKAPIError
# Invalid token, group authorisation failed, application authorisation failed: retrying
# cannot help until an operator changes the config.
AUTH_CODES = frozenset({5, 27, 28})
_API_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)


class ParkStatus(StrEnum):
    STARTING = "starting"
    RUNNING = "running"  # polling has a long-poll server
    RESTARTING = "restarting"  # waiting to retry after a failure
    AUTH_FAILED = "auth_failed"  # VK refused the token; off until the config is fixed
    MISCONFIGURED = "misconfigured"  # the token belongs to another community
    STOPPED = "stopped"


class _ParkBot(vkbottle.Bot):  # type: ignore[misc,valid-type]
    """A Bot that hands every raw update to our handler instead of vkbottle's router."""

    def __init__(self, handler: VkHandler, inflight: set[asyncio.Task[Any]], **kwargs: Any):
        super().__init__(**kwargs)
        self.handler = handler
        self._inflight = inflight

    async def process_event(self, event: dict[str, Any], api: Any = None) -> None:
        # run_polling() starts one task per update; remember it so stop() can let the
        # update finish its transaction and replies before the database closes.
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            await self.handler.handle_update(event)
        finally:
            if task is not None:
                self._inflight.discard(task)


class _Polling(StatePolling):
    """Reports when it got a long-poll server: the park is serving."""

    def __init__(self, runner: _ParkRunner, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._runner = runner

    async def get_server(self) -> dict[str, Any]:
        server = await super().get_server()
        self._runner.connected()
        return server


@dataclass
class _ParkRunner:
    park: ParkSettings
    bot: _ParkBot = field(init=False)  # set right after: the bot's polling needs us
    task: asyncio.Task[None] | None = None
    status: ParkStatus = ParkStatus.STARTING
    served: bool = False  # got a long-poll server since the last (re)start
    stopping: bool = False
    inflight: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def slug(self) -> str:
        return self.park.slug

    def connected(self) -> None:
        if self.status in (ParkStatus.STARTING, ParkStatus.RESTARTING):
            log.info("vk %s: polling", self.slug, extra={"park": self.slug, "channel": "vk"})
        self.status = ParkStatus.RUNNING
        self.served = True


class VkFrontEnd:
    """The VK part of ``taxireg run`` (see ``app.runner.Part``)."""

    name = "vk"

    def __init__(
        self,
        container: Container,
        *,
        retry_delay: float = 1.0,
        restart_delay: float = 1.0,
        max_restart_delay: float = 60.0,
        check_timeout: float = 10.0,
        stop_grace: float = 5.0,
        poll_wait: int = 25,
    ) -> None:
        self.container = container
        self.retry_delay = retry_delay
        self.restart_delay = restart_delay
        self.max_restart_delay = max_restart_delay
        self.check_timeout = check_timeout
        self.stop_grace = stop_grace
        self.poll_wait = poll_wait
        self._runners: dict[str, _ParkRunner] = {}

    # -- Part -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Check every token, then poll in background tasks; returns once serving."""
        settings = self.container.settings
        self._runners = {
            p.slug: self._make_runner(p, p.vk_token.get_secret_value(), p.vk_group_id)
            for p in settings.parks
            if p.vk_group_id and p.vk_token
        }
        await asyncio.gather(*(self._check(r) for r in self._runners.values()))
        for runner in self._runners.values():
            if runner.status is ParkStatus.STARTING:
                runner.task = asyncio.create_task(
                    self._supervise(runner), name=f"vk-polling-{runner.slug}"
                )
        serving = [r.slug for r in self._runners.values() if r.task is not None]
        log.info(
            "vk: %d of %d park bots started: %s",
            len(serving),
            len(self._runners),
            ", ".join(serving) or "none",
            extra={"channel": "vk"},
        )

    async def stop(self) -> None:
        runners = list(self._runners.values())
        for runner in runners:
            runner.stopping = True
            runner.bot.polling.stop()  # no new long poll...
            if runner.task is not None:
                runner.task.cancel()  # ...and don't sit out the parked one
        tasks = [r.task for r in runners if r.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        inflight = {task for r in runners for task in r.inflight}
        if inflight:
            _, pending = await asyncio.wait(inflight, timeout=self.stop_grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for runner in runners:
            if runner.task is not None:
                runner.status = ParkStatus.STOPPED
            await runner.bot.api.http_client.close()

    # -- introspection (health checks, a future Callback API endpoint) --------------------

    def status(self) -> dict[str, ParkStatus]:
        return {slug: runner.status for slug, runner in self._runners.items()}

    def handler_for_group(self, group_id: int) -> VkHandler | None:
        for runner in self._runners.values():
            if runner.park.vk_group_id == group_id:
                return runner.bot.handler
        return None

    # -- per park -------------------------------------------------------------------------

    def _make_runner(self, park: ParkSettings, token: str, group_id: int) -> _ParkRunner:
        c = self.container
        runner = _ParkRunner(park)
        api = vkbottle.API(
            token,
            # Our own session per bot: closing it cannot break another park's bot.
            http_client=vkbottle.AiohttpClient(timeout=_API_TIMEOUT),
            request_rescheduler=NoReschedule(),
        )
        api.API_URL = _with_slash(c.settings.vk.api_url)
        api.API_VERSION = c.settings.vk.api_version
        sender = VkSender(api, park.slug, retry_delay=self.retry_delay)
        handler = VkHandler(c.parks[park.slug], group_id, c.registration, c.catalog, sender)
        polling = _Polling(
            runner,
            api=api,
            group_id=group_id,
            state_dir=c.settings.data_dir / "vk",
            wait=self.poll_wait,
        )
        bot = _ParkBot(handler, runner.inflight, api=api, polling=polling)
        bot.error_handler.register_undefined_error_handler(self._polling_error(runner))
        runner.bot = bot
        return runner

    async def _check(self, runner: _ParkRunner) -> None:
        """Ask VK whose token this is, so a wrong one is reported before serving."""
        try:
            async with asyncio.timeout(self.check_timeout):
                answer = await runner.bot.api.request("groups.getById", {})
        except VKAPIError as error:
            if error.code in AUTH_CODES:
                self._auth_failed(runner, error)
                return
            log.warning(
                "vk %s: cannot check the token now (%s); polling will retry",
                runner.slug,
                describe(error),
                extra={"park": runner.slug, "channel": "vk"},
            )
            return
        except Exception as error:
            log.warning(
                "vk %s: VK unreachable at start (%s); polling will retry",
                runner.slug,
                describe(error),
                extra={"park": runner.slug, "channel": "vk"},
            )
            return
        response = answer.get("response")
        groups = response.get("groups") if isinstance(response, dict) else response
        group_id = groups[0].get("id") if groups else None
        if group_id is not None and group_id != runner.park.vk_group_id:
            runner.status = ParkStatus.MISCONFIGURED
            log.error(
                "vk %s: the token belongs to community %s, not to vk_group_id %s; "
                "this park's VK bot is off until the config is fixed",
                runner.slug,
                group_id,
                runner.park.vk_group_id,
                extra={"park": runner.slug, "channel": "vk", "outcome": "misconfigured"},
            )

    async def _supervise(self, runner: _ParkRunner) -> None:
        delay = self.restart_delay
        while not runner.stopping:
            runner.served = False
            try:
                await runner.bot.run_polling()
                failure = "polling ended"
            except VKAPIError as error:
                if error.code in AUTH_CODES:
                    self._auth_failed(runner, error)
                failure = describe(error)
            except Exception as error:
                failure = describe(error)
            if runner.stopping or runner.status is ParkStatus.AUTH_FAILED:
                return
            if runner.served:
                delay = self.restart_delay  # it worked for a while: start over gently
            runner.status = ParkStatus.RESTARTING
            log.warning(
                "vk %s: polling failed (%s); restarting in %.1f s",
                runner.slug,
                failure,
                delay,
                extra={"park": runner.slug, "channel": "vk", "outcome": "restart"},
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_restart_delay)

    def _polling_error(self, runner: _ParkRunner) -> Any:
        async def on_error(error: Exception) -> None:
            # Errors inside vkbottle's polling loop; it backs off and retries by itself.
            if isinstance(error, VKAPIError) and error.code in AUTH_CODES:
                self._auth_failed(runner, error)
                runner.bot.polling.stop()
                return
            log.warning(
                "vk %s: long poll error (%s); retrying",
                runner.slug,
                describe(error),
                extra={"park": runner.slug, "channel": "vk", "outcome": "poll_error"},
            )

        return on_error

    def _auth_failed(self, runner: _ParkRunner, error: Exception) -> None:
        if runner.status is ParkStatus.AUTH_FAILED:
            return
        runner.status = ParkStatus.AUTH_FAILED
        log.error(
            "vk %s: VK rejected the access token (%s); this park's VK bot is off until "
            "vk_token is fixed",
            runner.slug,
            describe(error),
            extra={"park": runner.slug, "channel": "vk", "outcome": "auth_failed"},
        )


def _with_slash(url: str) -> str:
    # vkbottle appends the method name to API_URL as is.
    return url if url.endswith("/") else url + "/"
