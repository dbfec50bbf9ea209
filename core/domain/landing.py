"""The referral landing page's facts: the links it offers, the source tag, visit counts."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from urllib.parse import urlencode

from core.domain import limits
from core.domain.codes import MAX_LENGTH
from core.domain.model import Park

# Telegram's start parameter allows only these characters, at most 64 of them, and the code
# and the tag share it as "<code>-<tag>" (``codes.split_payload``). The tag is cut to what
# fits after the longest code, and the same tag is used for VK and the visit counts, so a
# source reads the same in every channel of the funnel.
_TAG_JUNK = re.compile(r"[^A-Za-z0-9_-]")
TELEGRAM_PAYLOAD = 64
SOURCE_TAG = min(limits.SOURCE_TAG, TELEGRAM_PAYLOAD - MAX_LENGTH - 1)
# Where the landing page lives under a public URL.
PAGE_PATH = "/ref"


def source_tag(raw: str | None) -> str | None:
    """A link's ``src``/``ref_source`` reduced to what every channel carries, or None.

    Total on any input: characters Telegram cannot carry are dropped, then it is cut.
    """
    if not raw:
        return None
    return _TAG_JUNK.sub("", raw[: limits.URL])[:SOURCE_TAG] or None


@dataclass(frozen=True)
class AppLinks:
    """A park's app in the stores, when the park has one (``[[parks]]`` config)."""

    app_store_url: str | None = None
    play_store_url: str | None = None


@dataclass(frozen=True)
class LandingLinks:
    """Every way to register with one code: the page itself, the bots, the app."""

    page: str
    telegram: str | None
    vk: str | None
    app_store: str | None = None
    play_store: str | None = None


def page_link(park: Park, code: str, source: str | None, public_url: str | None) -> str:
    """The landing page of ``code``: under ``public_url`` when the web front end has one,
    else the park's own landing URL (``Park.referral_link``)."""
    if public_url:
        park = replace(park, landing_url=public_url.rstrip("/") + PAGE_PATH)
    link = park.referral_link(code)
    return f"{link}&{urlencode({'src': source})}" if source else link


def telegram_start_link(park: Park, code: str, source: str | None) -> str | None:
    """``https://t.me/<bot>?start=<code>[-<tag>]``: the bot splits the payload back."""
    base = park.telegram_link
    if base is None:
        return None
    payload = f"{code}-{source}" if source else code
    return f"{base}?start={payload}"


def vk_ref_link(park: Park, code: str, source: str | None) -> str | None:
    """``https://vk.me/<community>?ref=<code>[&ref_source=<tag>]``."""
    base = park.vk_link
    if base is None:
        return None
    query = {"ref": code, "ref_source": source} if source else {"ref": code}
    return f"{base}?{urlencode(query)}"


def landing_links(
    park: Park,
    code: str,
    source: str | None,
    *,
    public_url: str | None = None,
    apps: AppLinks | None = None,
) -> LandingLinks:
    apps = apps or AppLinks()
    return LandingLinks(
        page=page_link(park, code, source, public_url),
        telegram=telegram_start_link(park, code, source),
        vk=vk_ref_link(park, code, source),
        app_store=apps.app_store_url,
        play_store=apps.play_store_url,
    )


@dataclass(frozen=True)
class VisitCount:
    """Landing page visits of one code from one source on one day (the park's date)."""

    park: str
    code: str
    source: str  # "" when the link carried no source tag
    day: date
    count: int
