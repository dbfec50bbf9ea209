"""``VkFrontEnd``: every park's VK community bot (Bots Long Poll) in the app's event loop.

Each park gets its own vkbottle ``API`` (own HTTP session) and its own supervised polling
task, which polls only while this process holds the park's VK lease, the same kind of lease
Telegram's bots take: with several ``taxireg run`` processes on one database, one community
is polled by one process, and another takes over when that one stops.

Updates go through one function, ``VkHandler.handle_update(raw)``, the same the Callback API
endpoint calls (``handle_callback``, with ``VkOptions.callback``: then nothing is polled).
vkbottle's ``BotPolling.listen()`` supplies the raw long-poll answers;
the updates of one answer are handled (one user's in order), and only then is its ``ts``
stored in the database, so an update is never lost to a crash: it is fetched again and core
recognises it. A rejected token is reported once and that park stays off; the other parks
keep running. vkbottle does not protect its start-up (a VK error in the first
``groups.getLongPollServer`` ends ``listen()``), so a failed poll starts again after a
growing delay.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import aiohttp

from bots.common.failures import log_failure
from bots.common.leadership import Leadership
from bots.vk.compat import vkbottle
from bots.vk.handler import VkHandler
from bots.vk.options import VkOptions, VkPark
from bots.vk.polling import CursorPolling, NoReschedule
from bots.vk.sender import VkSender, describe
from core.ports import Database, LeaseFactory
from core.texts import Catalog

if TYPE_CHECKING:
    from core.services.registration import RegistrationService

log = logging.getLogger("taxireg.vk")

VKAPIError = vkbottle.VKAPIError
# Invalid token, group authorisation failed, application authorisation failed: retrying
# cannot help until an operator changes the config.
AUTH_CODES = frozenset({5, 27, 28})
_API_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)


class ParkStatus(StrEnum):
    STARTING = "starting"
    STANDBY = "standby"  # another process holds this community's lease
    RUNNING = "running"  # polling has a long-poll server
    RESTARTING = "restarting"  # waiting to retry after a failure
    AUTH_FAILED = "auth_failed"  # VK refused the token; off until the config is fixed
    MISCONFIGURED = "misconfigured"  # the token belongs to another community
    STOPPED = "stopped"


@dataclass
class _ParkRunner:
    park: VkPark
    api: Any  # vkbottle.API
    handler: VkHandler
    leadership: Leadership
    polling: CursorPolling = field(init=False)
    task: asyncio.Task[None] | None = None
    batch: asyncio.Future[None] | None = None  # the long-poll answer being handled
    status: ParkStatus = ParkStatus.STARTING
    served: bool = False  # got a long-poll server since the last (re)start
    stopping: bool = False

    @property
    def slug(self) -> str:
        return self.park.slug

    def connected(self) -> None:
        if self.status is not ParkStatus.RUNNING:
            log.info("vk %s: polling", self.slug, extra={"park": self.slug, "channel": "vk"})
        self.status = ParkStatus.RUNNING
        self.served = True


class VkFrontEnd:
    """The VK part of ``taxireg run`` (see ``app.runner.Part``)."""

    name = "vk"

    def __init__(
        self,
        options: VkOptions,
        *,
        registration: RegistrationService,
        catalog: Catalog,
        leases: LeaseFactory,
        db: Database,
    ) -> None:
        self.options = options
        self._registration = registration
        self._catalog = catalog
        self._leases = leases
        self._db = db
        self._runners: dict[str, _ParkRunner] = {}
        self._stopping = False
        self._callbacks: set[asyncio.Task[None]] = set()  # Callback API events in hand

    # -- Part -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Check every token, then poll in background tasks; returns once started."""
        self._runners = {park.slug: self._make_runner(park) for park in self.options.parks}
        await asyncio.gather(*(self._check(r) for r in self._runners.values()))
        for runner in self._runners.values():
            if runner.status is ParkStatus.STARTING and self.options.callback:
                runner.status = ParkStatus.RUNNING  # VK POSTs; nothing to poll
            elif runner.status is ParkStatus.STARTING:
                runner.task = asyncio.create_task(
                    self._supervise(runner), name=f"vk-polling-{runner.slug}"
                )
        serving = [
            r.slug
            for r in self._runners.values()
            if r.task is not None or r.status is ParkStatus.RUNNING
        ]
        log.info(
            "vk: %d of %d park bots started: %s",
            len(serving),
            len(self._runners),
            ", ".join(serving) or "none",
            extra={"channel": "vk"},
        )

    async def stop(self) -> None:
        """Stop polling, let the updates in hand finish and be stored, release the leases."""
        runners = list(self._runners.values())
        self._stopping = True  # Callback API events from now on are refused (503)
        for runner in runners:
            runner.stopping = True
            runner.polling.stop()
        batches: list[asyncio.Future[None]] = [t for t in self._callbacks if not t.done()]
        batches += [r.batch for r in runners if r.batch is not None and not r.batch.done()]
        if batches:
            _, pending = await asyncio.wait(batches, timeout=self.options.stop_grace)
            if pending:
                log.warning(
                    "vk: stopped with updates unfinished; they will be fetched again",
                    extra={"channel": "vk", "count": len(pending)},
                )
        for runner in runners:
            if runner.task is not None:
                runner.task.cancel()  # don't sit out the parked long poll
        await asyncio.gather(
            *(r.task for r in runners if r.task is not None), return_exceptions=True
        )
        for runner in runners:
            if runner.task is not None:
                runner.status = ParkStatus.STOPPED
                await runner.leadership.release()
            await runner.api.http_client.close()

    # -- introspection (health checks, a future Callback API endpoint) --------------------

    def status(self) -> dict[str, ParkStatus]:
        return {slug: runner.status for slug, runner in self._runners.items()}

    async def handle_callback(self, park: str, event: Mapping[str, Any]) -> bool:
        """One Callback API event (secret and community already checked by the web
        endpoint), through the same ``handle_update`` as a long-polled one.

        Returns once it is handled and answered; False (the endpoint answers 503 and VK
        sends it again) while stopping or when the park's bot is off.
        """
        runner = self._runners.get(park)
        if runner is None or self._stopping or runner.status is not ParkStatus.RUNNING:
            return False
        # A task of its own: a dropped connection does not cancel it, stop() waits for it.
        task = asyncio.ensure_future(runner.handler.handle_update(event))
        self._callbacks.add(task)
        task.add_done_callback(self._callbacks.discard)
        await asyncio.shield(task)
        return True

    def handler_for_group(self, group_id: int) -> VkHandler | None:
        for runner in self._runners.values():
            if runner.park.group_id == group_id:
                return runner.handler
        return None

    # -- per park -------------------------------------------------------------------------

    def _make_runner(self, park: VkPark) -> _ParkRunner:
        api = vkbottle.API(
            park.token,
            # Our own session per bot: closing it cannot break another park's bot.
            http_client=vkbottle.AiohttpClient(timeout=_API_TIMEOUT),
            request_rescheduler=NoReschedule(),
        )
        api.API_URL = _with_slash(self.options.api_url)
        api.API_VERSION = self.options.api_version
        sender = VkSender(api, park.slug, retry_delay=self.options.retry_delay)
        handler = VkHandler(
            park.slug,
            park.group_id,
            self._registration,
            self._catalog,
            sender,
            fetch_names=self.options.fetch_names,
        )
        leadership = Leadership(
            self._leases(self._name(park)),
            park=park.slug,
            channel="vk",
            timing=self.options.lease,
            log=log,
        )
        runner = _ParkRunner(park, api, handler, leadership)
        runner.polling = CursorPolling(
            api, park.group_id, wait=self.options.poll_wait, on_server=runner.connected
        )
        runner.polling.error_handler.register_undefined_error_handler(self._polling_error(runner))
        return runner

    def _name(self, park: VkPark) -> str:
        return f"{self.options.lease_prefix}:{park.slug}"

    async def _check(self, runner: _ParkRunner) -> None:
        """Ask VK whose token this is, so a wrong one is reported before serving."""
        try:
            async with asyncio.timeout(self.options.check_timeout):
                answer = await runner.api.request("groups.getById", {})
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
        groups = response.get("groups") if isinstance(response, Mapping) else response
        group_id = groups[0].get("id") if groups else None
        if group_id is not None and group_id != runner.park.group_id:
            runner.status = ParkStatus.MISCONFIGURED
            log.error(
                "vk %s: the token belongs to community %s, not to vk_group_id %s; "
                "this park's VK bot is off until the config is fixed",
                runner.slug,
                group_id,
                runner.park.group_id,
                extra={"park": runner.slug, "channel": "vk", "outcome": "misconfigured"},
            )

    async def _supervise(self, runner: _ParkRunner) -> None:
        """The lease first; while it is held, poll (restarting after failures)."""
        while not runner.stopping:
            if runner.status is ParkStatus.STARTING:
                runner.status = ParkStatus.STANDBY
            try:
                await runner.leadership.run(lambda: self._lead(runner))
                return  # the token was refused: off until the config is fixed
            except Exception as error:
                log_failure(
                    log,
                    "vk %s: polling crashed; restarting",
                    runner.slug,
                    exc=error,
                    extra={"park": runner.slug, "channel": "vk"},
                )
                await asyncio.sleep(self.options.restart_delay)

    async def _lead(self, runner: _ParkRunner) -> bool:
        """Poll while leading; True once VK refused the token."""
        delay = self.options.restart_delay
        try:
            while not runner.stopping:
                runner.served = False
                try:
                    await self._poll(runner)
                    failure = "polling ended"
                except VKAPIError as error:
                    if error.code in AUTH_CODES:
                        self._auth_failed(runner, error)
                        return True
                    failure = describe(error)
                except Exception as error:
                    failure = describe(error)
                if runner.status is ParkStatus.AUTH_FAILED:
                    return True
                if runner.stopping:
                    return False
                if runner.served:
                    delay = self.options.restart_delay  # it worked a while: start over gently
                runner.status = ParkStatus.RESTARTING
                log.warning(
                    "vk %s: polling failed (%s); restarting in %.1f s",
                    runner.slug,
                    failure,
                    delay,
                    extra={"park": runner.slug, "channel": "vk", "outcome": "restart"},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.options.max_restart_delay)
            return False
        finally:
            if runner.status not in (ParkStatus.AUTH_FAILED, ParkStatus.MISCONFIGURED):
                runner.status = ParkStatus.STANDBY

    async def _poll(self, runner: _ParkRunner) -> None:
        name = self._name(runner.park)
        ts = await self._db.run(lambda uow: uow.cursors.get(name))
        if ts is None:
            # The first poll ever: store where VK stands now, so that what this process is
            # handling when it dies comes again to whoever polls next.
            first = str((await runner.polling.get_server())["ts"])
            ts = await self._db.run(lambda uow: _first_position(uow, name, first))
        runner.polling.resume_from(ts)
        async for answer in runner.polling.listen():
            # A task of its own, so stopping can wait for it to finish and be stored.
            runner.batch = asyncio.ensure_future(self._handle_answer(runner, name, answer))
            try:
                await runner.batch
            finally:
                runner.batch = None

    async def _handle_answer(
        self, runner: _ParkRunner, name: str, answer: Mapping[str, Any]
    ) -> None:
        updates = answer.get("updates") or []
        # handle_update never raises; one peer's updates keep their order (VkHandler).
        await asyncio.gather(*(runner.handler.handle_update(update) for update in updates))
        ts = str(answer["ts"])
        await self._db.run(lambda uow: uow.cursors.set(name, ts))

    def _polling_error(self, runner: _ParkRunner) -> Any:
        async def on_error(error: Exception) -> None:
            # Errors inside vkbottle's polling loop; it backs off and retries by itself.
            if isinstance(error, VKAPIError) and error.code in AUTH_CODES:
                self._auth_failed(runner, error)
                runner.polling.stop()
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


def _first_position(uow: Any, name: str, ts: str) -> str:
    # Another process may have stored one meanwhile: that one wins.
    stored: str | None = uow.cursors.get(name)
    if stored is not None:
        return stored
    uow.cursors.set(name, ts)
    return ts


def _with_slash(url: str) -> str:
    # vkbottle appends the method name to API_URL as is.
    return url if url.endswith("/") else url + "/"
