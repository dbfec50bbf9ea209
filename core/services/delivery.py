"""The alert relay: claim due outbox rows, decide, send through the park's bot, record.

Guarantees (issue 10):

- **One sender per bot, across processes.** A bot's alerts are sent only by the process
  holding the lease ``send:<park>``; the others stand by and take over once the holder is
  gone (PostgreSQL drops a dead session's lease at once; see README, "Alert delivery").
- **One send in flight per bot, recorded before the next.** Each bot has one lane that
  sends its claimed rows one after another and writes each outcome in its own transaction
  right after Telegram answers, before the next send of that bot. A crash can therefore
  leave at most one message per bot sent but unrecorded: 0 alerts lost, at most one
  duplicate per bot per crash (the Bot API has no idempotency key to do better).
- **Strict pacing.** ``BotPacer`` (see ``core.services.pacing``): no sliding one-second
  window holds more than the bot's rate, no chat two messages within its interval. A
  process that just took a bot's lease first waits out one window, so the previous holder's
  last sends count too.

Order: only the oldest pending row of a recipient can be claimed (head of line), so a
recipient's alerts go out in the order they were written.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.domain.delivery import (
    DRIVER_REGISTERED,
    Defer,
    Delivered,
    Final,
    FlagUnreachable,
    Hold,
    OutboxRow,
    Outcome,
    Refused,
    Release,
    Retry,
    SendResult,
    Sent,
    SentAs,
    Status,
    Targets,
    Throttled,
    Transient,
    Unreachable,
    backoff_seconds,
    quiet_until,
)
from core.domain.model import Alerts, OwnerKind, Park
from core.domain.telemetry import DeliveryOutcome
from core.ports import (
    Clock,
    Database,
    Lease,
    LeaseFactory,
    Messenger,
    NoTelemetry,
    Telemetry,
    UnitOfWork,
)
from core.replies import ACTION_LABELS, Action
from core.services.alert_texts import CannotRender, render
from core.services.pacing import BotPacer, Monotonic
from core.texts import Catalog

log = logging.getLogger("taxireg.notify")

PARTNER_LANG = "ru"  # partners have no stored language yet; the default catalog

# Tries to write one outcome before the lane gives up (the database is down): the pauses
# between them, in seconds. Until it is written, nothing else is sent through that bot.
_RECORD_PAUSES = (0.2, 1.0, 3.0)
# How often the lane re-checks, between sends, that its bot's lease is still ours.
_LEASE_CHECK_S = 1.0


@dataclass(frozen=True)
class DeliveryOptions:
    """The ``[notifications]`` settings the relay needs (built by ``app``)."""

    batch_size: int = 100
    lease_seconds: float = 60.0
    max_attempts: int = 8
    per_bot_rate: float = 25.0
    per_chat_interval_seconds: float = 1.0
    backoff_base_seconds: float = 2.0
    backoff_max_seconds: float = 600.0
    unlinked_ttl_hours: int = 72
    takeover_pause_seconds: float | None = None
    """How long a process that just took a bot's send lease waits before its first send;
    None: one pacing window or one chat interval, whichever is longer (see ``_BotLane``)."""


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
    parks: list[str] = field(default_factory=list)  # the bots this process sent for

    def count(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            match outcome:
                case Sent(sent_as=SentAs.DIGEST):
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
class Job:
    """A claimed row that is to be sent."""

    row: OutboxRow
    chat_id: int
    text: str
    claimed_at: float  # monotonic, for the claim guard
    buttons: tuple[str, ...] = ()  # quick replies under the message (a reminder's button)


@dataclass(frozen=True)
class Message:
    """What triage decided to send for a row."""

    chat_id: int
    text: str
    buttons: tuple[str, ...] = ()


class LeaseLost(Exception):
    """This process no longer holds the bot's send lease: stop sending for it."""


def triage(
    row: OutboxRow,
    now: datetime,
    targets: Targets,
    parks: Mapping[str, Park],
    catalog: Catalog,
    unlinked_ttl: timedelta,
) -> Outcome | Message:
    """Decide a claimed row without Telegram: an outcome, or the message to send."""
    park = parks.get(row.park)
    if park is None:
        return Final(row.id, Status.FAILED, f"unknown park {row.park!r}")
    broadcast = None
    if row.broadcast_id is not None:
        broadcast = targets.broadcasts.get(row.broadcast_id)
        if broadcast is None or broadcast.cancelled:
            return Final(row.id, Status.CANCELLED, "the broadcast was cancelled")
    if row.recipient_kind is OwnerKind.CONVERSATION:
        return _reminder(row, targets, park, catalog)
    if row.recipient_kind is OwnerKind.PARTNER:
        partner = targets.partners.get(row.recipient_id)
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
            return _unlinked(row, now, unlinked_ttl)
        if row.kind == DRIVER_REGISTERED and partner.alerts is Alerts.DIGEST:
            # Digest-only partner: the registration is counted in tonight's digest,
            # which reads the drivers table, so nothing is lost by not sending it.
            return Sent(row.id, now, sent_as=SentAs.DIGEST)
        until = quiet_until(now, park.timezone, partner.quiet_from, partner.quiet_to)
        if until is not None:
            return Defer(row.id, until, Hold.QUIET, f"quiet hours until {until:%H:%M} UTC")
        chat_id, lang = partner.chat_id, PARTNER_LANG
    else:
        driver = targets.drivers.get(row.recipient_id)
        if driver is None or driver.chat_id is None:
            return _unlinked(row, now, unlinked_ttl)
        if broadcast is not None and not driver.mailing:
            return Final(row.id, Status.CANCELLED, "the driver withdrew mailing consent (/stop)")
        chat_id, lang = driver.chat_id, driver.lang
    if broadcast is not None:
        return Message(chat_id, broadcast.text)  # the operator's own words, as written
    try:
        text = render(catalog, lang, park, row.kind, row.payload)
    except CannotRender as exc:
        log.error("cannot render outbox row %d: %s", row.id, exc)
        return Final(row.id, Status.FAILED, str(exc))
    return Message(chat_id, text)


def _reminder(row: OutboxRow, targets: Targets, park: Park, catalog: Catalog) -> Outcome | Message:
    conversation = targets.conversations.get(row.recipient_id)
    if conversation is None or not conversation.open:
        return Final(row.id, Status.CANCELLED, "the registration was finished or stopped")
    if conversation.chat_id is None:
        return Final(row.id, Status.FAILED, "reminders are sent through Telegram only")
    lang = conversation.lang
    try:
        text = render(catalog, lang, park, row.kind, row.payload)
    except CannotRender as exc:
        log.error("cannot render outbox row %d: %s", row.id, exc)
        return Final(row.id, Status.FAILED, str(exc))
    button = catalog.text(lang, ACTION_LABELS[Action.CONTINUE])
    return Message(conversation.chat_id, text, (button,))


def _unlinked(row: OutboxRow, now: datetime, ttl: timedelta) -> Outcome:
    deadline = row.created_at + ttl
    if now >= deadline:
        hours = int(ttl.total_seconds() // 3600)
        return Final(
            row.id, Status.EXPIRED, f"the recipient did not link Telegram within {hours} h"
        )
    # Parked until the deadline; re-activation wakes it as soon as they link.
    return Defer(row.id, deadline, Hold.UNLINKED, "waiting for the recipient to link Telegram")


def outcome_of(
    job: Job,
    result: SendResult,
    now: datetime,
    options: DeliveryOptions,
    rng: random.Random,
) -> list[Outcome]:
    """What a send's answer means for its row (and, if the chat is gone, for its partner)."""
    row = job.row
    match result:
        case Delivered():
            return [Sent(row.id, now)]
        case Throttled(retry_after, reason):
            at = now + timedelta(seconds=retry_after)
            return [Retry(row.id, at, reason, count_attempt=False)]
        case Unreachable(reason):
            outcomes: list[Outcome] = [
                Final(row.id, Status.UNDELIVERABLE, reason, attempted=True, hold=Hold.BLOCKED)
            ]
            if row.recipient_kind is OwnerKind.PARTNER:
                outcomes.append(FlagUnreachable(row.recipient_id, job.chat_id))
            log.warning("alert undeliverable (park %s, row %d): %s", row.park, row.id, reason)
            return outcomes
        case Refused(reason):
            log.error("telegram refused alert row %d: %s", row.id, reason)
            return [Final(row.id, Status.FAILED, reason, attempted=True)]
        case Transient(reason):
            attempt = row.attempts + 1
            if attempt >= options.max_attempts:
                log.error("alert row %d dead after %d attempts: %s", row.id, attempt, reason)
                return [Final(row.id, Status.DEAD, reason, attempted=True)]
            delay = backoff_seconds(
                attempt, options.backoff_base_seconds, options.backoff_max_seconds, rng
            )
            return [Retry(row.id, now + timedelta(seconds=delay), reason)]
    raise AssertionError(f"unhandled send result {result!r}")


def alert_outcome(outcomes: list[Outcome]) -> DeliveryOutcome | None:
    """What a send's recorded outcomes count as in the metrics."""
    for outcome in outcomes:
        match outcome:
            case Sent():
                return DeliveryOutcome.SENT
            case Retry():
                return DeliveryOutcome.RETRIED
            case Final():
                return DeliveryOutcome.FAILED
    return None


class _BotLane:
    """One bot's sender: its lease, its pacing, its one send at a time."""

    def __init__(
        self, park: str, lease: Lease | None, pacer: BotPacer, takeover_pause: float | None
    ) -> None:
        self.park = park
        self.lease = lease
        self.pacer = pacer
        self.takeover_pause = takeover_pause
        if takeover_pause is None:
            self.takeover_pause = max(pacer.window, pacer.chat_interval)
        self.held = lease is None  # no lease factory: this process is the only sender
        self.checked = 0.0

    async def lead(self, monotonic: Monotonic) -> bool:
        """Whether this process sends for the bot now; takes the lease when it is free."""
        if self.lease is None:
            return True
        try:
            if self.held:
                self.held = await self.lease.alive()
                if not self.held:
                    log.warning("send lease for park %s lost; standing by", self.park)
                return self.held
            self.held = await self.lease.acquire()
        except Exception as exc:
            log.warning("send lease for park %s unavailable: %s", self.park, exc)
            self.held = False
            return False
        if self.held:
            # The previous holder's last sends may be less than a window (or a chat gap)
            # ago, and their times died with it: wait them out before the first send.
            self.pacer.hold_off(self.takeover_pause or 0.0)
            log.info("this process sends the alerts of park %s", self.park)
        self.checked = monotonic()
        return self.held

    async def still_leading(self, monotonic: Monotonic) -> None:
        if self.lease is None or monotonic() - self.checked < _LEASE_CHECK_S:
            return
        self.checked = monotonic()
        try:
            alive = await self.lease.alive()
        except Exception:
            alive = False
        if not alive:
            self.held = False
            raise LeaseLost(self.park)

    async def release(self) -> None:
        if self.lease is not None and self.held:
            self.held = False
            try:
                await self.lease.release()
            except Exception as exc:  # its connection is gone, and the lease with it
                log.info("could not release the send lease of park %s: %s", self.park, exc)


class DeliveryService:
    def __init__(
        self,
        *,
        db: Database,
        messenger: Messenger,
        catalog: Catalog,
        parks: Mapping[str, Park],
        clock: Clock,
        options: DeliveryOptions,
        worker: str,
        leases: LeaseFactory | None = None,
        rng: random.Random | None = None,
        monotonic: Monotonic = time.monotonic,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.db = db
        self.telemetry: Telemetry = telemetry or NoTelemetry()
        self.messenger = messenger
        self.catalog = catalog
        self.parks = dict(parks)
        self.clock = clock
        self.options = options
        self.worker = worker
        self._leases = leases
        self._rng = rng or random.Random()
        self._monotonic = monotonic
        self._lanes: dict[str, _BotLane] = {}
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()
        self._claim_lease = timedelta(seconds=options.lease_seconds)
        # Never start a send whose row's claim may be about to run out: another worker
        # could then claim it and send it a second time.
        self._send_window = options.lease_seconds / 2

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def lane(self, park: str) -> _BotLane:
        lane = self._lanes.get(park)
        if lane is None:
            lease = self._leases(f"send:{park}") if self._leases is not None else None
            pacer = BotPacer(
                self.options.per_bot_rate,
                self.options.per_chat_interval_seconds,
                clock=self._monotonic,
            )
            pause = self.options.takeover_pause_seconds
            lane = self._lanes[park] = _BotLane(park, lease, pacer, pause)
        return lane

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

    async def _run(self, report: Report, now: Callable[[], datetime]) -> None:
        stale = timedelta(hours=self.options.unlinked_ttl_hours)
        at = now()
        woken = await self.db.run(lambda uow: uow.outbox.reactivate(at, stale))
        report.reactivated = len(woken)
        lanes = []
        for park in sorted(self.messenger.parks):
            lane = self.lane(park)
            if await lane.lead(self._monotonic):
                lanes.append(lane)
        report.parks = [lane.park for lane in lanes]
        # Lanes are independent: one bot's failure (its outcomes cannot be written) must not
        # leave the others running unattended, so every lane ends before the pass does.
        results = await asyncio.gather(
            *(self._drain(lane, report, now) for lane in lanes), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _drain(self, lane: _BotLane, report: Report, now: Callable[[], datetime]) -> None:
        """Claim and send this bot's due rows until none is left (or the lease is lost)."""
        try:
            while not self.stopping:
                rows, targets = await self._claim(lane.park, now())
                if not rows:
                    return
                report.claimed += len(rows)
                decided, jobs = self._triage(rows, targets, now())
                await self._record(decided, report)
                await self._send_all(lane, jobs, report)
        except LeaseLost:
            # Its unsent rows were handed back; the new holder sends them.
            log.warning("send lease for park %s lost during a pass; standing by", lane.park)

    async def _claim(self, park: str, at: datetime) -> tuple[list[OutboxRow], Targets]:
        lease, limit, worker = self._claim_lease, self.options.batch_size, self.worker

        def work(uow: UnitOfWork) -> tuple[list[OutboxRow], Targets]:
            rows = uow.outbox.claim(now=at, worker=worker, lease=lease, limit=limit, parks=[park])
            return rows, uow.outbox.targets(rows)

        return await self.db.run(work)

    def _triage(
        self, rows: list[OutboxRow], targets: Targets, now: datetime
    ) -> tuple[list[Outcome], list[Job]]:
        ttl = timedelta(hours=self.options.unlinked_ttl_hours)
        decided: list[Outcome] = []
        jobs: list[Job] = []
        claimed_at = self._monotonic()
        for row in rows:
            result = triage(row, now, targets, self.parks, self.catalog, ttl)
            if isinstance(result, Message):
                jobs.append(Job(row, result.chat_id, result.text, claimed_at, result.buttons))
            else:
                decided.append(result)
        return decided, jobs

    async def _send_all(self, lane: _BotLane, jobs: list[Job], report: Report) -> None:
        """Send one at a time, each recorded before the next; the first ready chat first."""
        waiting = list(jobs)
        try:
            while waiting:
                if self.stopping:
                    break
                job = await self._next(lane, waiting)
                if job is None:
                    break  # stopping
                await lane.still_leading(self._monotonic)
                waiting.remove(job)
                if self._monotonic() - job.claimed_at > self._send_window:
                    await self._record([Release(job.row.id)], report)
                    continue
                lane.pacer.started()
                if job.buttons:
                    result = await self.messenger.send(
                        lane.park, job.chat_id, job.text, buttons=job.buttons
                    )
                else:
                    result = await self.messenger.send(lane.park, job.chat_id, job.text)
                lane.pacer.finished((lane.park, job.chat_id))
                if isinstance(result, Throttled):
                    lane.pacer.hold_off(result.retry_after)
                outcomes = outcome_of(job, result, self.clock.now(), self.options, self._rng)
                await self._record(outcomes, report)
                if (counted := alert_outcome(outcomes)) is not None:
                    self.telemetry.alert(lane.park, counted)
        finally:
            if waiting:
                # Not sent: hand them back at once rather than after their claim runs out.
                await self._record([Release(job.row.id) for job in waiting], report)

    async def _next(self, lane: _BotLane, waiting: list[Job]) -> Job | None:
        """Wait for the bot's next slot and for a job whose chat may be written to."""
        while not self.stopping:
            chat_waits = [(lane.pacer.chat_wait((lane.park, j.chat_id)), j) for j in waiting]
            chat_wait, job = min(chat_waits, key=lambda pair: pair[0])
            wait = max(lane.pacer.bot_wait(), chat_wait)
            if wait <= 0:
                return job
            await self._sleep(wait)
        return None

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            return

    async def _record(self, outcomes: list[Outcome], report: Report) -> None:
        if not outcomes:
            return
        worker = self.worker
        for pause_s in (*_RECORD_PAUSES, None):
            try:
                await self.db.run(lambda uow: uow.outbox.record(outcomes, worker))
                break
            except Exception:
                if pause_s is None:
                    # The rows stay claimed; after the claim they are tried again, so a
                    # message already accepted by Telegram may then go out twice. Nothing
                    # more is sent through this bot in this pass.
                    log.exception("cannot record %d delivery outcome(s)", len(outcomes))
                    raise
                log.warning("recording delivery outcomes failed, retrying", exc_info=True)
                await asyncio.sleep(pause_s)
        report.count(outcomes)

    async def stop(self, timeout: float = 10.0) -> int:  # noqa: ASYNC109
        """Stop claiming, let the send on the wire finish, release rows and leases.

        Returns how many rows were handed back.
        """
        self._stop.set()
        try:
            async with asyncio.timeout(timeout):
                async with self._lock:  # the running pass, if any, winds down first
                    pass
        except TimeoutError:
            log.warning("delivery pass did not stop within %.0f s", timeout)
        worker = self.worker
        released = await self.db.run(lambda uow: uow.outbox.release(worker))
        for lane in self._lanes.values():
            await lane.release()
        return released
