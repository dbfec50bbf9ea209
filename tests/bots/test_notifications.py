"""Partner alerts end to end: registrations through core, the relay, real aiogram, fake Bot API.

Passes are driven by hand with a fake clock (``deliver_once``), so "one delivery interval"
is one pass and retries/backoff/quiet hours need no real waiting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.bootstrap import Container
from app.wiring_scheduler import build_scheduler
from core.domain.phones import mask_phone
from core.events import Pressed, Start
from core.replies import Action
from tests.bots.notifications_env import (
    TOKENS,
    JobContext,
    build_app,
    deliver_once,
    drain,
    link,
    linked_partner,
    make_ctx,
    register_driver,
    rows,
    say,
)
from tests.fakes.clock import FakeClock
from tests.fakes.telegram_server import FakeTelegram

pytest_plugins = ("tests.bots.notifications_fixtures",)

MOS = TOKENS["mos"]


@pytest.fixture
async def ctx(app: Container) -> AsyncIterator[JobContext]:
    context = make_ctx(app, request_timeout=0.5)
    try:
        yield context
    finally:
        await context.aclose()


def texts(server: FakeTelegram, chat_id: int) -> list[str]:
    return [m["text"] for m in server.sent(MOS, chat_id)]


async def test_alert_reaches_the_partner_within_one_pass(
    app: Container, ctx: JobContext, server: FakeTelegram
) -> None:
    partner = await linked_partner(app, chat_id=5001)
    phone = await register_driver(app, "mos", partner.code, name="Иван Петров", tag="vk1")

    report = await deliver_once(ctx)

    assert report.sent == 1
    [text] = texts(server, 5001)
    assert mask_phone(phone) in text
    assert phone not in text
    assert phone[1:] not in text
    assert "Иван" in text
    assert "Петров" not in text
    assert partner.code in text
    assert "Telegram" in text
    assert "реферальная ссылка (vk1)" in text
    assert "23.11.2026 12:00" in text  # 09:00 UTC on the fake clock, shown in Moscow time
    [row] = await rows(ctx)
    assert (row.status, row.sent_as, row.attempts) == ("sent", "telegram", 1)
    assert row.claimed_by is None
    assert row.sent_at == ctx.clock.now()


async def test_the_scheduler_delivers_by_itself_and_stops_cleanly(
    database_url: str, tmp_path: Path, clock: FakeClock, server: FakeTelegram
) -> None:
    # A real AsyncIOScheduler with a short interval, as `taxireg run` starts it.
    app = await build_app(database_url, tmp_path, clock, server, deliver_interval_seconds=0.05)
    ctx = make_ctx(app)  # its bots are the front end's: the scheduler sends through them
    part = build_scheduler(app, ctx.messenger, worker="smoke")
    running = False
    try:
        partner = await linked_partner(app, chat_id=5002)
        await part.start()
        running = True
        phone = await register_driver(app, "mos", partner.code)
        [sent] = await server.wait_for_sent(5002, timeout=10.0, token=MOS)
        assert mask_phone(phone) in sent["text"]
        await part.stop()
        running = False
        [row] = await rows(ctx)
        assert row.status == "sent"
        assert row.claimed_by is None
    finally:
        if running:
            await part.stop()
        await ctx.aclose()
        await app.aclose()


async def test_faults_are_retried_until_each_alert_arrives_exactly_once_in_order(
    app: Container, ctx: JobContext, server: FakeTelegram, clock: FakeClock
) -> None:
    chats = (5101, 5102, 5103)
    partners = [await linked_partner(app, chat_id=chat) for chat in chats]
    expected: dict[int, list[str]] = {chat: [] for chat in chats}
    for round_ in range(3):
        for chat, partner in zip(chats, partners, strict=True):
            phone = await register_driver(app, "mos", partner.code, name=f"Водитель{round_}")
            expected[chat].append(mask_phone(phone))
    # 500s, slow answers beyond the client timeout (0.5 s) and flood control, interleaved.
    server.inject("sendMessage", token=MOS, status=500, times=2)
    server.inject("sendMessage", token=MOS, delay=2.0, times=2)
    server.inject("sendMessage", token=MOS, status=502)
    server.inject("sendMessage", token=MOS, status=429, retry_after=1)

    report = await drain(ctx, clock)

    statuses = [r.status for r in server.calls("sendMessage", token=MOS)]
    assert statuses.count(500) == 2
    assert statuses.count(502) == 1
    assert statuses.count(429) == 1
    assert report.sent == 9
    for chat in chats:
        got = texts(server, chat)
        assert len(got) == 3, got  # exactly once each
        for text, masked in zip(got, expected[chat], strict=True):
            assert masked in text  # ...and in registration order
    outbox = await rows(ctx)
    assert {r.status for r in outbox} == {"sent"}
    assert sum(r.attempts for r in outbox) == 9 + 5  # 429 is throttling, not a failed try
    assert all(r.last_error for r in outbox if r.attempts > 1)
    errors = " ".join(r.last_error or "" for r in outbox)
    assert "timeout" in errors  # the slow answers did time out on our side


async def test_a_failing_alert_holds_back_later_ones_to_the_same_chat(
    app: Container, ctx: JobContext, server: FakeTelegram, clock: FakeClock
) -> None:
    partner = await linked_partner(app, chat_id=5201)
    first = await register_driver(app, "mos", partner.code)
    second = await register_driver(app, "mos", partner.code)
    server.inject("sendMessage", token=MOS, status=500)

    await deliver_once(ctx)
    assert texts(server, 5201) == []  # the second waits behind the first's retry
    head, tail = await rows(ctx)
    assert head.attempts == 1
    assert head.next_attempt_at > clock.now()
    assert tail.next_attempt_at >= head.next_attempt_at

    clock.advance(seconds=9)
    await deliver_once(ctx)
    got = texts(server, 5201)
    assert len(got) == 2
    assert mask_phone(first) in got[0]
    assert mask_phone(second) in got[1]


async def test_dead_after_max_attempts(
    app: Container, ctx: JobContext, server: FakeTelegram, clock: FakeClock
) -> None:
    partner = await linked_partner(app, chat_id=5301)
    await register_driver(app, "mos", partner.code)
    server.inject("sendMessage", token=MOS, status=500, times=10)

    for _ in range(8):
        await deliver_once(ctx)
        clock.advance(seconds=9)

    [row] = await rows(ctx)
    assert row.status == "dead"
    assert row.attempts == 5
    assert "Internal Server Error" in (row.last_error or "")
    assert len(server.calls("sendMessage", token=MOS)) == 5


async def test_blocked_partner_becomes_unreachable_until_they_come_back(
    app: Container, ctx: JobContext, server: FakeTelegram, clock: FakeClock
) -> None:
    partner = await linked_partner(app, chat_id=5401)
    first = await register_driver(app, "mos", partner.code)
    server.inject("sendMessage", token=MOS, status=403)

    await deliver_once(ctx)
    [row] = await rows(ctx)
    assert row.status == "undeliverable"
    assert "blocked" in (row.last_error or "")
    [stored] = await app.admin.list_partners("mos")
    assert stored.unreachable

    # Later alerts are not even tried while the partner is unreachable.
    second = await register_driver(app, "mos", partner.code)
    clock.advance(hours=1)
    await deliver_once(ctx)
    assert len(server.calls("sendMessage", token=MOS)) == 1
    assert {r.status for r in await rows(ctx)} == {"undeliverable"}

    # They unblock the bot (Telegram sends /start): alerts resume, oldest first.
    await say(app, "mos", 5401, Start())
    [stored] = await app.admin.list_partners("mos")
    assert not stored.unreachable
    await deliver_once(ctx)
    got = texts(server, 5401)
    assert len(got) == 2
    assert mask_phone(first) in got[0]
    assert mask_phone(second) in got[1]
    assert {r.status for r in await rows(ctx)} == {"sent"}


async def test_chat_not_found_is_undeliverable_too(
    app: Container, ctx: JobContext, server: FakeTelegram
) -> None:
    partner = await linked_partner(app, chat_id=5402)
    await register_driver(app, "mos", partner.code)
    server.inject("sendMessage", token=MOS, status=400)  # "Bad Request: chat not found"

    await deliver_once(ctx)

    [row] = await rows(ctx)
    assert row.status == "undeliverable"
    assert "chat not found" in (row.last_error or "")
    [stored] = await app.admin.list_partners("mos")
    assert stored.unreachable


async def test_other_bad_requests_fail_without_retrying(
    app: Container, ctx: JobContext, server: FakeTelegram, clock: FakeClock
) -> None:
    partner = await linked_partner(app, chat_id=5403)
    await register_driver(app, "mos", partner.code)
    server.inject(
        "sendMessage", token=MOS, status=400, description="Bad Request: message is too long"
    )

    await deliver_once(ctx)
    clock.advance(hours=1)
    await deliver_once(ctx)

    [row] = await rows(ctx)
    assert row.status == "failed"
    assert "too long" in (row.last_error or "")
    assert len(server.calls("sendMessage", token=MOS)) == 1
    [stored] = await app.admin.list_partners("mos")
    assert not stored.unreachable


async def test_a_partner_who_links_later_gets_what_was_waiting(
    app: Container, ctx: JobContext, server: FakeTelegram, clock: FakeClock
) -> None:
    partner = await linked_partner(app)  # in the directory, never opened the bot
    first = await register_driver(app, "mos", partner.code)
    second = await register_driver(app, "mos", partner.code)

    await deliver_once(ctx)
    assert server.calls("sendMessage") == []
    head, tail = await rows(ctx)
    assert (head.status, head.hold) == ("pending", "unlinked")
    assert tail.status == "pending"

    clock.advance(hours=5)
    await link(app, "mos", 5501, partner.phone)  # opens the bot, shares the contact
    await deliver_once(ctx)

    got = texts(server, 5501)
    assert len(got) == 2
    assert mask_phone(first) in got[0]
    assert mask_phone(second) in got[1]


async def test_alerts_for_a_partner_who_never_links_expire(
    app: Container, ctx: JobContext, server: FakeTelegram, clock: FakeClock
) -> None:
    # The TTL counts from when the row was written (the database's wall clock), so the
    # fake clock starts at the real time here.
    clock.current = datetime.now(UTC)
    partner = await linked_partner(app)
    await register_driver(app, "mos", partner.code)
    await register_driver(app, "mos", partner.code)
    await deliver_once(ctx)

    clock.advance(hours=71)
    await deliver_once(ctx)
    assert {r.status for r in await rows(ctx)} == {"pending"}

    clock.advance(hours=2)  # past unlinked_ttl_hours = 72
    await deliver_once(ctx)

    outbox = await rows(ctx)
    assert {r.status for r in outbox} == {"expired"}
    assert all("did not link Telegram within 72 h" in (r.last_error or "") for r in outbox)
    assert server.calls("sendMessage") == []


async def test_quiet_hours_defer_alerts_to_their_end(
    app: Container, ctx: JobContext, server: FakeTelegram, clock: FakeClock
) -> None:
    partner = await linked_partner(app, chat_id=5601)
    await say(app, "mos", 5601, Pressed(Action.QUIET_NIGHT))  # the bot's 23:00–08:00 button
    clock.current = datetime(2026, 11, 23, 21, 30, tzinfo=UTC)  # 00:30 in Moscow
    phone = await register_driver(app, "mos", partner.code)

    await deliver_once(ctx)
    assert server.calls("sendMessage") == []
    [row] = await rows(ctx)
    assert row.hold == "quiet"
    assert row.next_attempt_at == datetime(2026, 11, 24, 5, 0, tzinfo=UTC)  # 08:00 Moscow

    clock.current = datetime(2026, 11, 24, 4, 59, tzinfo=UTC)
    await deliver_once(ctx)
    assert server.calls("sendMessage") == []

    clock.current = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
    await deliver_once(ctx)
    [text] = texts(server, 5601)
    assert mask_phone(phone) in text
    assert "24.11.2026 00:30" in text  # the registration time, not the delivery time


async def test_a_referring_driver_is_alerted_in_their_own_chat(
    app: Container, ctx: JobContext, server: FakeTelegram
) -> None:
    partner = await linked_partner(app, chat_id=5701)
    await register_driver(app, "mos", partner.code, user_id=5702)
    [referrer_row] = await rows(ctx)
    driver_id = int(referrer_row.payload["driver_id"])
    referrer = await app.db.run(lambda uow: uow.drivers.get(driver_id))
    assert referrer is not None
    phone = await register_driver(app, "mos", referrer.own_code)

    await deliver_once(ctx)

    [to_driver] = texts(server, 5702)
    assert mask_phone(phone) in to_driver
    assert referrer.own_code in to_driver
    assert len(texts(server, 5701)) == 1  # the partner got only their own driver's alert
