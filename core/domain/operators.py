"""What park operators ask of the directory in bulk: filters for listing drivers, and
partners arriving from a file."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from core.domain.model import Alerts, Channel, Driver, Partner, Source
from core.domain.registration import Conversation


class Stage(StrEnum):
    """Which people a driver listing shows."""

    REGISTERED = "registered"  # drivers
    UNFINISHED = "unfinished"  # registrations started and not finished (no driver yet)


@dataclass(frozen=True)
class DriverFilter:
    """Every field narrows; None leaves it open. Times compare with the registration time
    (drivers) or the start of the conversation (unfinished), ``since`` <= t < ``until``."""

    park: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    code: str | None = None  # the code entered at registration (unfinished: the link's)
    source: Source | None = None
    channel: Channel | None = None


@dataclass(frozen=True)
class PartnerLine:
    """A partner as a file names them, not yet checked; ``line`` is the file's line number."""

    line: int
    phone: str
    name: str | None = None
    code: str | None = None
    alerts: str | None = None


class LineResult(StrEnum):
    ADDED = "added"
    EXISTING = "existing"  # the park already has a partner with this phone: left as it is
    REFUSED = "refused"


@dataclass
class PartnerImport:
    """The outcome of a partner file: counts, and each refused line with its reason."""

    added: int = 0
    existing: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)

    def note(self, result: LineResult, line: int, reason: str | None = None) -> None:
        if result is LineResult.ADDED:
            self.added += 1
        elif result is LineResult.EXISTING:
            self.existing += 1
        else:
            self.refused.append((line, reason or "refused"))


def parse_alerts(raw: str | None) -> Alerts | None:
    """``instant`` or ``digest`` (any case); "" or None is the default; else ValueError."""
    text = (raw or "").strip().lower()
    return Alerts(text) if text else None


# -- records of the streamed listings: stable keys, shared by the CLI and the admin API ---

PARTNER_COLUMNS = (
    "name",
    "phone",
    "code",
    "alerts",
    "park",
    "id",
    "telegram_linked",
    "unreachable",
    "created_at",
)
DRIVER_COLUMNS = (
    "id",
    "park",
    "phone",
    "name",
    "own_code",
    "entered_code",
    "referrer_kind",
    "referrer_id",
    "channel",
    "source",
    "source_tag",
    "registered_at",
    "consent_at",
    "mailing",
    "erased",
)
UNFINISHED_COLUMNS = (
    "id",
    "park",
    "channel",
    "step",
    "phone",
    "name",
    "link_code",
    "link_tag",
    "started_at",
    "last_activity_at",
)


def partner_record(p: Partner) -> dict[str, object]:
    """The file ``partner import`` reads starts with the same columns: an export imports."""
    return {
        "name": p.name,
        "phone": p.phone,
        "code": p.code,
        "alerts": p.alerts.value,
        "park": p.park,
        "id": p.id,
        "telegram_linked": p.telegram_chat_id is not None,
        "unreachable": p.unreachable,
        "created_at": p.created_at,
    }


def driver_record(d: Driver) -> dict[str, object]:
    erased = d.forgotten_at is not None
    return {
        "id": d.id,
        "park": d.park,
        "phone": None if erased else d.phone,
        "name": d.name,
        "own_code": d.own_code,
        "entered_code": d.entered_code,
        "referrer_kind": d.referrer_kind.value if d.referrer_kind else None,
        "referrer_id": d.referrer_id,
        "channel": d.channel.value,
        "source": d.source.value,
        "source_tag": d.source_tag,
        "registered_at": d.created_at,
        "consent_at": d.consent_at,
        "mailing": d.mailing_at is not None,
        "erased": erased,
    }


def unfinished_record(c: Conversation) -> dict[str, object]:
    return {
        "id": c.id,
        "park": c.park,
        "channel": c.channel.value,
        "step": c.step.value,
        "phone": c.phone,
        "name": c.name,
        "link_code": c.link_code,
        "link_tag": c.link_tag,
        "started_at": c.created_at,
        "last_activity_at": c.updated_at,
    }
