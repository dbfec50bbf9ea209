"""The fake Bot API (tests.fakes.telegram_server.FakeTelegram) in a process of its own.

    python -m bench.fake_bot_api

Started by bench.telegram_registrations, so that the server's CPU is never counted as the
measured bot's. It prints ``{"base_url": ...}`` as its first stdout line, then answers one
JSON command per stdin line with one JSON line:

- ``{"op": "add_bot", "token": T, "username": U}``
- ``{"op": "wait_polling", "token": T, "timeout": S}``: until the bot's first getUpdates.
- ``{"op": "drive", "token": T, "waves": [[update, ...], ...], "timeout": S, "marker": M}``:
  push each wave at once and wait until every sender in it has had a sendMessage; answers
  the first push and the last reply on this process's monotonic clock, the replies, and
  how many replies contain ``marker``.
- ``{"op": "quit"}``

Errors are answered as ``{"error": "..."}``; end of stdin stops the server.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from tests.fakes.telegram_server import FakeTelegram


async def _drive(fake: FakeTelegram, command: dict[str, Any]) -> dict[str, Any]:
    token: str = command["token"]
    waves: list[list[dict[str, Any]]] = command["waves"]
    timeout = float(command["timeout"])
    marker: str = command.get("marker", "")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    before = len(fake.calls("sendMessage", token=token))
    expected = before
    started = time.monotonic()
    for wave in waves:
        senders = {update["message"]["chat"]["id"] for update in wave}
        mark = len(fake.calls("sendMessage", token=token))
        for update in wave:
            fake.push_update(token, update)
        expected += len(wave)
        while True:
            # One reply per update is the rule for both bots; if one sender has none yet
            # (another got two), wait for one more reply and look again.
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"wave not answered within {timeout} s")
            replies = await fake.wait_for_requests(
                "sendMessage", token=token, count=expected, timeout=remaining
            )
            answered = {r.params.get("chat_id") for r in replies[mark:]}
            if senders <= answered:
                break
            expected += 1
    replies = fake.calls("sendMessage", token=token)[before:]
    return {
        "started": started,
        "finished": max(r.at for r in replies),
        "updates": sum(len(wave) for wave in waves),
        "replies": len(replies),
        "marked": sum(marker in str(r.params.get("text", "")) for r in replies) if marker else 0,
    }


async def _execute(fake: FakeTelegram, command: dict[str, Any]) -> dict[str, Any]:
    op = command.get("op")
    if op == "add_bot":
        fake.add_bot(command["token"], command.get("username", "bench_bot"))
        return {"ok": True}
    if op == "wait_polling":
        await fake.wait_for_requests(
            "getUpdates", token=command["token"], timeout=float(command["timeout"])
        )
        return {"ok": True}
    if op == "drive":
        return await _drive(fake, command)
    return {"error": f"unknown op {op!r}"}


async def serve() -> None:
    # Long polls are answered within 2 s at most (FakeTelegram's default), so a bot that
    # is killed mid-poll never keeps a handler waiting for long.
    async with FakeTelegram() as fake:
        _reply({"base_url": fake.base_url})
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                return
            try:
                command = json.loads(line)
                if command.get("op") == "quit":
                    _reply({"ok": True})
                    return
                answer = await _execute(fake, command)
            except Exception as exc:  # reported to the driver, which stops
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            _reply(answer)


def _reply(answer: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(serve())
