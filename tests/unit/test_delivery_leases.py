"""The relay's lease rules on in-memory ports, in milliseconds: a process without a bot's
send lease sends nothing for it, and one that loses the lease mid-pass stops at once and
hands its unsent rows back. (The same on PostgreSQL: tests/integration/test_outbox_postgres.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from core.domain.delivery import (
    DRIVER_REGISTERED,
    Delivered,
    OutboxRow,
    Outcome,
    PartnerTarget,
    Release,
    SendResult,
    Sent,
    Status,
    Targets,
)
from core.domain.model import Alerts, OwnerKind, Park
from core.services.delivery import DeliveryOptions, DeliveryService
from core.texts import Catalog
from tests.fakes.clock import FakeClock

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PARK = Park("mos", "Мос ГорТакси", "https://mos-gortaxi.ru/ref")


class MemoryOutbox:
    """Just enough of the outbox port: due rows by park, claims, Sent and Release."""

    def __init__(self, n: int) -> None:
        self.rows = {
            i: OutboxRow(
                id=i,
                park="mos",
                recipient_kind=OwnerKind.PARTNER,
                recipient_id=i,
                kind=DRIVER_REGISTERED,
                payload={"code": "abcd", "name": f"N{i}", "phone": "+79160000000"},
                key=f"k{i}",
                status=Status.PENDING,
                attempts=0,
                next_attempt_at=NOW,
                created_at=NOW,
            )
            for i in range(1, n + 1)
        }
        self.claimed: dict[int, str] = {}
        self.sent: list[int] = []
        self.released: list[int] = []

    def claim(self, *, worker: str, limit: int, parks: Sequence[str], **_: Any) -> list[OutboxRow]:
        free = [
            r
            for r in self.rows.values()
            if r.status is Status.PENDING and r.id not in self.claimed and r.park in parks
        ]
        for row in free[:limit]:
            self.claimed[row.id] = worker
        return free[:limit]

    def targets(self, rows: Sequence[OutboxRow]) -> Targets:
        partners = {
            r.recipient_id: PartnerTarget(
                r.recipient_id, 100 + r.id, False, Alerts.INSTANT, None, None
            )
            for r in rows
        }
        return Targets(partners, {})

    def record(self, outcomes: Sequence[Outcome], worker: str) -> None:
        for outcome in outcomes:
            match outcome:
                case Sent(row_id):
                    self.rows[row_id] = replace(self.rows[row_id], status=Status.SENT)
                    self.claimed.pop(row_id, None)
                    self.sent.append(row_id)
                case Release(row_id) if self.claimed.get(row_id) == worker:
                    del self.claimed[row_id]
                    self.released.append(row_id)

    def release(self, worker: str) -> int:
        mine = [i for i, w in self.claimed.items() if w == worker]
        for i in mine:
            del self.claimed[i]
        return len(mine)

    def reactivate(self, now: datetime, stale_after: timedelta) -> list[Any]:
        return []


class MemoryDb:
    def __init__(self, outbox: MemoryOutbox) -> None:
        self.uow = type("Uow", (), {"outbox": outbox})()

    async def run(self, work: Callable[[Any], Any]) -> Any:
        return work(self.uow)

    async def ping(self) -> None:
        return None


class Switch:
    """A lease whose holder the test decides."""

    def __init__(self, name: str, *, free: bool = True) -> None:
        self.name = name
        self.free = free
        self.held = False
        self.released = 0

    async def acquire(self) -> bool:
        self.held = self.free
        return self.held

    async def alive(self) -> bool:
        return self.held and self.free

    async def release(self) -> None:
        self.held = False
        self.released += 1


class Recording:
    def __init__(self, after_send: Callable[[int], None] = lambda n: None) -> None:
        self.sent: list[tuple[str, int]] = []
        self.after_send = after_send

    @property
    def parks(self) -> frozenset[str]:
        return frozenset({"mos"})

    async def send(self, park: str, chat_id: int, text: str) -> SendResult:
        self.sent.append((park, chat_id))
        self.after_send(len(self.sent))
        return Delivered(len(self.sent))


class Ticks:
    """A monotonic clock that moves 0.4 s each time it is read (lease checks come due)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.4
        return self.now


def relay(outbox: MemoryOutbox, messenger: Recording, lease: Switch) -> DeliveryService:
    return DeliveryService(
        db=MemoryDb(outbox),  # type: ignore[arg-type]
        messenger=messenger,
        catalog=Catalog(),
        parks={"mos": PARK},
        clock=FakeClock(NOW),
        options=DeliveryOptions(
            per_bot_rate=1000.0, per_chat_interval_seconds=0.0, takeover_pause_seconds=0.0
        ),
        worker="w1",
        leases=lambda name: lease,
        monotonic=Ticks(),
    )


async def test_without_the_send_lease_nothing_is_claimed_or_sent() -> None:
    outbox, messenger = MemoryOutbox(5), Recording()
    service = relay(outbox, messenger, Switch("send:mos", free=False))

    report = await service.run()

    assert (report.parks, report.claimed, messenger.sent) == ([], 0, [])
    assert outbox.claimed == {}


async def test_the_holder_sends_everything_and_releases_the_lease_on_stop() -> None:
    outbox, messenger = MemoryOutbox(5), Recording()
    lease = Switch("send:mos")
    service = relay(outbox, messenger, lease)

    report = await service.run()
    assert report.parks == ["mos"]
    assert outbox.sent == [1, 2, 3, 4, 5]
    assert await service.stop() == 0
    assert lease.released == 1


async def test_losing_the_lease_mid_pass_stops_sending_and_hands_rows_back() -> None:
    outbox = MemoryOutbox(8)
    lease = Switch("send:mos")

    def lose_after_three(sends: int) -> None:
        if sends == 3:
            lease.free = False  # e.g. its database session died

    messenger = Recording(lose_after_three)
    service = relay(outbox, messenger, lease)

    report = await service.run()

    assert len(messenger.sent) == 3
    assert outbox.sent == [1, 2, 3]  # each recorded, the last one too
    assert sorted(outbox.released) == [4, 5, 6, 7, 8]  # at once, not after their claim
    assert outbox.claimed == {}
    assert report.sent == 3
    # Next pass: the lease is someone else's now.
    again = await service.run()
    assert (again.parks, len(messenger.sent)) == ([], 3)
