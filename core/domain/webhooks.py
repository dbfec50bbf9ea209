"""Signed outgoing webhooks: events for a park's own systems (its fleet software).

An event is JSON with an ``event_id`` the receiver deduplicates by; it is signed with the
park's secret as ``X-Taxireg-Signature: sha256=<hex HMAC-SHA256 of the body>``. ``kind`` is
an open string (``driver.registered`` now; the bonus ledger adds its own kinds later).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from core.domain.model import Driver

DRIVER_REGISTERED = "driver.registered"
SIGNATURE_HEADER = "X-Taxireg-Signature"
EVENT_HEADER = "X-Taxireg-Event"
MAX_ATTEMPTS = 12  # about a day of backoff before an event is parked as failed
_FIRST_RETRY = timedelta(seconds=30)
_LONGEST_RETRY = timedelta(hours=4)


class WebhookStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True)
class WebhookEvent:
    event_id: str
    park: str
    kind: str
    body: str  # the exact JSON that is signed and sent, the same bytes on every retry


@dataclass(frozen=True)
class WebhookRow:
    id: int
    event_id: str
    park: str
    kind: str
    body: str
    status: WebhookStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


def event(park: str, kind: str, data: dict[str, object], at: datetime) -> WebhookEvent:
    event_id = str(uuid.uuid4())
    body = {
        "event_id": event_id,
        "type": kind,
        "park": park,
        "created_at": at.isoformat(),
        "data": data,
    }
    return WebhookEvent(event_id, park, kind, json.dumps(body, ensure_ascii=False, sort_keys=True))


def driver_registered(driver: Driver, at: datetime) -> WebhookEvent:
    return event(
        driver.park,
        DRIVER_REGISTERED,
        {
            "driver_id": driver.id,
            "phone": driver.phone,
            "name": driver.name,
            "own_code": driver.own_code,
            "entered_code": driver.entered_code,
            "referrer_kind": driver.referrer_kind.value if driver.referrer_kind else None,
            "channel": driver.channel.value,
            "source": driver.source.value,
            "source_tag": driver.source_tag,
            "registered_at": driver.created_at.isoformat() if driver.created_at else None,
        },
        at,
    )


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return header is not None and hmac.compare_digest(signature(secret, body), header)


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failure: doubling from 30 s, at most 4 hours."""
    return min(_FIRST_RETRY * (2 ** max(0, min(attempts - 1, 20))), _LONGEST_RETRY)
