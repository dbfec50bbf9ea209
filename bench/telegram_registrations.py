"""Registrations through the real Telegram front end, against the bare aiogram echo floor.

    python -m bench.telegram_registrations --drivers 300

N simulated drivers register through FakeTelegram with real long polling and SQLite: a
third follow a deep link (/start <code>, contact), a third type the code (/start, contact,
code), a third press «У меня нет реферального кода». Updates go in waves, like the echo
floor's: every driver's next update is pushed at once and the wave ends when every reply
arrived. The echo floor (bench.echo_floor) is measured in the same run, and the figure
that matters is the per-update cost ratio, ours / echo (target: at most 2).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event

from app.bootstrap import build
from app.settings import load_settings
from bench.echo_floor import measure_echo_floor
from bots.telegram.app import TelegramFrontEnd, TelegramOptions
from bots.telegram.polling import PollingOptions
from core.events import Incoming
from core.replies import Action, Answer, Button, Reply
from storage import hot
from tests.fakes import telegram_updates as tg
from tests.fakes.telegram_server import FakeTelegram

TOKEN = "100200:bench-telegram-registrations"
FIRST_USER_ID = 2_000_000
NO_CODE = "У меня нет реферального кода"
PARK = {
    "slug": "bench",
    "name": "Бенч Такси",
    "landing_url": "https://bench-taxi.example/ref",
    "telegram_username": "bench_taxi_bot",
    "telegram_token": TOKEN,
}


@dataclass(frozen=True)
class Result:
    drivers: int
    updates: int
    seconds: float
    messages: int
    statements: int
    cpu: float
    """Process CPU seconds (every thread, the fake server included) while measuring."""

    @property
    def registrations_per_second(self) -> float:
        return self.drivers / self.seconds

    @property
    def updates_per_second(self) -> float:
        return self.updates / self.seconds

    @property
    def cpu_per_update(self) -> float:
        return self.cpu / self.updates


def waves(drivers: int, partner_code: str) -> list[list[tuple[int, dict[str, Any]]]]:
    """Each driver's updates, grouped by step: wave k holds every driver's k-th update."""
    first, second, third = [], [], []
    for i in range(drivers):
        user = FIRST_USER_ID + i
        phone = f"7916{i:07d}"
        kind = i % 3
        first.append((user, tg.message(user, f"/start {partner_code}" if kind == 0 else "/start")))
        second.append((user, tg.contact(user, phone)))
        if kind == 1:
            third.append((user, tg.message(user, partner_code)))
        elif kind == 2:
            third.append((user, tg.message(user, NO_CODE)))
    return [first, second, third]


async def measure_registrations(
    drivers: int,
    *,
    profile: cProfile.Profile | None = None,
    concurrency: int | None = None,
    with_core: bool = True,
) -> Result:
    """One run. ``with_core=False`` answers every update with a fixed reply instead of
    calling core: what is left is the cost of the front end itself (aiogram, rendering,
    middlewares, HTTP), to tell it apart from core and storage."""
    with tempfile.TemporaryDirectory(prefix="taxireg-bench-") as tmp:
        async with FakeTelegram() as fake:
            fake.add_bot(TOKEN, PARK["telegram_username"])
            settings = load_settings(
                None,
                data_dir=Path(tmp),
                telegram={"api_server": fake.base_url, "polling_timeout": 1},
                notifications={"enabled": False},
                parks=[PARK],
            )
            app = await build(settings)
            statements = 0

            def count(*_: Any) -> None:
                nonlocal statements
                statements += 1

            # On SQLite units of work run on an autocommit sibling engine (storage.uow).
            engines = {id(e): e for e in (app.engine, getattr(app.uow, "engine", app.engine))}
            for engine in engines.values():
                event.listen(engine.sync_engine, "before_cursor_execute", count)
            # ...and the hot statements it runs inline on SQLite (storage.hot).
            hot.statement_listeners.append(count)
            options = TelegramOptions()
            if concurrency is not None:
                polling = PollingOptions(polling_timeout=1, max_concurrent_updates=concurrency)
                options = TelegramOptions(polling=polling)
            front = TelegramFrontEnd(app, options)
            if not with_core:
                app.registration.handle = _canned  # type: ignore[method-assign]
            try:
                partner = await app.admin.add_partner("bench", "+79990000001", "Бенч")
                plan = waves(drivers, partner.code)
                polls = len(fake.calls("getUpdates", token=TOKEN))
                await front.start()
                await fake.wait_for_requests("getUpdates", token=TOKEN, count=polls + 1)
                statements = 0
                if profile is not None:
                    profile.enable()
                started, cpu = time.monotonic(), time.process_time()
                expected = 0
                for wave in plan:
                    for _, update in wave:
                        fake.push_update(TOKEN, update)
                    expected += len(wave)
                    replies = await fake.wait_for_requests(
                        "sendMessage", token=TOKEN, count=expected, timeout=max(30, drivers / 5)
                    )
                cpu = time.process_time() - cpu
                finished = max(r.at for r in replies)
                if profile is not None:
                    profile.disable()
                await front.idle()
                done = sum("Регистрация завершена!" in r.params["text"] for r in replies)
                if with_core and done != drivers:
                    raise RuntimeError(f"{done} of {drivers} drivers registered")
                return Result(
                    drivers=drivers,
                    updates=sum(len(wave) for wave in plan),
                    seconds=finished - started,
                    messages=len(fake.calls("sendMessage", token=TOKEN)),
                    statements=statements,
                    cpu=cpu,
                )
            finally:
                hot.statement_listeners.remove(count)
                await front.stop()
                await app.aclose()


_CANNED = Answer(
    "ru",
    (
        Reply("registered"),
        Reply(
            "driver-code",
            {"code": "bench", "url": "https://bench-taxi.example/ref?code=bench"},
            keyboard=(Button.of(Action.MY_CODE),),
        ),
    ),
)


async def _canned(incoming: Incoming) -> Answer:
    return _CANNED


async def echo_floor(updates: int) -> tuple[float, float]:
    """(updates/s, CPU seconds per update) of bench.echo_floor on ``updates`` updates.

    CPU is the whole process (the fake server included, as in ours) over the call, minus
    a one-update call: what is left is the cost of the extra updates, without set-up.
    """
    cpu = time.process_time()
    await measure_echo_floor(1)
    fixed = time.process_time() - cpu
    cpu = time.process_time()
    rate = await measure_echo_floor(updates)
    used = time.process_time() - cpu - fixed
    return rate, used / max(1, updates - 1)


async def main_async(
    drivers: int,
    runs: int,
    profile_path: str | None,
    concurrency: int | None,
    with_echo: bool = True,
    with_core: bool = True,
) -> None:
    ours: list[Result] = []
    floors: list[tuple[float, float]] = []
    profile = cProfile.Profile() if profile_path else None
    nan = float("nan")
    for run in range(1, runs + 1):
        result = await measure_registrations(
            drivers, profile=profile, concurrency=concurrency, with_core=with_core
        )
        floor, floor_cpu = await echo_floor(result.updates) if with_echo else (nan, nan)
        ours.append(result)
        floors.append((floor, floor_cpu))
        print(
            f"run {run}: {result.registrations_per_second:.0f} registrations/s, "
            f"{result.updates_per_second:.0f} updates/s "
            f"({result.cpu_per_update * 1e3:.2f} ms CPU/update); "
            f"echo {floor:.0f} updates/s ({floor_cpu * 1e3:.2f} ms CPU/update); "
            f"ratio {floor / result.updates_per_second:.2f} "
            f"(CPU {result.cpu_per_update / floor_cpu:.2f})"
        )
    median_ours = statistics.median(r.updates_per_second for r in ours)
    median_regs = statistics.median(r.registrations_per_second for r in ours)
    median_cpu = statistics.median(r.cpu_per_update for r in ours)
    median_echo = statistics.median(f for f, _ in floors)
    median_echo_cpu = statistics.median(c for _, c in floors)
    # Ratios are paired per run (ours and the echo floor measured back to back), then the
    # median is taken: the machine's load drifts between runs more than within one.
    pairs = list(zip(ours, floors, strict=True))
    ratio = statistics.median(f / r.updates_per_second for r, (f, _) in pairs)
    cpu_ratio = statistics.median(r.cpu_per_update / c for r, (_, c) in pairs)
    last = ours[-1]
    print(
        f"\n{drivers} drivers, {last.updates} updates per run, median of {runs} run(s):\n"
        f"  registrations/s        {median_regs:8.0f}\n"
        f"  updates/s              {median_ours:8.0f}\n"
        f"  echo floor updates/s   {median_echo:8.0f}\n"
        f"  cost ratio             {ratio:8.2f}"
        "  (ours / echo, wall time per update; target <= 2)\n"
        f"  CPU per update         {median_cpu * 1e3:8.2f} ms"
        f" (echo {median_echo_cpu * 1e3:.2f} ms)\n"
        f"  CPU cost ratio         {cpu_ratio:8.2f}"
        "  (robust to other load on the machine)\n"
        f"  sendMessage/update     {last.messages / last.updates:8.2f}\n"
        f"  SQL statements/update  {last.statements / last.updates:8.2f}"
    )
    if profile is not None and profile_path:
        profile.dump_stats(profile_path)
        print(f"  cProfile stats: {profile_path} (python -m pstats {profile_path})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drivers", type=int, default=300, help="drivers per run")
    parser.add_argument("--runs", type=int, default=3, help="runs; medians are reported")
    parser.add_argument("--profile", metavar="PATH", help="write cProfile stats of our runs")
    parser.add_argument(
        "--no-echo", action="store_true", help="skip the echo floor (to profile ours alone)"
    )
    parser.add_argument(
        "--front-end-only",
        action="store_true",
        help="answer every update with a fixed reply instead of calling core (no database)",
    )
    parser.add_argument(
        "--concurrency", type=int, help="updates handled at once per bot (default: the app's)"
    )
    args = parser.parse_args()
    if args.drivers < 3:
        parser.error("--drivers must be at least 3")
    asyncio.run(
        main_async(
            args.drivers,
            args.runs,
            args.profile,
            args.concurrency,
            with_echo=not args.no_echo,
            with_core=not args.front_end_only,
        )
    )


if __name__ == "__main__":
    main()
