"""How fast an operator's read-only commands answer: ``partner list``, ``driver show`` and
``status``, each a fresh process as a person at a terminal runs it.

    python -m bench.cli [--runs 7] [--database-url URL] [--baseline DIR]

A temporary SQLite database (or the given one, which is used as is) gets a park, 50
partners and a registered driver; each command then runs ``--runs`` times and the median
and best wall times are printed with the median CPU time (user + system, which a busy
machine inflates less than wall time), and the same figures for ``python -c pass`` (the
interpreter's own start) and for importing the two libraries every command needs, SQLAlchemy
and pydantic-settings, for comparison. Figures depend on the machine and its load (printed
before and after): run it on an idle one.

Each checkout's byte-code is compiled first, as an installed package has it: where
``PYTHONDONTWRITEBYTECODE`` is set, no run would write it, and every run would compile the
project's modules again.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PHONE = "+79161234567"
PACKAGES = ("app", "core", "storage", "bots", "scheduler", "web")
LIBRARIES = "import sqlalchemy, pydantic_settings"
COMMANDS = {
    "partner list": ["partner", "list"],
    "driver show": ["driver", "show", PHONE, "--park", "mos"],
    "status": ["status"],
}


def write_config(path: Path, url: str) -> None:
    park = {"slug": "mos", "name": "Мос", "landing_url": "https://mos.example/ref"}
    lines = [f"data_dir = {json.dumps(str(path.parent))}", "[database]"]
    lines.append(f"url = {json.dumps(url)}")
    lines.append("[[parks]]")
    lines += [f"{key} = {json.dumps(value, ensure_ascii=False)}" for key, value in park.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


async def fill(config: Path | str) -> None:
    from app.bootstrap import build
    from app.settings import load_settings
    from core.domain.model import Channel, Identity
    from core.events import Incoming, Start, Text
    from tests.fakes.sms import RecordingSms

    sms = RecordingSms()
    app = await build(load_settings(str(config)), sms=sms)
    try:
        for n in range(50):
            await app.admin.add_partner("mos", f"+7926000{n:04d}", f"Партнёр {n}")
        who = Identity(Channel.TERMINAL, "bench")
        for event in (Start(), Text(PHONE), None, Text("У меня нет реферального кода")):
            await app.registration.handle(Incoming("mos", who, event or Text(sms.last_code())))
    finally:
        await app.aclose()


def timed(args: list[str], env: dict[str, str], cwd: Path = REPO) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of ``args`` in ``cwd``."""
    start = time.perf_counter()
    process = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert process.stderr is not None
    error = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.stderr.close()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {error.decode(errors='replace').strip()}")
    return elapsed, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--database-url", help="use this database as is (no data added)")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="also time the commands of this checkout (e.g. `git archive REV | tar -x -C "
        "DIR`), run after each run of ours so that both see the same load",
    )
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TAXIREG_")}
        checkouts = [("", REPO)]
        if options.baseline is not None:
            checkouts.append((" (baseline)", options.baseline.resolve()))
        # One database per checkout: each migrates it to its own newest revision.
        envs: dict[Path, dict[str, str]] = {}
        for n, (_, cwd) in enumerate(checkouts):
            config = Path(tmp) / f"taxireg{n}.toml"
            url = options.database_url or f"sqlite:///{Path(tmp) / f'bench{n}.db'}"
            write_config(config, url)
            envs[cwd] = {**env, "TAXIREG_CONFIG": str(config)}
            if options.database_url is None:
                fill_in = "import asyncio, sys; from bench.cli import fill; "
                fill_in += "asyncio.run(fill(sys.argv[1]))"  # that checkout's own code
                subprocess.run([sys.executable, "-c", fill_in, str(config)], cwd=cwd, check=True)
        for _, cwd in checkouts:
            packages = [name for name in PACKAGES if (cwd / name).is_dir()]
            compile_all = [sys.executable, "-m", "compileall", "-q", *packages]
            subprocess.run(compile_all, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        rows = [
            ("python -c pass", [sys.executable, "-c", "pass"], REPO),
            (f"python -c '{LIBRARIES}'", [sys.executable, "-c", LIBRARIES], REPO),
        ]
        for name, args in COMMANDS.items():
            for label, cwd in checkouts:
                rows.append(
                    (f"taxireg {name}{label}", [sys.executable, "-m", "app.cli", *args], cwd)
                )
        for _, args, cwd in rows[2:]:
            timed(args, envs[cwd], cwd)  # warm the file cache
        print(f"load average before: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
        print(
            f"{'command':<52}{'median':>10}{'best':>10}{'CPU':>10}"
            f"   ({options.runs} runs; wall time, and CPU time's median)"
        )
        times: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in rows}
        for _ in range(options.runs):  # interleaved: every row sees the same load
            for name, args, cwd in rows:
                times[name].append(timed(args, envs.get(cwd, env), cwd))
        for name, runs in times.items():
            wall = [w for w, _ in runs]
            cpu = statistics.median(c for _, c in runs)
            print(f"{name:<52}{statistics.median(wall):>9.3f}s{min(wall):>9.3f}s{cpu:>9.3f}s")
        print(f"load average after:  {' '.join(f'{n:.2f}' for n in os.getloadavg())}")


if __name__ == "__main__":
    main()
