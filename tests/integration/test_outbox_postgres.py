"""Two `taxireg run` processes on one PostgreSQL database: each bot's alerts are sent by the
one process holding its send lease, never twice, in order, and the other takes over."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from pathlib import Path

import pytest

from app.bootstrap import Container, build
from core.domain.delivery import DRIVER_REGISTERED
from core.domain.model import Notification, OwnerKind
from core.ports import UnitOfWork
from tests.bots.notifications_env import (
    TOKENS,
    JobContext,
    build_app,
    deliver_once,
    linked_partner,
    make_ctx,
    rows,
)
from tests.fakes.clock import FakeClock
from tests.fakes.telegram_server import FakeTelegram

pytest_plugins = ("tests.bots.notifications_fixtures",)

POSTGRES_URL = os.environ.get("TAXIREG_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs TAXIREG_TEST_POSTGRES_URL")

PARTNERS = 12  # per park
PER_PARTNER = 4


async def queue_rounds(app: Container, chats: dict[tuple[str, int], int], rounds: range) -> None:
    now = app.clock.now()
    # Round after round, so each chat's messages are spread through the queue.
    notifications = [
        Notification(
            park=park,
            recipient_kind=OwnerKind.PARTNER,
            recipient_id=partner_id,
            kind=DRIVER_REGISTERED,
            payload={"code": "abcd", "name": f"R{i}", "phone": "+79160000000"},
            key=f"pg:{partner_id}:{i}",
            not_before=now,
        )
        for i in rounds
        for park, partner_id in chats
    ]

    def work(uow: UnitOfWork) -> None:
        for notification in notifications:
            uow.outbox.add(notification)

    await app.db.run(work)


async def partners(app: Container) -> dict[tuple[str, int], int]:
    chats = {}
    for n, park in enumerate(("mos", "spb") * PARTNERS):
        partner = await linked_partner(app, park, chat_id=8000 + n)
        assert partner.id is not None
        chats[(park, partner.id)] = 8000 + n
    return chats


def order_of(sent: list[dict[str, object]], chat: int) -> list[str]:
    texts = [str(m["text"]) for m in sent if m["chat_id"] == chat]
    return [text.split("Имя: ")[1].split("\n")[0] for text in texts]


@pytest.fixture
async def two(
    tmp_path: Path, clock: FakeClock, server: FakeTelegram
) -> tuple[Container, Container]:
    assert POSTGRES_URL is not None
    # Two containers = two connection pools and two sets of leases, as two processes.
    first = await build_app(POSTGRES_URL, tmp_path, clock, server, batch_size=16)
    second = await build(first.settings, clock=clock)
    yield first, second  # type: ignore[misc]
    await second.aclose()
    await first.aclose()


async def test_two_workers_share_the_queue_without_duplicates(
    two: tuple[Container, Container], server: FakeTelegram
) -> None:
    first, second = two
    chats = await partners(first)
    await queue_rounds(first, chats, range(PER_PARTNER))
    workers: list[JobContext] = [
        make_ctx(first, worker="pg-a"),
        make_ctx(second, worker="pg-b"),
    ]
    try:
        sent_by = Counter[str]()
        leading: dict[str, set[str]] = {"pg-a": set(), "pg-b": set()}
        for _ in range(PER_PARTNER * 4):
            reports = await asyncio.gather(*(deliver_once(w) for w in workers))
            for worker, report in zip(workers, reports, strict=True):
                sent_by[worker.delivery.worker] += report.sent
                leading[worker.delivery.worker] |= set(report.parks)
            # A bot is sent for by one process at a time, and every bot by someone.
            assert not set(reports[0].parks) & set(reports[1].parks)
            assert set(reports[0].parks) | set(reports[1].parks) == {"mos", "spb"}
            if not any(r.claimed for r in reports):
                break

        sent = server.sent(TOKENS["mos"]) + server.sent(TOKENS["spb"])
        per_message = Counter((m["chat_id"], m["text"]) for m in sent)
        assert len(sent) == 2 * PARTNERS * PER_PARTNER
        assert max(per_message.values()) == 1  # never twice
        for chat in chats.values():
            assert order_of(sent, chat) == [f"R{i}" for i in range(PER_PARTNER)]
        assert {r.status for r in await rows(workers[0])} == {"sent"}
        assert sum(sent_by.values()) == len(sent)
        assert not leading["pg-a"] & leading["pg-b"]  # the holder kept its bots
    finally:
        for worker in workers:
            await worker.aclose()


async def test_the_other_process_takes_over_when_the_holder_stops(
    two: tuple[Container, Container], server: FakeTelegram
) -> None:
    first, second = two
    chats = await partners(first)
    await queue_rounds(first, chats, range(2))
    holder = make_ctx(first, worker="pg-a", takeover_pause=None)
    standby = make_ctx(second, worker="pg-b", takeover_pause=None)
    try:
        first_pass = await deliver_once(holder)
        assert sorted(first_pass.parks) == ["mos", "spb"]
        assert first_pass.sent == 2 * PARTNERS * 2
        await queue_rounds(first, chats, range(2, 4))
        idle = await deliver_once(standby)
        assert (idle.parks, idle.claimed) == ([], 0)  # the holder is alive: hands off

        last_of_holder = max(server.request_times())
        await holder.aclose()  # stops: releases its rows and its leases

        took_over = await deliver_once(standby)
        assert sorted(took_over.parks) == ["mos", "spb"]
        assert took_over.sent == 2 * PARTNERS * 2
        sent = server.sent(TOKENS["mos"]) + server.sent(TOKENS["spb"])
        for chat in chats.values():
            assert order_of(sent, chat) == ["R0", "R1", "R2", "R3"]
        # The new holder waited one pacing window after the old holder's last send.
        times = sorted(server.request_times())
        first_of_standby = times[2 * PARTNERS * 2]
        assert first_of_standby - last_of_holder >= 1.0
    finally:
        await standby.aclose()
        await holder.delivery.stop()
