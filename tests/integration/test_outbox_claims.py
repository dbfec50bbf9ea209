"""The outbox as a work queue on real SQLite and PostgreSQL: claims, leases, order, recovery."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.bootstrap import Container
from core.domain.delivery import (
    DRIVER_REGISTERED,
    Defer,
    Final,
    Hold,
    OutboxRow,
    Retry,
    Sent,
    Status,
)
from core.domain.model import Notification, OwnerKind
from core.ports import UnitOfWork
from storage.outbox import SqlOutbox
from tests.bots.notifications_env import (
    TOKENS,
    Store,
    deliver_once,
    linked_partner,
    make_ctx,
    rows,
)
from tests.fakes.clock import FakeClock
from tests.fakes.telegram_server import FakeTelegram

pytest_plugins = ("tests.bots.notifications_fixtures",)

LEASE = timedelta(seconds=30)


@pytest.fixture
def store(app: Container) -> Store:
    return Store(app)


async def queue(app: Container, recipient: int, n: int, *, tag: str = "") -> None:
    now = app.clock.now()
    notifications = [
        Notification(
            park="mos",
            recipient_kind=OwnerKind.PARTNER,
            recipient_id=recipient,
            kind=DRIVER_REGISTERED,
            payload={"code": "abcd", "name": f"N{i}", "phone": f"+7916000{i:04d}"},
            key=f"test:{recipient}:{tag}{i}",
            not_before=now,
        )
        for i in range(n)
    ]

    def work(uow: UnitOfWork) -> None:
        for notification in notifications:
            uow.outbox.add(notification)
        uow.outbox.add(notifications[0])  # a repeated key is ignored

    await app.db.run(work)


async def rows_of(store: Store) -> list[OutboxRow]:
    return sorted(await store.list(limit=1000), key=lambda r: r.id)


async def test_a_claim_takes_only_the_oldest_pending_row_of_each_recipient(
    app: Container, store: Store
) -> None:
    await queue(app, 1, 3)
    await queue(app, 2, 2)
    now = app.clock.now()

    first = await store.claim(now=now, worker="a", lease=LEASE, limit=10)
    assert [(r.recipient_id, r.payload["name"]) for r in first] == [(1, "N0"), (2, "N0")]
    # Their successors stay behind the claimed heads, whoever asks.
    assert await store.claim(now=now, worker="b", lease=LEASE, limit=10) == []

    await store.record([Sent(first[0].id, now)], "a")
    [nxt] = await store.claim(now=now, worker="b", lease=LEASE, limit=10)
    assert (nxt.recipient_id, nxt.payload["name"]) == (1, "N1")


async def test_a_dead_workers_claim_runs_out_and_is_claimed_again(
    app: Container, store: Store, clock: FakeClock
) -> None:
    await queue(app, 1, 1)
    [row] = await store.claim(now=clock.now(), worker="dead", lease=LEASE, limit=10)
    assert row.claimed_by == "dead"

    clock.advance(seconds=29)
    assert await store.claim(now=clock.now(), worker="b", lease=LEASE, limit=10) == []
    clock.advance(seconds=1)
    [again] = await store.claim(now=clock.now(), worker="b", lease=LEASE, limit=10)
    assert (again.id, again.claimed_by) == (row.id, "b")


async def test_outcomes_of_a_lost_lease_are_ignored_but_sent_always_sticks(
    app: Container, store: Store, clock: FakeClock
) -> None:
    await queue(app, 1, 1)
    now = clock.now()
    [row] = await store.claim(now=now, worker="a", lease=LEASE, limit=1)
    clock.advance(seconds=31)
    [same] = await store.claim(now=clock.now(), worker="b", lease=LEASE, limit=1)
    assert same.id == row.id

    # "a" comes back late with a retry: the row is "b"'s now, so that is dropped...
    await store.record([Retry(row.id, now + timedelta(hours=1), "late")], "a")
    assert (await store.get(row.id)).claimed_by == "b"  # type: ignore[union-attr]
    # ...but a message that did go out is recorded whoever held the claim.
    await store.record([Sent(row.id, clock.now())], "a")
    assert (await store.get(row.id)).status == "sent"  # type: ignore[union-attr]


async def test_retry_and_defer_move_the_recipients_later_rows_too(
    app: Container, store: Store, clock: FakeClock
) -> None:
    await queue(app, 1, 3)
    now = clock.now()
    [head] = await store.claim(now=now, worker="a", lease=LEASE, limit=10)
    later = now + timedelta(minutes=5)
    await store.record([Retry(head.id, later, "500")], "a")
    assert [r.next_attempt_at for r in await rows_of(store)] == [later] * 3

    [head] = await store.claim(now=later, worker="a", lease=LEASE, limit=10)
    quiet_end = later + timedelta(hours=7)
    await store.record([Defer(head.id, quiet_end, Hold.QUIET, "quiet")], "a")
    stored = await rows_of(store)
    assert [r.next_attempt_at for r in stored] == [quiet_end] * 3
    assert [r.hold for r in stored] == ["quiet", None, None]
    assert stored[0].attempts == 1  # the retry counted, the deferral did not


async def test_graceful_stop_releases_claims_at_once(
    app: Container, store: Store, clock: FakeClock
) -> None:
    ctx = make_ctx(app, worker="w1")
    try:
        await queue(app, 1, 1)
        await queue(app, 2, 1)
        claimed = await store.claim(now=clock.now(), worker="w1", lease=LEASE, limit=10)
        assert len(claimed) == 2
        assert await ctx.delivery.stop() == 2
        assert {r.claimed_by for r in await rows_of(store)} == {None}
        assert len(await store.claim(now=clock.now(), worker="w2", lease=LEASE, limit=10)) == 2
    finally:
        await ctx.aclose()


async def test_a_worker_killed_after_its_claim_is_covered_after_the_lease(
    app: Container, store: Store, clock: FakeClock, server: FakeTelegram
) -> None:
    partner = await linked_partner(app, chat_id=7001)
    assert partner.id is not None
    await queue(app, partner.id, 2)
    # Worker "w0" claims and dies before sending (its process is gone: nothing releases).
    await store.claim(now=clock.now(), worker="w0", lease=LEASE, limit=10)
    ctx = make_ctx(app, worker="w1")
    try:
        assert (await deliver_once(ctx)).claimed == 0  # leased to w0
        clock.advance(seconds=LEASE.total_seconds())
        report = await deliver_once(ctx)
        assert report.sent == 2
        sent = server.sent(TOKENS["mos"], 7001)
        assert [m["text"].count("N0") for m in sent] == [1, 0]  # once each, in order
        assert {r.status for r in await rows(ctx)} == {"sent"}
    finally:
        await ctx.aclose()


async def test_requeue_counts_and_listing(app: Container, store: Store, clock: FakeClock) -> None:
    await queue(app, 1, 1)
    await queue(app, 2, 1)
    now = clock.now()
    one, two = await store.claim(now=now, worker="a", lease=LEASE, limit=10)
    await store.record([Final(one.id, Status.DEAD, "gave up", attempted=True)], "a")
    await store.record([Sent(two.id, now)], "a")
    assert await store.counts() == {"dead": 1, "sent": 1}
    assert [r.id for r in await store.list(status="dead")] == [one.id]
    assert [r.id for r in await store.list(partner_ids=[2])] == [two.id]
    assert await store.list(park="spb") == []

    clock.advance(minutes=5)
    back = await store.requeue(one.id, clock.now())
    assert back is not None
    assert (back.status, back.attempts, back.last_error) == ("pending", 0, "gave up")
    assert back.next_attempt_at == clock.now()
    assert await store.requeue(two.id, clock.now()) is None  # sent rows stay sent
    assert await store.requeue(999_999, clock.now()) is None


async def test_the_claim_reads_an_index_not_the_table(app: Container) -> None:
    """The claim's plan: the partial due index and the per-recipient index, no table scan."""
    if app.db.is_postgres:
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's; PostgreSQL's plan depends on statistics")
    now = app.clock.now()

    def explain(conn: Connection) -> list[str]:
        stmt = SqlOutbox(conn, app.clock).claim_statement(
            now=now, worker="a", lease=LEASE, limit=100
        )
        compiled = stmt.compile(conn, compile_kwargs={"literal_binds": True})
        return [row[-1] for row in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))]

    plan = await app.db.run_on_connection(explain)
    joined = " | ".join(plan)
    assert "ix_outbox_due" in joined, joined
    assert "ix_outbox_pending_recipient" in joined, joined
    assert not any(step.startswith("SCAN") and "USING" not in step for step in plan), joined
