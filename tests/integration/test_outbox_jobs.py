"""The scheduler's other jobs: clean-up, and how the jobs are scheduled per park."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.bootstrap import Container
from app.wiring_scheduler import build_scheduler
from core.domain.model import Channel, Identity, Profile
from core.domain.registration import Step
from core.events import Incoming, Start, Text
from tests.bots.notifications_env import (
    JobContext,
    cleanup_once,
    linked_partner,
    make_ctx,
    next_phone,
    register_driver,
    say,
)
from tests.fakes.clock import FakeClock

pytest_plugins = ("tests.bots.notifications_fixtures",)


@pytest.fixture
def clock() -> FakeClock:
    # Abandonment is judged on the rows' updated_at, written with the database's wall
    # clock, so the fake clock starts at the real time.
    return FakeClock(datetime.now(UTC))


async def conversation_step(app: Container, channel: Channel, user_id: str) -> Step | None:
    conv = await app.db.run(lambda uow: uow.conversations.get("mos", channel, user_id))
    return conv.step if conv else None


async def test_cleanup_forgets_expired_codes_and_abandoned_registrations(
    app: Container, ctx: JobContext, clock: FakeClock
) -> None:
    terminal = Identity(Channel.TERMINAL, "kiosk-1")
    for event in (Start(), Text(next_phone())):  # asked for an SMS code, never typed it
        await app.registration.handle(Incoming("mos", terminal, event, Profile("Олег")))
    await say(app, "mos", 9001, Start())  # opened the Telegram bot and left
    partner = await linked_partner(app, chat_id=9002)
    await register_driver(app, "mos", partner.code, user_id=9003)

    assert (await cleanup_once(ctx)).otps_cleared == 0  # the code is still valid
    clock.advance(minutes=6)  # otp_ttl_seconds = 300
    report = await cleanup_once(ctx)
    assert (report.otps_cleared, report.conversations_deleted) == (1, 0)
    conv = await app.db.run(lambda uow: uow.conversations.get("mos", Channel.TERMINAL, "kiosk-1"))
    assert conv is not None
    assert conv.otp_hash is None
    assert conv.otp_expires_at is None

    clock.advance(days=29)
    assert (await cleanup_once(ctx)).conversations_deleted == 0
    clock.advance(days=2)  # abandoned_registration_days = 30
    assert (await cleanup_once(ctx)).conversations_deleted == 2

    assert await conversation_step(app, Channel.TERMINAL, "kiosk-1") is None
    assert await conversation_step(app, Channel.TELEGRAM, "9001") is None
    assert await conversation_step(app, Channel.TELEGRAM, "9002") is Step.PARTNER
    assert await conversation_step(app, Channel.TELEGRAM, "9003") is Step.DONE


async def test_jobs_are_scheduled_per_park_in_the_parks_time_zone(
    app: Container, clock: FakeClock
) -> None:
    ctx = make_ctx(app)
    part = build_scheduler(app, ctx.messenger, worker="jobs")
    await part.start()
    try:
        scheduler = part.scheduler
        assert scheduler is not None
        ids = {job.id for job in scheduler.get_jobs()}
        assert {"deliver", "cleanup", "digest:mos", "digest:spb"} <= ids
        digest = scheduler.get_job("digest:mos")
        assert digest is not None
        fire = digest.next_run_time
        assert str(fire.tzinfo) == "Europe/Moscow"
        assert (fire.hour, fire.minute) == (20, 0)
    finally:
        await part.stop()
        await ctx.aclose()


@pytest.mark.parametrize(
    ("utc_time", "catch_up"),
    [
        (datetime(2026, 11, 23, 16, 59, tzinfo=UTC), False),  # 19:59 in Moscow
        (datetime(2026, 11, 23, 17, 0, 5, tzinfo=UTC), True),  # 20:00:05: just missed it
        (datetime(2026, 11, 23, 18, 1, tzinfo=UTC), False),  # 21:01: too late for today
    ],
)
async def test_a_restart_right_after_digest_time_still_sends_the_digest(
    app: Container, clock: FakeClock, utc_time: datetime, catch_up: bool
) -> None:
    clock.current = utc_time
    ctx = make_ctx(app)
    part = build_scheduler(app, ctx.messenger, worker="jobs")
    try:
        assert part.digest_just_missed("Europe/Moscow") is catch_up
        assert part.digest_just_missed("Asia/Vladivostok") is False
    finally:
        await ctx.aclose()
