"""The daily digest on a controlled clock: what digest-only partners get instead of alerts."""

from __future__ import annotations

from datetime import UTC, datetime

from app.bootstrap import Container
from core.events import ContactShared, Pressed, Start, Text
from core.replies import Action
from tests.bots.notifications_env import (
    TOKENS,
    JobContext,
    deliver_once,
    digest_once,
    linked_partner,
    next_phone,
    register_driver,
    rows,
    say,
)
from tests.fakes.clock import FakeClock
from tests.fakes.telegram_server import FakeTelegram

pytest_plugins = ("tests.bots.notifications_fixtures",)

MOS = TOKENS["mos"]
# Moscow is UTC+3 all year: 20:00 local is 17:00 UTC.
MORNING = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
DIGEST_TIME = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)


async def typed_code_registration(app: Container, code: str, user_id: int) -> None:
    """A driver who opened the bot without a link and typed the code in."""
    await say(app, "mos", user_id, Start())
    await say(app, "mos", user_id, ContactShared(next_phone().lstrip("+"), own=True))
    await say(app, "mos", user_id, Text(code))


async def test_digest_only_partner_gets_one_summary_instead_of_alerts(
    app: Container, ctx: JobContext, server: FakeTelegram, clock: FakeClock
) -> None:
    clock.current = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # yesterday
    partner = await linked_partner(app, chat_id=6001)
    await say(app, "mos", 6001, Pressed(Action.ALERTS_DIGEST))
    await register_driver(app, "mos", partner.code)

    clock.current = MORNING
    await register_driver(app, "mos", partner.code)
    await typed_code_registration(app, partner.code, 6101)
    await deliver_once(ctx)
    assert server.sent(MOS, 6001) == []  # no instant alerts for digest-only partners
    alerts = await rows(ctx)
    assert [(r.status, r.sent_as) for r in alerts] == [("sent", "digest")] * 3

    clock.current = DIGEST_TIME
    assert await digest_once(ctx, "mos") == 1
    await deliver_once(ctx)

    [digest] = [m["text"] for m in server.sent(MOS, 6001)]
    assert "Сводка за 23.11.2026" in digest
    assert partner.code in digest
    assert "Сегодня зарегистрировались 2 водителя" in digest
    assert "Telegram — 2" in digest
    assert "реферальная ссылка — 1" in digest
    assert "код введён вручную — 1" in digest
    assert "Всего по коду: 3" in digest


async def test_digest_runs_are_idempotent_and_skip_quiet_partners(
    app: Container, ctx: JobContext, server: FakeTelegram, clock: FakeClock
) -> None:
    clock.current = MORNING
    busy = await linked_partner(app, chat_id=6002)
    idle = await linked_partner(app, chat_id=6003)
    await register_driver(app, "mos", busy.code)
    await deliver_once(ctx)  # the instant alert of the "instant" partner

    clock.current = DIGEST_TIME
    assert await digest_once(ctx, "mos") == 1
    # A second process (or a catch-up after a restart) running the same digest.
    await digest_once(ctx, "mos")
    await deliver_once(ctx)

    busy_texts = [m["text"] for m in server.sent(MOS, 6002)]
    assert len(busy_texts) == 2  # the alert, then exactly one digest
    assert "Сегодня зарегистрировался 1 водитель" in busy_texts[1]
    assert server.sent(MOS, 6003) == []  # nothing happened for them today
    assert idle.id not in {r.recipient_id for r in await rows(ctx)}


async def test_today_is_the_parks_local_day(
    app: Container, ctx: JobContext, server: FakeTelegram, clock: FakeClock
) -> None:
    partner = await linked_partner(app, chat_id=6004)
    # 22:30 UTC on the 22nd is already 01:30 on the 23rd in Moscow.
    clock.current = datetime(2026, 11, 22, 22, 30, tzinfo=UTC)
    await register_driver(app, "mos", partner.code)
    # 20:59 UTC on the 22nd is 23:59 on the 22nd in Moscow: yesterday.
    clock.current = datetime(2026, 11, 22, 20, 59, tzinfo=UTC)
    await register_driver(app, "mos", partner.code)

    clock.current = DIGEST_TIME
    await digest_once(ctx, "mos")
    digests = [r for r in await rows(ctx) if r.kind == "partner_digest"]
    [digest] = digests
    assert digest.payload["today"]["count"] == 1
    assert digest.payload["total"]["count"] == 2
