"""Notification relay benchmark: delivery rate against the configured limit, and claim cost.

    python -m bench.notifications            # both parts, ~1-2 minutes
    python -m bench.notifications --skip-claim --bots 2 --rate 100

Part 1 queues 10,000 alerts to 1,000 linked partners spread over several parks (one bot
each) and lets the real relay deliver them through real aiogram bots to the fake Bot API
(127.0.0.1). Telegram's own limit is ~30 messages/s per bot; the run configures a higher
per-bot rate and several bots so it ends in well under a minute. It reports the achieved
rate per bot as a share of the configured rate (from the arrival times at the fake server),
duplicates and losses.

Part 2 times one claim (batch_size rows) on SQLite with 10 rows in the outbox and with
1,000,000 rows (bulk-inserted with batched executemany), once with a realistic history
(almost everything already sent) and once with every row pending.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import insert, update
from sqlalchemy.engine import Connection

from app.bootstrap import build
from app.settings import load_settings
from app.wiring_scheduler import delivery_options
from bots.telegram.sender import TelegramMessenger
from core.domain.delivery import DRIVER_REGISTERED
from core.domain.model import Notification, OwnerKind
from core.ports import UnitOfWork
from core.services.delivery import DeliveryService
from storage import migrate
from storage import tables as t
from storage.database import SqlDatabase
from storage.outbox import SqlOutbox
from tests.fakes.clock import FakeClock
from tests.fakes.telegram_server import FakeTelegram, LocalAiohttpSession

NOTIFICATIONS = 10_000
PARTNERS = 1_000
CHAT_BASE = 10_000_000
MILLION = 1_000_000
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


# --------------------------------------------------------------------------- part 1


async def delivery_rate(bots: int, rate: float, chat_interval: float, batch: int) -> bool:
    slugs = [f"park{n}" for n in range(bots)]
    tokens = {slug: f"{900 + n}:bench-{slug}" for n, slug in enumerate(slugs)}
    async with FakeTelegram() as server:
        for slug, token in tokens.items():
            server.add_bot(token, f"{slug}_bot")
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(
                None,
                data_dir=tmp,
                parks=[
                    {
                        "slug": s,
                        "name": s,
                        "landing_url": "https://example.com/r",
                        "telegram_token": tokens[s],
                        "telegram_username": f"{s}_bot",
                    }
                    for s in slugs
                ],
                telegram={"api_server": server.base_url},
                notifications={
                    "per_bot_rate": rate,
                    "per_chat_interval_seconds": chat_interval,
                    "batch_size": batch,
                },
            )
            app = await build(settings)
            try:
                now = app.clock.now()
                partner_ids = await app.db.run_on_connection(lambda c: _partners(c, slugs, now))
                await _queue(app, partner_ids, slugs)
                # One Bot per park on one shared session, as the Telegram front end has.
                session = LocalAiohttpSession(api=TelegramAPIServer.from_base(server.base_url))
                park_bots = {slug: Bot(tokens[slug], session=session) for slug in slugs}
                relay = DeliveryService(
                    db=app.db,
                    messenger=TelegramMessenger(park_bots),
                    catalog=app.catalog,
                    parks=app.parks,
                    clock=app.clock,
                    options=delivery_options(settings.notifications),
                    worker="bench",
                    leases=app.leases,
                )
                print(
                    f"delivery: {NOTIFICATIONS:,} alerts to {PARTNERS:,} partners over {bots} "
                    f"bots; configured {rate:g} msg/s per bot (Telegram allows ~30: raised so "
                    f"the run is short), {chat_interval:g} s per chat, batch {batch}"
                )
                started = time.monotonic()
                while (await relay.run()).claimed:
                    pass
                elapsed = time.monotonic() - started
                await relay.stop()
                await session.close()
                counts = await app.db.run(lambda uow: uow.outbox.counts())
            finally:
                await app.aclose()
        return _report(server, tokens, rate, chat_interval, elapsed, counts)


def _partners(conn: Connection, slugs: list[str], now: datetime) -> list[tuple[str, int]]:
    """Partners as core's directory stores them, already linked to a Telegram chat."""
    rows = []
    for n in range(PARTNERS):
        code = f"b{n:06d}"
        slug = slugs[n % len(slugs)]
        conn.execute(
            insert(t.codes).values(code=code, park_slug=slug, kind="partner", created_at=now)
        )
        result = conn.execute(
            insert(t.partners)
            .values(
                park_slug=slug,
                phone=f"+7916{n:07d}",
                name=f"P{n}",
                code=code,
                telegram_chat_id=CHAT_BASE + n,
                created_at=now,
                updated_at=now,
            )
            .returning(t.partners.c.id)
        )
        rows.append((slug, result.scalar_one()))
    return rows


async def _queue(app: Any, partners: list[tuple[str, int]], slugs: list[str]) -> None:
    now = app.clock.now()

    def work(uow: UnitOfWork) -> None:
        # Round-robin, as registrations arrive: each partner's alerts spread over the run.
        for i in range(NOTIFICATIONS):
            slug, partner_id = partners[i % len(partners)]
            uow.outbox.add(
                Notification(
                    park=slug,
                    recipient_kind=OwnerKind.PARTNER,
                    recipient_id=partner_id,
                    kind=DRIVER_REGISTERED,
                    payload={
                        "code": "b000000",
                        "name": f"D{i}",  # makes every text unique: duplicates are countable
                        "phone": "+79160000000",
                        "channel": "telegram",
                        "source": "deep_link",
                        "registered_at": now.isoformat(),
                    },
                    key=f"bench:{i}",
                    not_before=now,
                )
            )

    await app.db.run(work)


def _report(
    server: FakeTelegram,
    tokens: dict[str, str],
    rate: float,
    chat_interval: float,
    elapsed: float,
    counts: dict[Any, int],
) -> bool:
    sent = [r for r in server.calls("sendMessage") if r.status == 200]
    texts = Counter((r.params["chat_id"], r.params["text"]) for r in sent)
    duplicates = sum(n - 1 for n in texts.values() if n > 1)
    delivered = {text.split("Имя: ")[1].split("\n")[0] for _, text in texts}
    losses = NOTIFICATIONS - len(delivered)
    shares = []
    for slug, token in tokens.items():
        times = sorted(r.at for r in sent if r.token == token)
        achieved = (len(times) - 1) / (times[-1] - times[0])
        window = max(_in_window(times, 1.0))
        shares.append(achieved / rate)
        print(
            f"  bot {slug}: {len(times):,} sent, {achieved:.1f} msg/s = "
            f"{achieved / rate:.1%} of {rate:g}; most in any 1 s window: {window}"
        )
    per_chat: dict[Any, list[float]] = defaultdict(list)
    for r in sent:
        per_chat[(r.token, r.params["chat_id"])].append(r.at)
    gaps = [b - a for ts in per_chat.values() for a, b in itertools.pairwise(ts)]
    print(
        f"  total {len(sent):,} in {elapsed:.1f} s; outbox {counts}; "
        f"closest two messages to one chat: {min(gaps):.3f} s (limit {chat_interval:g} s)"
    )
    share = statistics.fmean(shares)
    print(
        f"RESULT delivery: achieved rate {share:.1%} of the configured per-bot limit "
        f"(min {min(shares):.1%}; target >= 95%), duplicates {duplicates}, losses {losses}"
    )
    return share >= 0.95 and duplicates == 0 and losses == 0


def _in_window(times: list[float], width: float) -> list[int]:
    counts, start = [], 0
    for end, at in enumerate(times):
        while at - times[start] >= width:
            start += 1
        counts.append(end - start + 1)
    return counts


# --------------------------------------------------------------------------- part 2


async def claim_cost(batch: int) -> None:
    # Every measured claim takes 10 rows, so only the table size differs between them.
    print("claim: one claim of 10 rows on SQLite (median of 15 claims)")
    with tempfile.TemporaryDirectory() as tmp:
        small_file, big_file = Path(tmp) / "small.db", Path(tmp) / "big.db"
        await _fill(small_file, total=10, pending=10)
        small = await _claim_time(small_file, 10)
        print(f"  10 rows in the outbox, all pending: {small * 1000:.2f} ms")
        loaded = time.monotonic()
        await _fill(big_file, total=MILLION, pending=10)
        print(f"    (inserted {MILLION:,} rows in {time.monotonic() - loaded:.1f} s)")
        history = await _claim_time(big_file, 10)
        print(f"  1,000,000 rows, 10 pending (the rest sent): {history * 1000:.2f} ms")
        big = SqlDatabase(f"sqlite:///{big_file}", FakeClock(NOW))
        try:
            await big.run_on_connection(
                lambda c: c.execute(update(t.outbox).values(status="pending", sent_at=None))
            )
        finally:
            await big.dispose()
        backlog = await _claim_time(big_file, 10)
        print(f"  1,000,000 rows, all pending (1,000 recipients): {backlog * 1000:.2f} ms")
        full = await _claim_time(big_file, batch)
        print(f"  (a full batch of {batch} from that backlog: {full * 1000:.2f} ms)")
    worst = max(history, backlog)
    print(
        f"RESULT claim: {small * 1000:.2f} ms with 10 rows vs {worst * 1000:.2f} ms with "
        f"1,000,000 rows (x{worst / small:.1f}; target: same order of magnitude)"
    )


async def _claim_time(file: Path, batch: int) -> float:
    """One claim as the relay runs it: a unit of work in the database thread, timed from the
    event loop (so the thread hop is included)."""
    clock = FakeClock(NOW)
    db = SqlDatabase(f"sqlite:///{file}", clock)
    lease = timedelta(seconds=60)
    timings = []
    try:
        for _ in range(15):
            started = time.perf_counter()
            rows = await db.run_on_connection(
                lambda c: SqlOutbox(c, clock).claim(
                    now=NOW, worker="bench", lease=lease, limit=batch
                )
            )
            timings.append(time.perf_counter() - started)
            assert rows, "nothing claimed"
            await db.run_on_connection(lambda c: SqlOutbox(c, clock).release("bench"))
    finally:
        await db.dispose()
    return statistics.median(timings)


async def _fill(file: Path, *, total: int, pending: int) -> None:
    """Bulk insert through the driver's executemany: values pre-rendered, no JSON encoding
    or type conversion per row, 100,000 rows per batch (one transaction each)."""
    db = SqlDatabase(f"sqlite:///{file}", FakeClock(NOW))
    try:
        await migrate.upgrade(db)
        await db.run_on_connection(
            lambda c: c.execute(
                insert(t.parks).values(
                    slug="p", name="p", landing_url="https://example.com/r", updated_at=NOW
                )
            )
        )
        step = 100_000
        for start in range(0, total, step):
            rows = _rows(range(start, min(total, start + step)), total, pending)
            await db.run_on_connection(lambda c, rows=rows: c.exec_driver_sql(_FILL, rows))
    finally:
        await db.dispose()


_FILL = (
    "INSERT INTO outbox (park_slug, recipient_kind, recipient_id, kind, payload, "
    "idempotency_key, status, attempts, next_attempt_at, created_at, sent_at) "
    "VALUES ('p', 'partner', ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _rows(ids: range, total: int, pending: int) -> list[tuple[Any, ...]]:
    payload = '{"code": "abcd", "name": "D"}'
    naive = NOW.replace(tzinfo=None)  # UTCDateTime stores naive UTC text on SQLite
    rows = []
    for i in ids:
        at = str(naive - timedelta(seconds=total - i))
        is_pending = i >= total - pending
        rows.append(
            (
                i % 1_000,
                DRIVER_REGISTERED,
                payload,
                f"k{i}",
                "pending" if is_pending else "sent",
                0 if is_pending else 1,
                at,
                at,
                None if is_pending else at,
            )
        )
    return rows


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, default=2, help="parks, one bot each (2)")
    parser.add_argument("--rate", type=float, default=100.0, help="msg/s per bot (100)")
    parser.add_argument("--chat-interval", type=float, default=1.0, help="s per chat (1.0)")
    parser.add_argument("--batch", type=int, default=200, help="rows in flight (200)")
    parser.add_argument("--skip-delivery", action="store_true")
    parser.add_argument("--skip-claim", action="store_true")
    args = parser.parse_args()
    ok = True
    if not args.skip_delivery:
        ok = asyncio.run(delivery_rate(args.bots, args.rate, args.chat_interval, args.batch))
    if not args.skip_claim:
        asyncio.run(claim_cost(100))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
