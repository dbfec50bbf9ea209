"""Two delivery workers on one PostgreSQL database never send a notification twice."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from pathlib import Path

import pytest

from app.bootstrap import Container, build
from core.domain.model import Notification, OwnerKind
from core.services.registration import DRIVER_REGISTERED
from scheduler.jobs import JobContext
from tests.bots.notifications_env import (
    TOKENS,
    build_app,
    linked_partner,
    make_ctx,
    rows,
)
from tests.fakes.clock import FakeClock
from tests.fakes.telegram_server import FakeTelegram

pytest_plugins = ("tests.bots.notifications_fixtures",)

POSTGRES_URL = os.environ.get("TAXIREG_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs TAXIREG_TEST_POSTGRES_URL")

PARTNERS = 40
PER_PARTNER = 5


async def test_two_workers_share_the_queue_without_duplicates(
    tmp_path: Path, clock: FakeClock, server: FakeTelegram
) -> None:
    assert POSTGRES_URL is not None
    # Two containers = two engines and connection pools, as two `taxireg run` processes.
    first = await build_app(POSTGRES_URL, tmp_path, clock, server, batch_size=16)
    second: Container = await build(first.settings, clock=clock)
    workers: list[JobContext] = []
    try:
        chats = {}
        for n in range(PARTNERS):
            partner = await linked_partner(first, chat_id=8000 + n)
            assert partner.id is not None
            chats[partner.id] = 8000 + n
        async with first.uow() as uow:
            # Round after round, so each chat's messages are spread through the queue.
            for i in range(PER_PARTNER):
                for partner_id in chats:
                    await uow.outbox.add(
                        Notification(
                            park="mos",
                            recipient_kind=OwnerKind.PARTNER,
                            recipient_id=partner_id,
                            kind=DRIVER_REGISTERED,
                            payload={"code": "abcd", "name": f"R{i}", "phone": "+79160000000"},
                            key=f"pg:{partner_id}:{i}",
                            not_before=clock.now(),
                        )
                    )
            await uow.commit()
        workers = [make_ctx(first, worker="pg-a"), make_ctx(second, worker="pg-b")]

        sent_by = Counter[str]()
        for _ in range(PER_PARTNER * 4):
            reports = await asyncio.gather(*(w.relay.run() for w in workers))
            for worker, report in zip(workers, reports, strict=True):
                sent_by[worker.relay.worker] += report.sent
            if not any(r.claimed for r in reports):
                break

        sent = server.sent(TOKENS["mos"])
        per_message = Counter((m["chat_id"], m["text"]) for m in sent)
        assert len(sent) == PARTNERS * PER_PARTNER
        assert max(per_message.values()) == 1  # never twice
        for chat in chats.values():
            texts = [m["text"] for m in sent if m["chat_id"] == chat]
            order = [text.split("Имя: ")[1].split("\n")[0] for text in texts]
            assert order == [f"R{i}" for i in range(PER_PARTNER)], order
        outbox = await rows(workers[0])
        assert {r.status for r in outbox} == {"sent"}
        assert sent_by["pg-a"] > 0  # both really worked the same queue
        assert sent_by["pg-b"] > 0
    finally:
        for worker in workers:
            await worker.aclose()
        await second.aclose()
        await first.aclose()
