"""One reminder for unfinished registrations (issue 13), through the real scheduler job.

The job body of ``taxireg run``'s scheduler (``NotificationScheduler.remind``, built by
``app.wiring_scheduler.build_scheduler``) runs on the fake business clock; core's relay
sends what it queued through real aiogram bots to the fake Bot API.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.bootstrap import Container
from app.wiring_scheduler import build_scheduler
from core.domain.delivery import Status
from core.domain.model import Channel, Identity, Profile
from core.events import Command, ContactShared, Event, Incoming, Start, Text
from core.replies import Answer
from scheduler.service import NotificationScheduler
from storage import stats
from tests.bots.notifications_env import (
    TOKENS,
    JobContext,
    build_app,
    deliver_once,
    linked_partner,
    next_phone,
    rows,
)
from tests.conftest import PARKS
from tests.fakes.clock import FakeClock
from tests.fakes.telegram_server import FakeTelegram

pytest_plugins = ("tests.bots.notifications_fixtures",)

MOS = TOKENS["mos"]
NO_CODE = "У меня нет реферального кода"  # the no-code button's label
_users = itertools.count(990_000)
_events = itertools.count(1)


@pytest.fixture
async def app(
    database_url: str, tmp_path: Path, clock: FakeClock, server: FakeTelegram
) -> AsyncIterator[Container]:
    """Both parks with bots on the fake server; spb has reminders switched off."""
    parks = [{**park, "reminders": park["slug"] != "spb"} for park in PARKS]
    container = await build_app(
        database_url,
        tmp_path,
        clock,
        server,
        parks=parks,
        registration={"reminder_after_hours": 24},
    )
    try:
        yield container
    finally:
        await container.aclose()


@pytest.fixture
def jobs(app: Container, ctx: JobContext) -> NotificationScheduler:
    """``taxireg run``'s scheduler, not started: the test runs its job bodies by hand."""
    return build_scheduler(app, ctx.messenger, worker="w1")


async def say(
    app: Container, user: int, event: Event, park: str = "mos", lang: str = "ru"
) -> Answer:
    who = Identity(Channel.TELEGRAM, str(user))
    return await app.registration.handle(
        Incoming(park, who, event, Profile("Олег", lang), event_id=next(_events))
    )


def contact() -> ContactShared:
    """A new driver's own phone, shared with the contact button."""
    return ContactShared(next_phone().lstrip("+"), own=True)


async def reminder_queued(app: Container, jobs: NotificationScheduler, clock: FakeClock) -> int:
    """A driver who pressed Start and stayed away 25 h, with the job's reminder queued."""
    user = next(_users)
    await say(app, user, Start())
    clock.advance(hours=25)
    assert await jobs.remind() == 1
    return user


def keyboard(params: dict[str, Any]) -> list[str]:
    markup = params.get("reply_markup") or {}
    return [button["text"] for row in markup.get("keyboard", []) for button in row]


async def test_one_reminder_a_day_later_with_a_button_that_continues(
    app: Container,
    ctx: JobContext,
    jobs: NotificationScheduler,
    server: FakeTelegram,
    clock: FakeClock,
) -> None:
    stopped_half_way, finished, said_stop = next(_users), next(_users), next(_users)
    await say(app, stopped_half_way, Start(), lang="en")
    await say(app, finished, Start())
    await say(app, finished, contact())
    await say(app, finished, Text(NO_CODE))
    await say(app, said_stop, Start())
    await say(app, said_stop, Command("stop"))

    clock.advance(hours=23, minutes=59)
    assert await jobs.remind() == 0
    clock.advance(minutes=2)  # 24 h idle, 12:01 in Moscow
    assert await jobs.remind() == 1
    await deliver_once(ctx)

    [message] = server.sent(MOS, stopped_half_way)
    assert "You started registering" in str(message["text"])
    assert keyboard(message) == ["Continue registration"]
    assert not server.sent(MOS, said_stop)
    assert len(server.sent(MOS)) == 1

    # Never twice, however long they stay away.
    for _ in range(3):
        clock.advance(days=1)
        assert await jobs.remind() == 0
        await deliver_once(ctx)
    assert len(server.sent(MOS)) == 1

    # The button continues where they stopped: the phone step asks for the contact again.
    answer = await say(app, stopped_half_way, Text("Continue registration"), lang="en")
    assert answer.replies[0].key == "phone-ask-contact"
    await say(app, stopped_half_way, contact(), lang="en")
    await say(app, stopped_half_way, Text("I have no referral code"), lang="en")

    counts = await app.db.run_on_connection(stats.collect, readonly=True)
    assert (counts.parks["mos"].reminded, counts.parks["mos"].reminded_registered) == (1, 1)


async def test_a_confirmed_phone_gets_the_code_reminder_in_russian(
    app: Container,
    ctx: JobContext,
    jobs: NotificationScheduler,
    server: FakeTelegram,
    clock: FakeClock,
) -> None:
    partner = await linked_partner(app)  # not linked to Telegram: no alert to send
    user = next(_users)
    await say(app, user, Start())
    await say(app, user, contact())  # at the code step
    assert partner.code
    clock.advance(hours=25)
    assert await jobs.remind() == 1
    await deliver_once(ctx)
    [message] = server.sent(MOS, user)
    assert "Ваш номер подтверждён" in str(message["text"])
    assert keyboard(message) == ["Продолжить регистрацию"]
    answer = await say(app, user, Text("Продолжить регистрацию"))
    assert [r.key for r in answer.replies] == ["ask-referral-code"]


async def test_a_reminder_due_at_night_waits_for_the_morning(
    app: Container,
    ctx: JobContext,
    jobs: NotificationScheduler,
    server: FakeTelegram,
    clock: FakeClock,
) -> None:
    clock.current = datetime(2026, 11, 23, 17, 30, tzinfo=UTC)  # 20:30 in Moscow
    user = next(_users)
    await say(app, user, Start())
    clock.advance(hours=24)  # due, but 20:30 in Moscow: after the day's end
    assert await jobs.remind() == 0
    clock.current = datetime(2026, 11, 25, 6, 59, tzinfo=UTC)  # 09:59 in Moscow
    assert await jobs.remind() == 0
    await deliver_once(ctx)
    assert not server.sent(MOS, user)
    clock.advance(minutes=1)  # 10:00
    assert await jobs.remind() == 1
    await deliver_once(ctx)
    assert len(server.sent(MOS, user)) == 1


async def test_finishing_after_the_reminder_was_queued_drops_it(
    app: Container,
    ctx: JobContext,
    jobs: NotificationScheduler,
    server: FakeTelegram,
    clock: FakeClock,
) -> None:
    user = await reminder_queued(app, jobs, clock)
    # They come back on their own before the relay's pass, and finish.
    await say(app, user, contact())
    await say(app, user, Text(NO_CODE))
    sent_before = len(server.sent(MOS, user))
    await deliver_once(ctx)
    assert len(server.sent(MOS, user)) == sent_before
    [row] = await rows(ctx, status="cancelled")
    assert row.status is Status.CANCELLED


async def test_a_stop_after_queueing_drops_it_too(
    app: Container,
    ctx: JobContext,
    jobs: NotificationScheduler,
    server: FakeTelegram,
    clock: FakeClock,
) -> None:
    user = await reminder_queued(app, jobs, clock)
    await say(app, user, Command("stop"))
    await deliver_once(ctx)
    assert not server.sent(MOS, user)


async def test_reminders_switched_off_for_a_park(
    app: Container,
    ctx: JobContext,
    jobs: NotificationScheduler,
    server: FakeTelegram,
    clock: FakeClock,
) -> None:
    in_mos, in_spb = next(_users), next(_users)
    await say(app, in_mos, Start())
    await say(app, in_spb, Start(), park="spb")
    clock.advance(hours=25)
    assert await jobs.remind() == 1
    await deliver_once(ctx)
    assert len(server.sent(MOS, in_mos)) == 1
    assert not server.sent(TOKENS["spb"])


async def test_two_processes_remind_each_driver_once(
    app: Container, ctx: JobContext, server: FakeTelegram, clock: FakeClock
) -> None:
    users = [next(_users) for _ in range(30)]
    for user in users:
        await say(app, user, Start())
    clock.advance(hours=25)
    first = build_scheduler(app, ctx.messenger, worker="w1")
    second = build_scheduler(app, ctx.messenger, worker="w2")
    assert first.reminders is not None
    first.reminders.options = _small_batches(first)
    second.reminders.options = _small_batches(second)  # type: ignore[union-attr]
    taken = await asyncio.gather(first.remind(), second.remind(), first.remind())
    assert sum(taken) == 30
    assert len(await rows(ctx)) == 30
    await deliver_once(ctx)
    for user in users:
        assert len(server.sent(MOS, user)) == 1


def _small_batches(jobs: NotificationScheduler) -> Any:
    import dataclasses

    assert jobs.reminders is not None
    return dataclasses.replace(jobs.reminders.options, batch_size=4)


async def test_the_running_scheduler_has_the_reminder_job(
    app: Container, ctx: JobContext, jobs: NotificationScheduler
) -> None:
    await jobs.start()
    try:
        assert jobs.scheduler is not None
        assert jobs.scheduler.get_job("reminders") is not None
    finally:
        await jobs.stop()


async def test_the_due_query_seeks_the_partial_index(
    app: Container, database_url: str, clock: FakeClock
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's; PostgreSQL's plan depends on statistics")
    from storage.reminders import _sqlite_due

    captured: list[str] = []

    def explain(uow: Any) -> None:
        # The marking UPDATE exactly as take_due runs it on SQLite.
        now = clock.now()
        stmt = _sqlite_due(["mos"], now, now, 10, prefix="EXPLAIN QUERY PLAN ")
        captured.extend(str(row) for row in uow.connection.execute(stmt))

    await app.db.run(explain)
    assert any("ix_conversations_reminder_due" in line for line in captured), captured


async def test_the_funnel_counts_reminded_and_reminded_then_registered(
    app: Container, ctx: JobContext, jobs: NotificationScheduler, clock: FakeClock
) -> None:
    from zoneinfo import ZoneInfo

    from core.domain.cabinet import FunnelBy, funnel

    partner = await linked_partner(app)
    assert partner.id is not None
    stays, comes_back, never_reminded = next(_users), next(_users), next(_users)
    await say(app, stays, Start(partner.code))
    await say(app, comes_back, Start(partner.code))
    clock.advance(hours=25)
    await say(app, never_reminded, Start(partner.code))
    assert await jobs.remind() == 2
    await say(app, comes_back, contact())
    await say(app, never_reminded, contact())

    start, end = clock.now() - timedelta(days=3), clock.now() + timedelta(days=1)
    day, zone = clock.now().date(), ZoneInfo("Europe/Moscow")

    def work(uow: Any) -> Any:
        started = uow.cabinet.started([partner.code], start, end)
        registered = uow.cabinet.referrals([partner.id], since=start, until=end)
        return funnel(FunnelBy.SOURCE, [], started, registered, zone, day - timedelta(3), day)

    [row] = await app.db.read(work)
    assert (row.opened, row.registered) == (3, 2)
    assert (row.reminded, row.reminded_registered) == (2, 1)
