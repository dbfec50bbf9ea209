"""Long fuzz run of the registration flow: 10^5 and more hostile steps on a real store.

    .venv/bin/python -m bench.fuzz [--steps 100000] [--seed 1] [--round 2000]
        [--url postgresql+asyncpg://postgres@127.0.0.1:5432/fuzz]

Steps come from a seeded random stream (``tests.fuzz.world.random_step``): hostile text,
/start payloads, own and foreign contacts, junk phones, SMS codes right and wrong, codes of
both parks, buttons in any order, repeated and reordered update ids, operators adding
partners and switching codes off, sometimes several at once, from 12 users in two parks
and three channels. Every ``--round`` steps the invariants are read from the database and
a fresh database starts (so phones and codes keep colliding instead of saturating).
Prints exceptions and invariant violations; exits 1 if there are any.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import tempfile
import time
from pathlib import Path

from app.bootstrap import build
from tests.conftest import make_settings, reset_postgres
from tests.fakes.clock import FakeClock
from tests.fakes.sms import RecordingSms
from tests.fuzz.world import World, random_step


async def one_round(url: str | None, rng: random.Random, steps: int, tmp: Path) -> list[str]:
    if url is None:
        database = f"sqlite:///{tmp / f'fuzz-{rng.random()}.db'}"
    else:
        database = url
        await reset_postgres(url)
    clock = FakeClock()
    app = await build(make_settings(database, tmp), clock=clock, sms=RecordingSms())
    try:
        world = World.make(app, seed=rng.randrange(1 << 30))
        for n in range(steps):
            if n % 50 == 0:
                await world.refresh_codes()
                clock.advance(minutes=rng.choice((0, 0, 1, 11)))
            if rng.random() < 0.1:  # now and then several updates at the same time
                await world.burst([random_step(rng, len(world.users)) for _ in range(3)])
            else:
                await world.apply(random_step(rng, len(world.users)))
        return await world.violations()
    finally:
        await app.aclose()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--round", type=int, default=2000, help="steps per fresh database")
    parser.add_argument("--url", default=None, help="PostgreSQL URL (default: SQLite)")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # the flow logs every update; only the findings matter
    rng = random.Random(args.seed)
    found: list[str] = []
    done, started = 0, time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        while done < args.steps:
            size = min(args.round, args.steps - done)
            found += await one_round(args.url, rng, size, Path(tmp))
            done += size
    elapsed = time.perf_counter() - started
    store = "PostgreSQL" if args.url else "SQLite"
    for line in found[:50]:
        print(line)
    print(
        f"{done} steps on {store} (seed {args.seed}) in {elapsed:.0f} s: "
        f"{len(found)} exceptions or invariant violations"
    )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
