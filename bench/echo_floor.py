"""Echo floor: a bare aiogram echo bot, the cheapest bot that answers every update.

    python -m bench.echo_floor --api-server http://127.0.0.1:PORT --token 100:echo

It long-polls the given Bot API server (bench.fake_bot_api) and answers every message
with one sendMessage, until SIGINT/SIGTERM. bench.telegram_registrations runs it as a
process of its own beside ``taxireg run`` and reports our per-update cost as a ratio to
this one: whatever aiogram, HTTP and Python cost any bot on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message


def echo_dispatcher() -> Dispatcher:
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> None:
        # Contacts carry no text; they still get one reply, as in the registration flow.
        await message.answer(message.text or "ok")

    return dp


async def serve(api_server: str, token: str, polling_timeout: int, our_session: bool) -> None:
    if our_session:
        # The session taxireg's bots use: shows how much of a gap the session alone makes.
        from bots.telegram.session import make_session

        session: AiohttpSession = make_session(api_server)
    else:
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_server))
    bot = Bot(token, session=session)
    # aiogram stops polling on SIGINT/SIGTERM and closes the session.
    await echo_dispatcher().start_polling(bot, polling_timeout=polling_timeout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-server", required=True, help="Bot API base URL (the fake's)")
    parser.add_argument("--token", required=True, help="bot token the server knows")
    parser.add_argument("--polling-timeout", type=int, default=10, help="long poll, seconds")
    parser.add_argument(
        "--our-session",
        action="store_true",
        help="use taxireg's Telegram session (bots.telegram.session) instead of aiogram's",
    )
    args = parser.parse_args()
    asyncio.run(serve(args.api_server, args.token, args.polling_timeout, args.our_session))


if __name__ == "__main__":
    main()
