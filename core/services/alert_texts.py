"""Outbox rows to alert text, through the Fluent catalogs (no user-facing text here)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from core.domain.bonus_alerts import BONUS_ACCRUED, PAYOUT_STATUS
from core.domain.bonus_payouts import PayoutStatus
from core.domain.delivery import DRIVER_REGISTERED, PARTNER_DIGEST, REGISTRATION_REMINDER
from core.domain.model import Channel, Park, Source
from core.domain.money import format_roubles
from core.domain.phones import mask_phone
from core.texts import Catalog

_CHANNELS = frozenset(Channel)
# The catalogs also name an "admin" source, which no code path records yet.
_SOURCES = frozenset({*Source, "admin"})
# Dates and times as Russian partners read them; the catalogs hold words, not formats.
_DATE = "%d.%m.%Y"
_TIME = "%d.%m.%Y %H:%M"


class CannotRender(ValueError):
    """The row's kind or payload cannot be turned into a message (a bug: never retried)."""


def render(catalog: Catalog, lang: str, park: Park, kind: str, payload: Mapping[str, Any]) -> str:
    try:
        if kind == DRIVER_REGISTERED:
            return _driver_registered(catalog, lang, park, payload)
        if kind == PARTNER_DIGEST:
            return _digest(catalog, lang, payload)
        if kind == BONUS_ACCRUED:
            return catalog.text(
                lang,
                "notify-bonus-accrued",
                {
                    "amount": format_roubles(int(payload["amount_kopecks"])),
                    "balance": format_roubles(int(payload["balance_kopecks"])),
                    "available": format_roubles(int(payload["available_kopecks"])),
                },
            )
        if kind == PAYOUT_STATUS:
            status = PayoutStatus(payload["status"])
            note = payload.get("note")
            return catalog.text(
                lang,
                f"notify-payout-{status.value}",
                {
                    "id": int(payload["payout_id"]),
                    "amount": format_roubles(int(payload["amount_kopecks"])),
                    "note": catalog.text(lang, "notify-payout-note", {"note": note})
                    if note
                    else "",
                },
            )
        if kind == REGISTRATION_REMINDER:
            # Phone confirmed: only the code is left; otherwise they confirmed nothing yet.
            key = "reminder-code" if payload.get("step") == "referral" else "reminder-start"
            return catalog.text(lang, key, {"park": park.name})
    except (KeyError, TypeError, ValueError) as exc:
        raise CannotRender(f"{kind}: bad payload ({type(exc).__name__}: {exc})") from exc
    raise CannotRender(f"unknown notification kind {kind!r}")


def _driver_registered(catalog: Catalog, lang: str, park: Park, payload: Mapping[str, Any]) -> str:
    name = (payload.get("name") or "").strip()
    first_name = name.split()[0] if name else catalog.text(lang, "notify-no-name")
    source = channel_label(catalog, lang, "source", payload.get("source"))
    if payload.get("source_tag"):
        source = f"{source} ({payload['source_tag']})"
    when = "-"
    if payload.get("registered_at"):
        at = datetime.fromisoformat(payload["registered_at"])
        when = at.astimezone(ZoneInfo(park.timezone)).strftime(_TIME)
    return catalog.text(
        lang,
        "notify-driver-registered",
        {
            "code": payload["code"],
            "name": first_name,
            "phone": mask_phone(payload.get("phone")),
            "channel": channel_label(catalog, lang, "channel", payload.get("channel")),
            "source": source,
            "time": when,
        },
    )


def _digest(catalog: Catalog, lang: str, payload: Mapping[str, Any]) -> str:
    today, total = payload["today"], payload["total"]
    return catalog.text(
        lang,
        "notify-digest",
        {
            "date": datetime.fromisoformat(payload["date"]).strftime(_DATE),
            "code": payload["code"],
            "today": int(today["count"]),
            "today_detail": _detail(catalog, lang, today),
            "total": int(total["count"]),
            "total_detail": _detail(catalog, lang, total),
        },
    )


def _detail(catalog: Catalog, lang: str, counts: Mapping[str, Any]) -> str:
    groups = []
    for group in ("channel", "source"):
        parts = [
            catalog.text(
                lang,
                "notify-digest-part",
                {"label": channel_label(catalog, lang, group, key), "count": int(count)},
            )
            for key, count in sorted(counts[group].items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        if parts:
            groups.append(", ".join(parts))
    return "; ".join(groups)


def channel_label(catalog: Catalog, lang: str, group: str, value: object) -> str:
    known = _CHANNELS if group == "channel" else _SOURCES
    key = value if value in known else "other"
    return catalog.text(lang, f"notify-{group}-{key}")
