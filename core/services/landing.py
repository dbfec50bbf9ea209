"""The referral landing page: a code's park and links, and visits counted per day.

The page and the QR codes of the web front end and ``taxireg partner links`` all build their
links here, from the park (``core.domain.landing``), so a printed QR code, the page and the
bots agree on every URL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from core.domain.codes import normalize_code
from core.domain.landing import AppLinks, LandingLinks, landing_links, source_tag
from core.domain.model import CodeInfo, Park
from core.domain.phones import InvalidPhone, normalize_phone
from core.ports import Clock, Database, UnitOfWork

# Visits of a link without a source tag are counted under this source.
NO_SOURCE = ""
# Anyone can put any ``src`` in a URL: past this many distinct sources of one code in one
# day, further new ones are counted together under OTHER_SOURCES, so a script cycling
# through random tags adds at most this many rows per code and day.
MAX_SOURCES_PER_DAY = 50
OTHER_SOURCES = "_other"


@dataclass(frozen=True)
class LandingPage:
    """A working code: the park it belongs to and every link to register with it."""

    park: Park
    code: str
    source: str | None
    links: LandingLinks


@dataclass(frozen=True)
class LandingMiss:
    """No page for this code: the parks whose bots the visitor is offered instead.

    ``inactive`` is True when the code exists but was deactivated (its park is then known).
    """

    parks: tuple[Park, ...]
    inactive: bool = False


class LandingService:
    def __init__(
        self,
        db: Database,
        parks: Mapping[str, Park],
        clock: Clock,
        *,
        public_url: str | None = None,
        apps: Mapping[str, AppLinks] | None = None,
    ) -> None:
        self._db = db
        self.parks = dict(parks)
        self._clock = clock
        self.public_url = public_url
        self._apps = dict(apps or {})

    async def visit(
        self, raw_code: str | None, raw_source: str | None = None, *, host: str | None = None
    ) -> LandingPage | LandingMiss:
        """Open the page of a code, counting the visit when the code works.

        The lookup and the count are one transaction. ``host`` (the request's Host header)
        picks the park whose bots an unknown code's page offers.
        """
        code = normalize_code(raw_code or "")
        source = source_tag(raw_source)
        if code is None:
            return self._miss(host)
        today = self._clock.now()

        def work(uow: UnitOfWork) -> CodeInfo | None:
            info = uow.codes.lookup(code)
            park = self.parks.get(info.park) if info is not None else None
            if info is None or park is None or not info.active:
                return info
            day = today.astimezone(ZoneInfo(park.timezone)).date()
            counted = source or NO_SOURCE
            if counted != NO_SOURCE:
                known = {v.source for v in uow.visits.counts(code=code, since=day, until=day)}
                if counted not in known and len(known) >= MAX_SOURCES_PER_DAY:
                    counted = OTHER_SOURCES
            uow.visits.add(park.slug, code, counted, day)
            return info

        return self._page(await self._db.run(work), code, source, host)

    async def page(
        self, raw_code: str | None, raw_source: str | None = None
    ) -> LandingPage | LandingMiss:
        """The page of a code without counting a visit (QR codes, the CLI)."""
        code = normalize_code(raw_code or "")
        source = source_tag(raw_source)
        if code is None:
            return self._miss(None)
        info = await self._db.read(lambda uow: uow.codes.lookup(code))
        return self._page(info, code, source, None)

    async def partner_pages(self, raw: str, source: str | None = None) -> list[LandingPage]:
        """Pages for a code, or for every code of a partner found by phone in any park."""
        found = await self.page(raw, source)
        if isinstance(found, LandingPage):
            return [found]
        phones = set(_phones(raw, {p.phone_region for p in self.parks.values()}))
        if not phones:
            return []

        def work(uow: UnitOfWork) -> list[str]:
            return [p.code for phone in phones for p in uow.partners.by_phone(phone)]

        pages = [await self.page(code, source) for code in await self._db.read(work)]
        return [p for p in pages if isinstance(p, LandingPage)]

    def links(self, park: Park, code: str, source: str | None = None) -> LandingLinks:
        return landing_links(
            park, code, source, public_url=self.public_url, apps=self._apps.get(park.slug)
        )

    def _page(
        self, info: CodeInfo | None, code: str, source: str | None, host: str | None
    ) -> LandingPage | LandingMiss:
        park = self.parks.get(info.park) if info is not None else None
        if info is None or park is None:
            return self._miss(host)
        if not info.active:
            return LandingMiss((park,), inactive=True)
        return LandingPage(park, code, source, self.links(park, code, source))

    def _miss(self, host: str | None) -> LandingMiss:
        # The park whose site the visitor came to, when its landing URL is on this host;
        # otherwise every park, since there is no telling which one they meant.
        host = (host or "").lower()
        matching = tuple(p for p in self.parks.values() if host and _host(p.landing_url) == host)
        return LandingMiss(matching or tuple(self.parks.values()))


def _host(url: str) -> str:
    rest = url.partition("://")[2]
    return rest.split("/", 1)[0].split("?", 1)[0].lower()


def _phones(raw: str, regions: Iterable[str]) -> Iterable[str]:
    for region in sorted(regions):
        try:
            yield normalize_phone(raw, region)
        except InvalidPhone:
            continue
