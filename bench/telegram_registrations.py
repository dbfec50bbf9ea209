"""Registrations through `taxireg run`, against the aiogram echo floor, out of process.

    python -m bench.telegram_registrations --drivers 300 --pairs 5

Three kinds of process, none measuring itself: the fake Bot API (bench.fake_bot_api), the
bare aiogram echo bot (bench.echo_floor) and `taxireg run` (one park on that fake server,
SQLite in a temporary directory). The fake is started once; each pair then runs the echo
bot and `taxireg run` one after the other (the order alternates between pairs, so a drift
in the machine's load does not always fall on the same side) on the same updates:
N simulated drivers, a third following a deep link (/start <code>, contact), a third
typing the code (/start, contact, code), a third pressing «У меня нет реферального
кода». Updates go in waves: every driver's next update is pushed at once, and the wave
ends when each of them has had its reply (sendMessage).

Per update, for each bot: wall time (first push to last reply, on the fake's clock) and
the bot process's CPU time (/proc/<pid>/stat, every thread, and the event loop's thread on
its own: the rest is SQLite's thread) over the same span, after a warm-up
(WARMUP_DRIVERS). Printed: both per pair, the ratios ours / echo per pair, and the medians
of the ratios (target: at most 2). ``--py-spy PATH`` adds one unmeasured run (of `taxireg
run`, or ``--py-spy-bot echo``) under py-spy and prints where its busy CPU went (``--gil``:
only the thread holding the GIL is sampled).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fakes import telegram_updates as tg

FIRST_USER_ID = 2_000_000
NO_CODE = "У меня нет реферального кода"
REGISTERED = "Регистрация завершена!"
PARTNER_PHONE = "+79990000001"
PARK_SLUG = "bench"
BOT_USERNAME = "bench_taxi_bot"
POLLING_TIMEOUT = 10
# Warm-up: the first updates of a fresh process build caches (pydantic models, compiled
# SQL), and the first waves open the HTTP connections (aiohttp keeps up to 100 per
# session); a long-running bot has both, so neither is counted. 120 drivers make a first
# wave wider than the connection pool.
WARMUP_DRIVERS = 120
MAX_DRIVERS = 5_000
MAX_PAIRS = 20
STARTUP_SECONDS = 90.0
STOP_SECONDS = 15.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parents[1]  # children run here, so `-m bench.…` resolves


@dataclass(frozen=True)
class Run:
    """One measured run of one bot."""

    bot: str
    updates: int
    wall: float
    cpu: float
    replies: int
    registered: int
    loop_cpu: float = 0.0
    """CPU of the main thread (the event loop); the rest is other threads (SQLite's)."""

    @property
    def wall_per_update(self) -> float:
        return self.wall / self.updates

    @property
    def cpu_per_update(self) -> float:
        return self.cpu / self.updates

    @property
    def loop_share(self) -> float:
        return self.loop_cpu / self.cpu if self.cpu else 0.0


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """User + system CPU of process ``pid`` so far: all its threads, or thread ``tid``."""
    where = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    stat = Path(where).read_text()
    # Fields after the ")" that ends the command name: state is field 3, utime 14, stime 15.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def waves(drivers: int, first_user: int, partner_code: str) -> list[list[dict[str, Any]]]:
    """Each driver's updates, grouped by step: wave k holds every driver's k-th update."""
    first, second, third = [], [], []
    for i in range(drivers):
        user = first_user + i
        kind = i % 3
        first.append(tg.message(user, f"/start {partner_code}" if kind == 0 else "/start"))
        second.append(tg.contact(user, f"7916{user % 10_000_000:07d}"))
        if kind == 1:
            third.append(tg.message(user, partner_code))
        elif kind == 2:
            third.append(tg.message(user, NO_CODE))
    return [first, second, third]


class FakeBotApi:
    """bench.fake_bot_api as a child process, driven over its stdin/stdout."""

    def __init__(self, process: asyncio.subprocess.Process, base_url: str) -> None:
        self.process = process
        self.base_url = base_url

    async def call(self, wait: float, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps(command, ensure_ascii=False).encode() + b"\n")
        await self.process.stdin.drain()
        line = await asyncio.wait_for(self.process.stdout.readline(), wait + 5)
        if not line:
            raise RuntimeError(f"fake Bot API exited (status {self.process.returncode})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"fake Bot API: {answer['error']}")
        return answer


@contextlib.asynccontextmanager
async def fake_bot_api() -> AsyncIterator[FakeBotApi]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.fake_bot_api",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=REPO,
        limit=1 << 20,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), STARTUP_SECONDS)
        if not line:
            raise RuntimeError("fake Bot API did not start")
        yield FakeBotApi(process, json.loads(line)["base_url"])
        with contextlib.suppress(Exception):
            await FakeBotApi(process, "").call(5, op="quit")
    finally:
        await stop(process)


async def stop(process: asyncio.subprocess.Process) -> int | None:
    """SIGTERM, then SIGKILL if it has not exited within STOP_SECONDS."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_SECONDS)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    return process.returncode


def _clean_env() -> dict[str, str]:
    # The developer's own TAXIREG_* settings must not leak into the measured app.
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("TAXIREG_")}


def _py_spy() -> str:
    """py-spy beside this interpreter (the ``bench`` extra), else on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit("--py-spy needs py-spy: pip install -e '.[bench]'")
    return found


def _taxireg() -> str:
    return str(Path(sys.executable).with_name("taxireg"))


def _toml(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def write_config(directory: Path, api_server: str, token: str) -> Path:
    config = directory / "taxireg.toml"
    config.write_text(
        f"data_dir = {_toml(str(directory))}\n"
        "[telegram]\n"
        f"api_server = {_toml(api_server)}\n"
        f"polling_timeout = {POLLING_TIMEOUT}\n"
        "[notifications]\n"
        "enabled = false\n"
        "[[parks]]\n"
        f"slug = {_toml(PARK_SLUG)}\n"
        'name = "Бенч Такси"\n'
        'landing_url = "https://bench-taxi.example/ref"\n'
        f"telegram_username = {_toml(BOT_USERNAME)}\n"
        f"telegram_token = {_toml(token)}\n",
        encoding="utf-8",
    )
    return config


async def cli(taxireg: str, root: Path, config: Path, *args: str) -> str:
    """Run one `taxireg` command to completion; its stdout."""
    process = await asyncio.create_subprocess_exec(
        taxireg, "--config", str(config), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=_clean_env(), cwd=root,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), STARTUP_SECONDS)
    finally:
        await stop(process)
    if process.returncode != 0:
        raise RuntimeError(f"taxireg {' '.join(args)} failed: {err.decode().strip()}")
    return out.decode()


@dataclass(frozen=True)
class Bot:
    """How to start one measured bot on a fresh token."""

    kind: str  # "echo" or "taxireg"
    our_session: bool = False
    checkout: Path | None = None  # another checkout's `taxireg run` (its .venv), to compare

    @property
    def name(self) -> str:
        return self.kind if self.checkout is None else f"{self.kind}@{self.checkout.name}"

    @property
    def root(self) -> Path:
        return REPO if self.checkout is None else self.checkout

    @property
    def taxireg(self) -> str:
        return _taxireg() if self.checkout is None else str(self.root / ".venv/bin/taxireg")

    async def prepare(
        self, fake: FakeBotApi, token: str, directory: Path
    ) -> tuple[list[str], str]:
        """The command line to start the bot, and the partner code its drivers enter."""
        await fake.call(5, op="add_bot", token=token, username=BOT_USERNAME)
        if self.kind == "echo":
            command = [
                sys.executable, "-m", "bench.echo_floor", "--api-server", fake.base_url,
                "--token", token, "--polling-timeout", str(POLLING_TIMEOUT),
            ]  # fmt: skip
            if self.our_session:
                command.append("--our-session")
            return command, "BENCH42"  # the echo bot never reads it
        config = write_config(directory, fake.base_url, token)
        await cli(self.taxireg, self.root, config, "migrate")
        added = await cli(
            self.taxireg, self.root, config, "partner", "add", "--park", PARK_SLUG,
            "--phone", PARTNER_PHONE, "--name", "Бенч",
        )  # fmt: skip
        return [self.taxireg, "--config", str(config), "run"], added.strip().splitlines()[-1]


@contextlib.asynccontextmanager
async def started(
    bot: Bot, fake: FakeBotApi, token: str, directory: Path
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """The bot's process, once it long-polls the fake; stopped (and checked) on exit."""
    command, code = await bot.prepare(fake, token, directory)
    log = (directory / f"{bot.name}.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        *command, stdout=log, stderr=log, env=_clean_env(), cwd=bot.root
    )
    try:
        poll = asyncio.ensure_future(
            fake.call(STARTUP_SECONDS, op="wait_polling", token=token, timeout=STARTUP_SECONDS)
        )
        exited = asyncio.ensure_future(process.wait())
        await asyncio.wait({poll, exited}, return_when=asyncio.FIRST_COMPLETED)
        if not poll.done():
            poll.cancel()
            raise RuntimeError(f"{bot.name} exited before polling:\n{_tail(directory, bot)}")
        exited.cancel()
        poll.result()
        yield process, code
    finally:
        status = await stop(process)
        log.close()
    if status not in (0, -signal.SIGTERM):
        raise RuntimeError(f"{bot.name} exited with {status}:\n{_tail(directory, bot)}")


def _tail(directory: Path, bot: Bot) -> str:
    text = (directory / f"{bot.name}.log").read_text(errors="replace")
    return "\n".join(text.splitlines()[-20:])


async def drive(
    fake: FakeBotApi, token: str, plan: list[list[dict[str, Any]]], pid: int | None = None
) -> tuple[dict[str, Any], float, float]:
    """Push ``plan``; the fake's answer, the CPU ``pid`` used meanwhile and the part of it
    its main thread (the event loop: the main thread's id is the process id) used."""
    updates = sum(len(wave) for wave in plan)
    timeout = max(30.0, updates / 20)  # even a loaded box answers 20 updates/s
    before = (cpu_seconds(pid), cpu_seconds(pid, pid)) if pid is not None else (0.0, 0.0)
    answer = await fake.call(
        timeout, op="drive", token=token, waves=plan, timeout=timeout, marker=REGISTERED
    )
    if pid is None:
        return answer, 0.0, 0.0
    return answer, cpu_seconds(pid) - before[0], cpu_seconds(pid, pid) - before[1]


async def measure(bot: Bot, fake: FakeBotApi, drivers: int, serial: int) -> Run:
    token = f"{100_000 + serial}:bench-{bot.kind}"
    with tempfile.TemporaryDirectory(prefix=f"taxireg-bench-{bot.kind}-") as tmp:
        async with started(bot, fake, token, Path(tmp)) as (process, code):
            await drive(fake, token, waves(WARMUP_DRIVERS, FIRST_USER_ID + 900_000, code))
            await asyncio.sleep(0.3)
            plan = waves(drivers, FIRST_USER_ID, code)
            answer, cpu, loop_cpu = await drive(fake, token, plan, process.pid)
    run = Run(
        bot=bot.name,
        updates=answer["updates"],
        wall=answer["finished"] - answer["started"],
        cpu=cpu,
        replies=answer["replies"],
        registered=answer["marked"],
        loop_cpu=loop_cpu,
    )
    if bot.kind == "taxireg" and run.registered != drivers:
        raise RuntimeError(f"{bot.name} registered {run.registered} of {drivers} drivers")
    return run


async def profile(
    fake: FakeBotApi, bot: Bot, drivers: int, serial: int, output: Path, *, gil: bool = False
) -> None:
    """One unmeasured run of ``bot`` under py-spy (raw collapsed stacks to ``output``).

    ``gil``: sample only the thread holding the GIL, i.e. where Python spends CPU (a thread
    waiting for the GIL or for a core otherwise counts as busy); C code that releases the
    GIL, such as sqlite3 executing a statement, is then not seen."""
    token = f"{100_000 + serial}:bench-profile"
    py_spy = _py_spy()
    with tempfile.TemporaryDirectory(prefix="taxireg-bench-profile-") as tmp:
        async with started(bot, fake, token, Path(tmp)) as (process, code):
            await drive(fake, token, waves(WARMUP_DRIVERS, FIRST_USER_ID + 900_000, code))
            spy = await asyncio.create_subprocess_exec(
                py_spy, "record", "--pid", str(process.pid), "--rate", "250",
                "--format", "raw", "--output", str(output), *(["--gil"] if gil else []),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            await asyncio.sleep(1.0)  # py-spy attaches
            try:
                await drive(fake, token, waves(drivers, FIRST_USER_ID, code))
            finally:
                with contextlib.suppress(ProcessLookupError):
                    spy.send_signal(signal.SIGINT)  # py-spy writes the file on SIGINT
                try:
                    await asyncio.wait_for(spy.wait(), 30)
                except TimeoutError:
                    spy.kill()
                    await spy.wait()
    summarise(output, bot.name)


def summarise(collapsed: Path, name: str = "taxireg", top: int = 40) -> None:
    """Share of busy samples per function: inclusive (on the stack) and self (on top)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_frame(f) for f in stack.split(";")]
        if frames[-1] == _IDLE_WORKER:
            continue  # a thread pool's worker waiting for work: py-spy counts it as busy
        total += n
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    if not total:
        print("py-spy recorded no samples")
        return
    print(f"\npy-spy: {total} busy samples of the {name} bot ({collapsed})")
    print("  inclusive (the function or anything it called):")
    for frame, n in inclusive.most_common(top):
        print(f"    {100 * n / total:5.1f} %  {frame}")
    print("  self (the function's own code):")
    for frame, n in own.most_common(top // 2):
        print(f"    {100 * n / total:5.1f} %  {frame}")


_IDLE_WORKER = "_worker (concurrent/futures/thread.py)"


def _frame(frame: str) -> str:
    # "function (path/to/file.py:123)" -> "function (pkg/file.py)": lines merged, paths short.
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/lib/python3.11/", "/work/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


async def main_async(args: argparse.Namespace) -> None:
    echo, ours = Bot("echo", our_session=args.echo_our_session), Bot("taxireg")
    bots = [echo, ours]
    if args.against:
        bots.append(Bot("taxireg", checkout=args.against))
    rounds: list[dict[str, Run]] = []
    deadline = time.monotonic() + args.max_seconds
    async with fake_bot_api() as fake:
        for pair in range(args.pairs):
            if time.monotonic() > deadline:
                print(f"stopping after {pair} pair(s): --max-seconds {args.max_seconds} reached")
                break
            # The order turns each round, so a drift in the machine's load does not
            # always fall on the same bot.
            order = bots[pair % len(bots) :] + bots[: pair % len(bots)]
            runs = {}
            for i, bot in enumerate(order):
                runs[bot.name] = await measure(bot, fake, args.drivers, len(bots) * pair + i)
            rounds.append(runs)
            floor = runs["echo"]
            parts = [
                f"{name} {run.wall_per_update * 1e3:.2f} ms wall, "
                f"{run.cpu_per_update * 1e3:.2f} ms CPU per update "
                f"({100 * run.loop_share:.0f} % in the event loop's thread)"
                + (
                    ""
                    if name == "echo"
                    else f" (ratio wall {run.wall_per_update / floor.wall_per_update:.2f}, "
                    f"CPU {run.cpu_per_update / floor.cpu_per_update:.2f})"
                )
                for name, run in runs.items()
            ]
            print(f"pair {pair + 1}: " + "; ".join(parts), flush=True)
        if args.py_spy:
            bot = echo if args.py_spy_bot == "echo" else ours
            await profile(
                fake, bot, args.drivers, len(bots) * args.pairs, Path(args.py_spy), gil=args.gil
            )
    if rounds:
        report(rounds, [b.name for b in bots], args)


def report(rounds: list[dict[str, Run]], names: list[str], args: argparse.Namespace) -> None:
    def median_ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1e3:8.2f} ms"

    def ratios(label: str, top: str, bottom: str, note: str = "") -> None:
        for what, per in (("wall", "wall_per_update"), ("CPU", "cpu_per_update")):
            values = [getattr(r[top], per) / getattr(r[bottom], per) for r in rounds]
            print(
                f"  {label + ' ' + what + ' ratio':40} {statistics.median(values):8.2f}"
                f"  (median; range {min(values):.2f}-{max(values):.2f}){note}"
            )

    last = rounds[-1]["taxireg"]
    floor = "echo bot on taxireg's session" if args.echo_our_session else "bare aiogram echo bot"
    print(
        f"\n{args.drivers} drivers = {last.updates} updates per run, {len(rounds)} pair(s), "
        f"each bot in its own process; floor: {floor}"
    )
    for name in names:
        wall = median_ms([r[name].wall_per_update for r in rounds])
        cpu = median_ms([r[name].cpu_per_update for r in rounds])
        print(f"  {name + ' wall per update':40} {wall}\n  {name + ' CPU per update':40} {cpu}")
        loop = median_ms([r[name].loop_cpu / r[name].updates for r in rounds])
        print(f"  {name + ' CPU per update, event loop':40} {loop}")
    for name in names[1:]:
        ratios(f"{name} / echo", name, "echo", "; target <= 2")
    if len(names) > 2:
        ratios(f"{names[1]} / {names[2]}", names[1], names[2])
    registrations = args.drivers / statistics.median(r["taxireg"].wall for r in rounds)
    print(
        f"  {'taxireg registrations/s':40} {registrations:8.0f}\n"
        f"  {'taxireg sendMessage per update':40} {last.replies / last.updates:8.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drivers", type=int, default=300, help="drivers per run (3-5000)")
    parser.add_argument("--pairs", type=int, default=5, help="echo/taxireg pairs (1-20)")
    parser.add_argument(
        "--max-seconds", type=float, default=900, help="start no new pair after this long"
    )
    parser.add_argument(
        "--py-spy", metavar="PATH", help="also profile one taxireg run; raw stacks to PATH"
    )
    parser.add_argument(
        "--py-spy-bot", choices=("taxireg", "echo"), default="taxireg", help="bot to profile"
    )
    parser.add_argument(
        "--gil", action="store_true", help="py-spy samples only the thread holding the GIL"
    )
    parser.add_argument(
        "--against",
        metavar="CHECKOUT",
        help="also measure `taxireg run` of another checkout (with its own .venv) in each "
        "pair, e.g. a git worktree of an older commit",
    )
    parser.add_argument(
        "--echo-our-session",
        action="store_true",
        help="run the echo bot on taxireg's Telegram session instead of aiogram's own",
    )
    args = parser.parse_args()
    if not 3 <= args.drivers <= MAX_DRIVERS:
        parser.error(f"--drivers must be between 3 and {MAX_DRIVERS}")
    if not 0 <= args.pairs <= MAX_PAIRS or (args.pairs == 0 and not args.py_spy):
        parser.error(f"--pairs must be between 1 and {MAX_PAIRS} (0 only with --py-spy)")
    if args.py_spy:
        _py_spy()  # fail now, not after the pairs
    if args.against:
        args.against = Path(args.against).resolve()
        if not (args.against / ".venv/bin/taxireg").exists():
            parser.error(f"--against: no {args.against}/.venv/bin/taxireg")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
