"""The outbox relay: claim due rows, decide, send through the park's bot, record outcomes.

One pass (``Relay.run``) keeps up to ``batch_size`` rows in flight: it claims, sends each
claimed row in its own task (paced per bot and per chat), records outcomes as tasks finish
and claims more when the pipeline runs low, until nothing is due. Claiming while earlier
rows are still in flight is safe for ordering because only the oldest pending row of a
recipient can be claimed: its successor becomes claimable once it is recorded.

Outcomes are written by a background recorder as soon as Telegram answers, as many per
transaction as have piled up meanwhile. A crash between Telegram's "ok" and that write means
the row is sent again after its lease: delivery is at-least-once across crashes, exactly
once otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.settings import NotificationSettings
from core.domain.model import Park
from core.ports import Clock
from core.services.registration import DRIVER_REGISTERED
from core.texts import Catalog
from scheduler.policy import backoff_seconds, quiet_until
from scheduler.ratelimit import ChatSpacing, Pacer, Stopped
from scheduler.render import CannotRender, render
from scheduler.telegram_sender import (
    Delivered,
    Refused,
    TelegramSender,
    Throttled,
    Transient,
    Unreachable,
)
from storage.outbox import (
    Defer,
    DriverTarget,
    Final,
    FlagUnreachable,
    Hold,
    OutboxRow,
    OutboxStore,
    Outcome,
    PartnerTarget,
    Release,
    Retry,
    Sent,
    Status,
)

log = logging.getLogger("taxireg.notify")

PARTNER_LANG = "ru"  # partners have no stored language yet; the default catalog

_Now = Callable[[], datetime]


@dataclass
class Report:
    """What one pass did, for logs and tests."""

    claimed: int = 0
    sent: int = 0
    folded: int = 0  # instant alerts of digest-only partners
    retried: int = 0
    deferred: int = 0
    released: int = 0
    finished: dict[str, int] = field(default_factory=dict)  # final status -> count
    reactivated: int = 0

    def count(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            match outcome:
                case Sent(sent_as="digest"):
                    self.folded += 1
                case Sent():
                    self.sent += 1
                case Retry():
                    self.retried += 1
                case Defer():
                    self.deferred += 1
                case Release():
                    self.released += 1
                case Final(status=status):
                    self.finished[status.value] = self.finished.get(status.value, 0) + 1

    @property
    def busy(self) -> bool:
        return bool(self.claimed or self.reactivated)


@dataclass(frozen=True)
class _Job:
    """A claimed row that is to be sent."""

    row: OutboxRow
    chat_id: int
    text: str
    claimed_at: float  # monotonic, for the lease guard


class _Recorder:
    """Writes outcomes in the background, as many per transaction as have piled up.

    Idle, an outcome is written at once; under load the writes batch themselves (while one
    transaction commits, the next batch gathers), so the database is not the bottleneck of
    a few hundred messages per second.
    """

    _TRIES = (0.2, 1.0, 3.0)  # pauses between attempts to write one batch

    def __init__(self, store: OutboxStore, worker: str, report: Report) -> None:
        self._store = store
        self._worker = worker
        self._report = report
        self._items: list[Outcome] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.written = 0
        self._task = asyncio.create_task(self._loop())

    def add(self, outcomes: list[Outcome]) -> None:
        if outcomes:
            self._items.extend(outcomes)
            self._idle.clear()
            self._wake.set()

    async def drain(self) -> None:
        """Wait until everything added so far is written."""
        waiter = asyncio.create_task(self._idle.wait())
        await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if self._task.done():
            self._task.result()  # the writer failed for good: end the pass with its error

    async def close(self) -> None:
        if not self._task.done():
            await self.drain()
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._items:
                batch, self._items = self._items, []
                await self._write(batch)
                self._report.count(batch)
                self.written += len(batch)
            self._idle.set()

    async def _write(self, batch: list[Outcome]) -> None:
        for pause_s in (*self._TRIES, None):
            try:
                await self._store.record(batch, self._worker)
                return
            except Exception:
                if pause_s is None:
                    # The rows stay claimed; after the lease they are tried again, so a
                    # message already accepted by Telegram may then go out twice.
                    log.exception("cannot record %d delivery outcome(s)", len(batch))
                    raise
                log.warning("recording delivery outcomes failed, retrying", exc_info=True)
                await asyncio.sleep(pause_s)


class Relay:
    def __init__(
        self,
        *,
        store: OutboxStore,
        sender: TelegramSender,
        catalog: Catalog,
        parks: Mapping[str, Park],
        clock: Clock,
        settings: NotificationSettings,
        worker: str,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.sender = sender
        self.catalog = catalog
        self.parks = dict(parks)
        self.clock = clock
        self.settings = settings
        self.worker = worker
        self._rng = rng or random.Random()
        self._pacers = {slug: Pacer(settings.per_bot_rate) for slug in sender.parks}
        self._chats = ChatSpacing(settings.per_chat_interval_seconds)
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()
        self._lease = timedelta(seconds=settings.lease_seconds)
        # Never start a request that could still be running when the lease ends: another
        # worker may claim the row then and send it a second time.
        # (At least half the lease, so a tiny lease cannot make every row bounce forever.)
        lease = settings.lease_seconds
        self._send_window = max(lease / 2, lease - sender.request_timeout - 1.0)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def run(self, now: datetime | None = None) -> Report:
        """One pass. ``now`` pins the business clock (tests); else ``clock.now()`` each step."""
        report = Report()
        if self._lock.locked() or self.stopping:
            return report  # a pass is already running in this process; it will cover this one
        async with self._lock:
            await self._run(report, lambda: now or self.clock.now())
        if report.busy:
            log.info(
                "delivery pass: claimed %d, sent %d, folded into digest %d, retried %d, "
                "deferred %d, finished %s",
                report.claimed,
                report.sent,
                report.folded,
                report.retried,
                report.deferred,
                report.finished or "{}",
            )
        return report

    async def _run(self, report: Report, now: _Now) -> None:
        stale = timedelta(hours=self.settings.unlinked_ttl_hours)
        report.reactivated = len(await self.store.reactivate(now(), stale))
        batch = self.settings.batch_size
        low_water = max(1, batch // 2)
        in_flight: set[asyncio.Task[None]] = set()
        recorder = _Recorder(self.store, self.worker, report)
        try:
            while True:
                if not self.stopping and len(in_flight) <= low_water:
                    written_before = recorder.written
                    rows = await self.store.claim(
                        now=now(),
                        worker=self.worker,
                        lease=self._lease,
                        limit=batch - len(in_flight),
                        parks=self.sender.parks,
                    )
                    report.claimed += len(rows)
                    decided, jobs = await self._triage(rows, now())
                    recorder.add(decided)
                    for job in jobs:
                        in_flight.add(asyncio.create_task(self._deliver(job, recorder)))
                    if not in_flight:
                        # Settled heads free their successors once written: claim again
                        # if anything was written since this claim, else the pass is done.
                        await recorder.drain()
                        if rows or recorder.written > written_before:
                            continue
                        return
                if not in_flight:  # stopping, and everything handed back
                    await recorder.drain()
                    return
                done, in_flight = await asyncio.wait(
                    in_flight, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    task.result()  # _deliver never raises; if it does, end the pass loudly
        finally:
            if in_flight:
                # Only reached on an error or cancellation: do not leave orphans behind.
                for task in in_flight:
                    task.cancel()
                await asyncio.gather(*in_flight, return_exceptions=True)
            await recorder.close()

    # -- deciding without Telegram ---------------------------------------------------------

    async def _triage(
        self, rows: list[OutboxRow], now: datetime
    ) -> tuple[list[Outcome], list[_Job]]:
        partners = await self.store.partner_targets(
            {r.recipient_id for r in rows if r.recipient_kind == "partner"}
        )
        drivers = await self.store.driver_targets(
            {r.recipient_id for r in rows if r.recipient_kind == "driver"}
        )
        decided: list[Outcome] = []
        jobs: list[_Job] = []
        claimed_at = time.monotonic()
        for row in rows:
            result = self._decide(row, now, partners, drivers)
            if isinstance(result, tuple):
                chat_id, text = result
                jobs.append(_Job(row, chat_id, text, claimed_at))
            else:
                decided.append(result)
        return decided, jobs

    def _decide(
        self,
        row: OutboxRow,
        now: datetime,
        partners: Mapping[int, PartnerTarget],
        drivers: Mapping[int, DriverTarget],
    ) -> Outcome | tuple[int, str]:
        park = self.parks.get(row.park)
        if park is None:
            return Final(row.id, Status.FAILED, f"unknown park {row.park!r}")
        if row.recipient_kind == "partner":
            partner = partners.get(row.recipient_id)
            if partner is None:
                return Final(row.id, Status.FAILED, "the partner no longer exists")
            if partner.unreachable:
                return Final(
                    row.id,
                    Status.UNDELIVERABLE,
                    "the partner's chat refused messages; waiting for them to return",
                    hold=Hold.BLOCKED,
                )
            if partner.chat_id is None:
                return self._unlinked(row, now)
            if row.kind == DRIVER_REGISTERED and partner.alerts == "digest":
                # Digest-only partner: the registration is counted in tonight's digest,
                # which reads the drivers table, so nothing is lost by not sending it.
                return Sent(row.id, now, sent_as="digest")
            until = quiet_until(now, park.timezone, partner.quiet_from, partner.quiet_to)
            if until is not None:
                return Defer(row.id, until, Hold.QUIET, f"quiet hours until {until:%H:%M} UTC")
            chat_id, lang = partner.chat_id, PARTNER_LANG
        elif row.recipient_kind == "driver":
            driver = drivers.get(row.recipient_id)
            if driver is None or driver.chat_id is None:
                return self._unlinked(row, now)
            chat_id, lang = driver.chat_id, driver.lang
        else:
            return Final(row.id, Status.FAILED, f"unknown recipient kind {row.recipient_kind!r}")
        try:
            text = render(self.catalog, lang, park, row.kind, row.payload)
        except CannotRender as exc:
            log.error("cannot render outbox row %d: %s", row.id, exc)
            return Final(row.id, Status.FAILED, str(exc))
        return chat_id, text

    def _unlinked(self, row: OutboxRow, now: datetime) -> Outcome:
        ttl = timedelta(hours=self.settings.unlinked_ttl_hours)
        deadline = row.created_at + ttl
        if now >= deadline:
            return Final(
                row.id,
                Status.EXPIRED,
                f"the recipient did not link Telegram within {self.settings.unlinked_ttl_hours} h",
            )
        # Parked until the deadline; re-activation wakes it as soon as they link.
        return Defer(row.id, deadline, Hold.UNLINKED, "waiting for the recipient to link Telegram")

    # -- sending ---------------------------------------------------------------------------

    async def _deliver(self, job: _Job, recorder: _Recorder) -> None:
        recorder.add(await self._send(job))

    async def _send(self, job: _Job) -> list[Outcome]:
        row = job.row
        pacer = self._pacers[row.park]
        try:
            async with self._chats.turn((row.park, job.chat_id), self._stop):
                await pacer.acquire(self._stop)
                if time.monotonic() - job.claimed_at > self._send_window:
                    return [Release(row.id)]
            result = await self.sender.send(row.park, job.chat_id, job.text)
        except Stopped:
            return [Release(row.id)]
        now = self.clock.now()
        match result:
            case Delivered():
                return [Sent(row.id, now)]
            case Throttled(retry_after, reason):
                pacer.pause(retry_after)
                at = now + timedelta(seconds=retry_after)
                return [Retry(row.id, at, reason, count_attempt=False)]
            case Unreachable(reason):
                outcomes: list[Outcome] = [
                    Final(row.id, Status.UNDELIVERABLE, reason, attempted=True, hold=Hold.BLOCKED)
                ]
                if row.recipient_kind == "partner":
                    outcomes.append(FlagUnreachable(row.recipient_id, job.chat_id))
                log.warning("alert undeliverable (park %s, row %d): %s", row.park, row.id, reason)
                return outcomes
            case Refused(reason):
                log.error("telegram refused alert row %d: %s", row.id, reason)
                return [Final(row.id, Status.FAILED, reason, attempted=True)]
            case Transient(reason):
                attempt = row.attempts + 1
                if attempt >= self.settings.max_attempts:
                    log.error("alert row %d dead after %d attempts: %s", row.id, attempt, reason)
                    return [Final(row.id, Status.DEAD, reason, attempted=True)]
                delay = backoff_seconds(
                    attempt,
                    self.settings.backoff_base_seconds,
                    self.settings.backoff_max_seconds,
                    self._rng,
                )
                return [Retry(row.id, now + timedelta(seconds=delay), reason)]
        raise AssertionError(f"unhandled send result {result!r}")

    # -- shutdown --------------------------------------------------------------------------

    async def stop(self, timeout: float = 10.0) -> int:  # noqa: ASYNC109
        """Stop claiming, let requests already on the wire finish, release the rest.

        Returns how many rows were handed back.
        """
        self._stop.set()
        try:
            async with asyncio.timeout(timeout):
                async with self._lock:  # the running pass, if any, winds down first
                    pass
        except TimeoutError:
            log.warning("delivery pass did not stop within %.0f s", timeout)
        return await self.store.release(self.worker)
