"""Broadcasts through the outbox and the fake Bot API (issue 13).

The broadcast service queues rows in the real database; core's relay sends them through
``TelegramMessenger`` on real aiogram bots pointed at the fake server, pass by pass on the
fake business clock. Pacing is measured on the fake server's arrival times.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

from app.bootstrap import Container
from core.domain.broadcast import Audience, BroadcastFilter, BroadcastState
from core.domain.delivery import Status
from core.domain.model import Channel, Identity, Profile
from core.events import Command, Incoming, Start, Text
from core.services.broadcast import BroadcastOptions, BroadcastService
from tests.bots.notifications_env import (
    TOKENS,
    JobContext,
    build_app,
    deliver_once,
    drain,
    linked_partner,
    make_ctx,
    register_driver,
    rows,
    say,
)
from tests.fakes.clock import FakeClock
from tests.fakes.sms import RecordingSms
from tests.fakes.telegram_server import FakeTelegram

pytest_plugins = ("tests.bots.notifications_fixtures",)

MOS = TOKENS["mos"]
NEWS = "Завтра с 10:00 бонус за каждую поездку 50 ₽."
_users = itertools.count(880_000)


def most_in_one_second(times: list[float]) -> int:
    return max((sum(1 for u in times if t <= u < t + 1.0) for t in times), default=0)


def texts(server: FakeTelegram, chat_id: int) -> list[str]:
    return [str(p["text"]) for p in server.sent(MOS, chat_id)]


async def driver_with_chat(app: Container, code: str, *, news: bool) -> int:
    """A driver registered in Telegram by a deep link; ``news``: opted in with /news."""
    user = next(_users)
    await register_driver(app, "mos", code, user_id=user)
    if news:
        await say(app, "mos", user, Command("news"))
    return user


async def send(
    app: Container, to: Audience, text: str = NEWS, flt: BroadcastFilter | None = None
) -> tuple[int, bool]:
    service = app.broadcasts
    plan = await service.plan("mos", to, flt or BroadcastFilter(), text)
    broadcast, created = await service.create(plan, "test")
    return broadcast.id, created


async def test_partners_and_consenting_drivers_get_it_once_and_a_rerun_sends_nothing(
    app: Container, ctx: JobContext, server: FakeTelegram, clock: FakeClock
) -> None:
    partners = [await linked_partner(app, chat_id=6100 + n) for n in range(3)]
    await linked_partner(app)  # never opened the bot: no chat to write to
    await linked_partner(app, "spb", chat_id=6200)  # another park's
    code = partners[0].code
    opted = await driver_with_chat(app, code, news=True)
    silent = await driver_with_chat(app, code, news=False)
    withdrew = await driver_with_chat(app, code, news=True)
    await say(app, "mos", withdrew, Command("stop"))
    await drain(ctx, clock)  # the partner's registration alerts go first
    before = len(server.sent())

    plan = await app.broadcasts.plan("mos", Audience.PARTNERS, BroadcastFilter(), NEWS)
    assert (plan.audit.reachable, plan.audit.skipped) == (3, 1)
    broadcast_id, created = await send(app, Audience.PARTNERS)
    assert created
    clock.advance(minutes=1)
    await drain(ctx, clock)
    for n in range(3):
        assert texts(server, 6100 + n)[-1] == NEWS
    assert not server.sent(TOKENS["spb"])
    progress = await app.broadcasts.get(broadcast_id)
    assert (progress.sent, progress.pending, progress.failed, progress.unreachable) == (3, 0, 0, 0)
    assert progress.broadcast.skipped == 1
    assert progress.finished

    # The same command again: found by its key, nothing queued, nothing sent.
    again_id, created = await send(app, Audience.PARTNERS)
    assert (again_id, created) == (broadcast_id, False)
    clock.advance(minutes=1)
    await drain(ctx, clock)
    assert len(server.sent()) == before + 3

    # Drivers: only the one who opted in and did not /stop.
    drivers_id, _ = await send(app, Audience.DRIVERS)
    clock.advance(minutes=1)
    await drain(ctx, clock)
    assert texts(server, opted)[-1] == NEWS
    assert NEWS not in texts(server, silent)
    assert NEWS not in texts(server, withdrew)
    progress = await app.broadcasts.get(drivers_id)
    assert (progress.broadcast.queued, progress.sent) == (1, 1)
    assert len(server.sent()) == before + 4


async def test_a_stop_after_queueing_still_keeps_the_driver_out(
    app: Container, ctx: JobContext, server: FakeTelegram, clock: FakeClock
) -> None:
    partner = await linked_partner(app, chat_id=6300)
    first = await driver_with_chat(app, partner.code, news=True)
    second = await driver_with_chat(app, partner.code, news=True)
    await drain(ctx, clock)
    broadcast_id, _ = await send(app, Audience.DRIVERS)
    await say(app, "mos", second, Command("stop"))
    clock.advance(minutes=1)
    await drain(ctx, clock)
    assert texts(server, first)[-1] == NEWS
    assert NEWS not in texts(server, second)
    progress = await app.broadcasts.get(broadcast_id)
    assert (progress.sent, progress.cancelled) == (1, 1)


async def test_a_403_marks_the_partner_unreachable_and_counts_it(
    app: Container, ctx: JobContext, server: FakeTelegram, clock: FakeClock
) -> None:
    await linked_partner(app, chat_id=6400)
    await linked_partner(app, chat_id=6401)
    broadcast_id, _ = await send(app, Audience.PARTNERS)
    server.inject("sendMessage", token=MOS, status=403)  # the first send: blocked the bot
    clock.advance(minutes=1)
    await drain(ctx, clock)

    progress = await app.broadcasts.get(broadcast_id)
    assert (progress.sent, progress.unreachable, progress.pending) == (1, 1, 0)
    blocked = [p for p in await app.admin.list_partners("mos") if p.unreachable]
    assert len(blocked) == 1
    # The next broadcast skips the chat that refused us.
    plan = await app.broadcasts.plan("mos", Audience.PARTNERS, BroadcastFilter(), "Ещё новость")
    assert (plan.audit.reachable, plan.audit.skipped) == (1, 1)


async def test_cancel_stops_the_rest(
    app: Container, ctx: JobContext, server: FakeTelegram, clock: FakeClock
) -> None:
    chats = [6500 + n for n in range(5)]
    for chat in chats:
        await linked_partner(app, chat_id=chat)
    # One row a second, so the fake clock decides how many are due.
    service = BroadcastService(app.db, app.parks, app.clock, BroadcastOptions(per_bot_rate=1.0))
    plan = await service.plan("mos", Audience.PARTNERS, BroadcastFilter(), NEWS)
    broadcast, _ = await service.create(plan, "test")
    start = clock.now()

    report = await deliver_once(ctx, start + timedelta(seconds=1.5))
    assert report.sent == 2
    progress, cancelled = await service.cancel(broadcast.id, "test")
    assert cancelled == 3
    assert progress.broadcast.state is BroadcastState.CANCELLED

    clock.advance(hours=1)
    await deliver_once(ctx)
    assert sum(len(texts(server, chat)) for chat in chats) == 2
    progress = await service.get(broadcast.id)
    assert (progress.sent, progress.cancelled, progress.pending) == (2, 3, 0)
    assert progress.finished
    # Cancelling again changes nothing.
    assert (await service.cancel(broadcast.id, "test"))[1] == 0


async def test_a_cancelled_broadcast_claimed_meanwhile_is_dropped_by_the_relay(
    app: Container, ctx: JobContext, server: FakeTelegram, clock: FakeClock
) -> None:
    await linked_partner(app, chat_id=6600)
    broadcast_id, _ = await send(app, Audience.PARTNERS)
    # A relay holds the row (claimed, not sent) when the operator cancels: cancel leaves
    # held rows alone, and the relay drops it once it sees the broadcast is cancelled.
    worker = "other"
    claimed = await app.db.run(
        lambda uow: uow.outbox.claim(
            now=clock.now() + timedelta(minutes=1),
            worker=worker,
            lease=timedelta(seconds=1),
            limit=10,
        )
    )
    assert len(claimed) == 1
    assert (await app.broadcasts.cancel(broadcast_id, "test"))[1] == 0
    clock.advance(minutes=5)  # the other worker's claim ran out
    await deliver_once(ctx)
    assert not texts(server, 6600)
    [row] = await rows(ctx, status="cancelled")
    assert row.broadcast_id == broadcast_id


async def test_pacing_holds_for_a_broadcast(
    database_url: str, tmp_path: Path, clock: FakeClock, server: FakeTelegram
) -> None:
    app = await build_app(database_url, tmp_path, clock, server, per_bot_rate=8.0)
    ctx = make_ctx(app, takeover_pause=None)
    try:
        for n in range(20):
            await linked_partner(app, chat_id=6700 + n)
        await send(app, Audience.PARTNERS)
        clock.advance(hours=1)  # every row due at once: the pacer alone spaces them
        report = await deliver_once(ctx)
        assert report.sent == 20
        times = server.request_times(token=MOS)
        assert len(times) == 20
        assert most_in_one_second(times) <= 8, times
    finally:
        await ctx.aclose()
        await app.aclose()


async def test_a_filter_narrows_the_drivers(
    app: Container, ctx: JobContext, server: FakeTelegram, clock: FakeClock
) -> None:
    anna = await linked_partner(app, chat_id=6800)
    boris = await linked_partner(app, chat_id=6801)
    by_anna = await driver_with_chat(app, anna.code, news=True)
    by_boris = await driver_with_chat(app, boris.code, news=True)
    await drain(ctx, clock)
    flt = BroadcastFilter.parse([f"code={anna.code.upper()}"])
    broadcast_id, _ = await send(app, Audience.DRIVERS, flt=flt)
    clock.advance(minutes=1)
    await drain(ctx, clock)
    assert texts(server, by_anna)[-1] == NEWS
    assert NEWS not in texts(server, by_boris)
    assert (await app.broadcasts.get(broadcast_id)).sent == 1


async def test_vk_drivers_are_skipped(app: Container, clock: FakeClock) -> None:
    partner = await linked_partner(app, chat_id=6900)
    sms = RecordingSms()
    app.registration.sms_sender = sms  # the SMS port: read the code a VK driver would receive
    who = Identity(Channel.VK, str(next(_users)))
    phone = "+79160009900"

    async def vk(event: object) -> None:
        await app.registration.handle(Incoming("mos", who, event, Profile("Вера", "ru")))  # type: ignore[arg-type]

    await vk(Start(partner.code))
    await vk(Text(phone))
    await vk(Text(sms.last_code(phone)))
    await vk(Command("news"))
    driver = await app.db.run(lambda uow: uow.drivers.by_phone("mos", phone))
    assert driver is not None
    assert driver.mailing_at is not None
    plan = await app.broadcasts.plan("mos", Audience.DRIVERS, BroadcastFilter(), NEWS)
    assert (plan.audit.reachable, plan.audit.skipped) == (0, 1)


async def test_rows_are_queued_in_batches_and_resume(
    app: Container, ctx: JobContext, clock: FakeClock
) -> None:
    for n in range(7):
        await linked_partner(app, chat_id=7000 + n)
    service = BroadcastService(app.db, app.parks, app.clock, BroadcastOptions(batch_size=3))
    plan = await service.plan("mos", Audience.PARTNERS, BroadcastFilter(), NEWS)
    batches: list[int] = []
    broadcast, _ = await service.create(plan, "test", batches.append)
    assert batches == [3, 3, 1]
    assert broadcast.state is BroadcastState.QUEUED
    assert broadcast.queued == 7
    queued = await rows(ctx, status="pending")
    assert len(queued) == 7
    assert all(r.status is Status.PENDING for r in queued)
