"""Polling only while holding the bot's lease: a lost lease stops the polls, a free one is
taken again (the loop both front ends share, on the in-memory lease double)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.bots.frontend_doubles import Gate, MemoryLeases
from tests.bots.test_at_least_once import TOKEN, eventually, telegram
from tests.fakes import telegram_updates as tg
from tests.fakes.telegram_server import FakeTelegram

pytestmark = pytest.mark.timeout(30)

LOST = "telegram mos: polling lease lost; standing by"
LEADS = "telegram mos: this process polls the bot"


async def test_a_lost_lease_stops_polling_until_the_lease_is_free_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="taxireg.telegram")
    async with FakeTelegram() as fake:
        fake.add_bot(TOKEN, "mos_gortaxi_bot")
        leases, gate = MemoryLeases(), Gate()
        front = telegram(fake, gate, leases)
        await front.start()
        try:
            await fake.wait_for_requests("getUpdates", token=TOKEN)
            leases.holders["telegram:mos"] = "another process"  # e.g. its session was cut
            await eventually(lambda: LOST in caplog.messages, "the loss noticed")
            polls = len(fake.calls("getUpdates", token=TOKEN))
            update_id = fake.push_update(TOKEN, tg.message(31, "while another leads"))
            # Ten lease checks long: no poll starts, nothing is handled, the update waits.
            await asyncio.sleep(0.5)
            assert len(fake.calls("getUpdates", token=TOKEN)) == polls
            assert gate.started == []
            assert fake.pending(TOKEN) == 1

            del leases.holders["telegram:mos"]  # the other process is gone
            await fake.wait_for_sent(31, token=TOKEN, timeout=5)
            assert gate.ids() == [update_id]
        finally:
            await front.stop()
    assert caplog.messages.count(LEADS) == 2
