"""Delivery guarantees of issue 10, end to end through real aiogram bots and the fake Bot API:

- strict pacing: no sliding second over ``per_bot_rate`` per bot, no chat two messages within
  ``per_chat_interval_seconds`` (timed where Telegram would time them: at the fake server);
- one send in flight per bot, each recorded before that bot's next send;
- a crash mid-send loses nothing and doubles at most one alert per bot.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from pathlib import Path

from app.bootstrap import Container
from core.domain.delivery import Delivered, SendResult, SentAs
from core.ports import Lease, Messenger
from tests.bots.notifications_env import (
    TOKENS,
    build_app,
    deliver_once,
    linked_partner,
    make_ctx,
    outbox,
    register_driver,
)
from tests.fakes.clock import FakeClock
from tests.fakes.telegram_server import FakeTelegram

pytest_plugins = ("tests.bots.notifications_fixtures",)

MOS, SPB = TOKENS["mos"], TOKENS["spb"]


def most_in_one_second(times: list[float]) -> int:
    return max((sum(1 for u in times if t <= u < t + 1.0) for t in times), default=0)


async def queue_alerts(app: Container, park: str, chats: range, per_chat: int = 1) -> None:
    for chat in chats:
        partner = await linked_partner(app, park, chat_id=chat)
        for _ in range(per_chat):
            await register_driver(app, park, partner.code)


async def test_pacing_is_strict_per_bot_and_per_chat(
    database_url: str, tmp_path: Path, clock: FakeClock, server: FakeTelegram
) -> None:
    app = await build_app(
        database_url, tmp_path, clock, server, per_bot_rate=8.0, per_chat_interval_seconds=0.5
    )
    # The first sends wait out one window as after taking a lease from another process.
    ctx = make_ctx(app, takeover_pause=None)
    try:
        await queue_alerts(app, "mos", range(11_000, 11_012))
        await queue_alerts(app, "mos", range(11_100, 11_101), per_chat=3)
        await queue_alerts(app, "spb", range(12_000, 12_010))

        report = await deliver_once(ctx)

        assert report.sent == 12 + 3 + 10
        for token, count in ((MOS, 15), (SPB, 10)):
            times = server.request_times(token=token)
            assert len(times) == count
            assert most_in_one_second(times) <= 8, times
        # Both bots ran side by side, each at its own rate.
        assert most_in_one_second(server.request_times()) > 8
        one_chat = server.request_times(token=MOS, chat_id=11_100)
        assert len(one_chat) == 3
        assert all(b - a >= 0.5 for a, b in itertools.pairwise(one_chat))
    finally:
        await ctx.aclose()
        await app.aclose()


class Watched:
    """The real messenger, watched from outside: how many sends of a bot are in flight at
    once, and whether every earlier delivered alert of that bot is already recorded."""

    def __init__(self, inner: Messenger, app: Container) -> None:
        self.inner = inner
        self.app = app
        self.in_flight: Counter[str] = Counter()
        self.delivered: Counter[str] = Counter()
        self.violations: list[str] = []

    @property
    def parks(self) -> frozenset[str]:
        return frozenset(self.inner.parks)

    async def send(self, park: str, chat_id: int, text: str) -> SendResult:
        if self.in_flight[park]:
            self.violations.append(f"{park}: a second send while one is in flight")
        sent = await outbox(self.app, status="sent", park=park)
        recorded = sum(1 for r in sent if r.sent_as is SentAs.TELEGRAM)
        if recorded != self.delivered[park]:
            self.violations.append(
                f"{park}: {self.delivered[park]} delivered, {recorded} recorded"
            )
        self.in_flight[park] += 1
        try:
            result = await self.inner.send(park, chat_id, text)
        finally:
            self.in_flight[park] -= 1
        if isinstance(result, Delivered):
            self.delivered[park] += 1
        return result


async def test_one_send_in_flight_per_bot_each_recorded_before_the_next(
    app: Container, server: FakeTelegram
) -> None:
    bare = make_ctx(app)
    watched = Watched(bare.messenger, app)
    ctx = make_ctx(app, messenger=watched)
    try:
        await queue_alerts(app, "mos", range(13_000, 13_008))
        await queue_alerts(app, "spb", range(14_000, 14_008))
        server.inject("sendMessage", token=MOS, delay=0.05, times=4)  # slow answers
        server.inject("sendMessage", token=SPB, status=500, times=2)

        report = await deliver_once(ctx)

        assert watched.violations == []
        assert watched.delivered == {"mos": 8, "spb": 6}
        assert report.sent == 14
        assert report.retried == 2
        assert len(server.sent(MOS)) == 8
    finally:
        await ctx.aclose()
        await bare.aclose()


class DiesAfterAnswer:
    """Telegram accepts the bot's n-th alert, then the process dies before recording it."""

    def __init__(self, inner: Messenger, n: int) -> None:
        self.inner = inner
        self.n = n
        self.sends: Counter[str] = Counter()
        self.dead: dict[str, asyncio.Event] = {park: asyncio.Event() for park in inner.parks}

    @property
    def parks(self) -> frozenset[str]:
        return frozenset(self.inner.parks)

    async def send(self, park: str, chat_id: int, text: str) -> SendResult:
        result = await self.inner.send(park, chat_id, text)
        self.sends[park] += 1
        if self.sends[park] == self.n:
            self.dead[park].set()
            await asyncio.Event().wait()  # killed here, the answer never recorded
        return result


async def test_a_crash_loses_nothing_and_doubles_at_most_one_alert_per_bot(
    app: Container, server: FakeTelegram, clock: FakeClock
) -> None:
    await queue_alerts(app, "mos", range(15_000, 15_006))
    await queue_alerts(app, "spb", range(16_000, 16_006))
    taken: list[Lease] = []

    def leases(name: str) -> Lease:
        lease = app.leases(name)
        taken.append(lease)
        return lease

    first = make_ctx(app, worker="dies")
    dying = DiesAfterAnswer(first.messenger, n=3)
    doomed = make_ctx(app, worker="dies", messenger=dying, leases=leases)
    survivor = make_ctx(app, worker="takes-over")
    try:
        running = asyncio.create_task(deliver_once(doomed))
        await asyncio.wait_for(
            asyncio.gather(*(event.wait() for event in dying.dead.values())), 10
        )
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        for lease in taken:  # its database sessions die with it, and its leases with them
            await lease.release()

        # The claim of the row on the wire runs out; the survivor sends what is left.
        clock.advance(seconds=app.settings.notifications.lease_seconds)
        await deliver_once(survivor)

        assert {r.status for r in await outbox(app)} == {"sent"}
        for token in (MOS, SPB):
            copies = Counter((m["chat_id"], m["text"]) for m in server.sent(token))
            assert len(copies) == 6  # every alert arrived
            assert sorted(copies.values()) == [1, 1, 1, 1, 1, 2]  # one duplicate, no more
    finally:
        await survivor.aclose()
        await first.aclose()
        await doomed.session.close()
