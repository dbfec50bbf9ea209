"""Pending alerts written straight into the outbox, and what the fake Bot API got of them.

Each alert names its own marker (``A<n>``) as the driver's first name, so every message the
fake received can be traced back to exactly one outbox row.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from app.bootstrap import build
from app.settings import load_settings
from core.domain.delivery import DRIVER_REGISTERED
from core.domain.model import Notification, OwnerKind
from core.ports import UnitOfWork
from tests.fakes.telegram_server import FakeTelegram

MARKER = re.compile(r"\bA(\d+)\b")


async def seed_alerts(
    config: Path, parks: list[str], partners_per_park: int, alerts_per_partner: int
) -> dict[str, set[int]]:
    """Partners linked to Telegram chats and their pending alerts; markers by park."""
    app = await build(load_settings(config))
    markers: dict[str, set[int]] = {park: set() for park in parks}
    try:
        n = 0
        for p_index, park in enumerate(parks):
            for i in range(partners_per_park):
                phone = f"+7926{p_index}{i:06d}"
                partner = await app.admin.add_partner(park, phone, f"Партнёр {i}")
                assert partner.id is not None
                chat = 500_000 + p_index * 10_000 + i
                notes = []
                for _ in range(alerts_per_partner):
                    n += 1
                    markers[park].add(n)
                    notes.append(
                        Notification(
                            park=park,
                            recipient_kind=OwnerKind.PARTNER,
                            recipient_id=partner.id,
                            kind=DRIVER_REGISTERED,
                            payload={"code": partner.code, "name": f"A{n}", "channel": "telegram"},
                            key=f"crash-{n}",
                        )
                    )

                def work(uow: UnitOfWork, pid: int = partner.id, chat: int = chat,
                         notes: list[Notification] = notes) -> None:  # fmt: skip
                    uow.partners.link_telegram(pid, chat)
                    for note in notes:
                        uow.outbox.add(note)

                await app.db.run(work)
    finally:
        await app.aclose()
    return markers


def arrivals(fake: FakeTelegram, token: str) -> Counter[int]:
    """Alerts by marker, counting every sendMessage that reached the fake, answered or not:
    a request cut by the kill may have been delivered, so it counts (the worst case)."""
    found: Counter[int] = Counter()
    for call in fake.calls("sendMessage", token=token):
        match = MARKER.search(str(call.params.get("text", "")))
        if match:
            found[int(match.group(1))] += 1
    return found


def delivered(fake: FakeTelegram, token: str) -> set[int]:
    """Alerts answered with 200 at least once: surely delivered."""
    return {
        int(m.group(1))
        for params in fake.sent(token)
        if (m := MARKER.search(str(params.get("text", ""))))
    }
