"""Echo floor: how many updates/s a bare aiogram echo bot handles against FakeTelegram.

This is the ceiling any real bot on the same machine can reach (aiogram + HTTP + the
fake's own cost), so registration throughput is reported as a ratio to it.

    python -m bench.echo_floor --updates 500
"""

from __future__ import annotations

import argparse
import asyncio
import time

from aiogram import Dispatcher, F
from aiogram.types import Message

from tests.fakes import telegram_updates as tg
from tests.fakes.telegram_server import FakeTelegram

TOKEN = "100:echo-floor"
FIRST_USER_ID = 1_000_000


def echo_dispatcher() -> Dispatcher:
    dp = Dispatcher()

    @dp.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    return dp


async def measure_echo_floor(n_updates: int) -> float:
    """Push ``n_updates`` texts from distinct users; return replies per second, timed
    from the first push to the arrival of the last sendMessage."""
    if n_updates < 1:
        raise ValueError("n_updates must be positive")
    async with FakeTelegram() as server:
        server.add_bot(TOKEN, "echo_floor_bot")
        # Polling is already waiting in getUpdates when the clock starts, so the figure
        # excludes bot startup (getMe, first poll).
        async with server.polling(echo_dispatcher(), server.make_bot(TOKEN)):
            started = time.monotonic()
            for i in range(n_updates):
                server.push_update(TOKEN, tg.message(FIRST_USER_ID + i, f"echo {i}"))
            # Generous: even a slow CI box manages far more than 20 updates/s.
            replies = await server.wait_for_requests(
                "sendMessage", count=n_updates, timeout=max(10.0, n_updates / 20)
            )
    finished = max(r.at for r in replies)
    return n_updates / (finished - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=500, help="updates to push")
    args = parser.parse_args()
    rate = asyncio.run(measure_echo_floor(args.updates))
    print(f"echo floor: {rate:.0f} updates/s ({args.updates} updates)")


if __name__ == "__main__":
    main()
