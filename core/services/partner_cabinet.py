"""The partner cabinet (a third-party web cabinet working through our API).

A partner signs in with their phone and an SMS code, sent under the bots' limits through the
app channel's conversation ``partner:<phone>`` (so sign-in codes and registration codes of
one number share the per-number quotas). A sign-in gives a random bearer token valid for
``SESSION_TTL``; only its SHA-256 digest is stored. Every read is scoped to the signed-in
partner's own code: there is no parameter through which another partner's data can be asked.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from core.domain.bonus import Beneficiary, PostedAccrual
from core.domain.bonus_payouts import Balance, Payout
from core.domain.cabinet import FunnelBy, FunnelRow, ReferralRow, funnel
from core.domain.landing import LandingLinks
from core.domain.model import Channel, OwnerKind, Park, Partner
from core.domain.phones import mask_phone
from core.domain.registration import OtpCheck
from core.ports import Clock, Database, UnitOfWork
from core.services.app_registration import (
    AppOutcome,
    AppRegistrationService,
    AppResult,
    parse_phone,
)
from core.services.landing import LandingService

SESSION_TTL = timedelta(hours=24)
MAX_PERIOD = timedelta(days=366)
PAGE_MAX = 100
_SIGN_IN = "partner:"  # the sign-in conversation's user id prefix (the app channel)


class AuthFailure(StrEnum):
    UNAUTHORIZED = "unauthorized"
    TOKEN_EXPIRED = "token_expired"


class CabinetDenied(Exception):
    def __init__(self, reason: AuthFailure) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True)
class SignedIn:
    token: str
    expires_at: datetime
    partner: Partner


@dataclass(frozen=True)
class Me:
    partner: Partner
    park: Park
    links: LandingLinks
    qr_url: str


@dataclass(frozen=True)
class ReferralView:
    id: int
    first_name: str | None
    phone_masked: str
    channel: Channel
    source: str
    source_tag: str | None
    registered_at: datetime
    erased: bool = False  # personal data erased on request: show «удалён», nothing else


@dataclass(frozen=True)
class ReferralPage:
    items: list[ReferralView]
    next_cursor: str | None


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def period(zone: ZoneInfo, since: date, until: date) -> tuple[datetime, datetime]:
    """The UTC instants from the start of ``since`` to the end of ``until`` in ``zone``."""
    start = datetime.combine(since, time(), zone).astimezone(UTC)
    end = datetime.combine(until + timedelta(days=1), time(), zone).astimezone(UTC)
    return start, end


class PartnerCabinet:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        app: AppRegistrationService,
        landing: LandingService,
        ttl: timedelta = SESSION_TTL,
    ) -> None:
        self._db = db
        self._clock = clock
        self._app = app
        self._landing = landing
        self._ttl = ttl
        self.parks = app.parks

    # -- signing in -------------------------------------------------------------------------

    async def send_code(self, park_slug: str, raw_phone: str, lang: str | None) -> AppResult:
        park = self._app.park(park_slug)
        phone = parse_phone(park, raw_phone)
        if phone is None:
            return AppResult(AppOutcome.PHONE_INVALID)
        partner = await self._db.read(lambda uow: _partner_by_phone(uow, park, phone))
        if partner is None:
            # The same answer as for a partner, and no SMS: the API does not tell who is a
            # partner, and nobody else's number gets a code.
            return AppResult(AppOutcome.SMS_SENT)
        return await self._app.send_otp(park, phone, _SIGN_IN + phone, lang)

    async def sign_in(self, park_slug: str, raw_phone: str, sms_code: str) -> SignedIn | AppResult:
        park = self._app.park(park_slug)
        phone = parse_phone(park, raw_phone)
        if phone is None:
            return AppResult(AppOutcome.PHONE_INVALID)
        limits = self._app.limits
        now = self._clock.now()
        token = secrets.token_urlsafe(32)

        def work(uow: UnitOfWork) -> SignedIn | AppResult:
            conv = uow.conversations.get(park.slug, Channel.APP, _SIGN_IN + phone)
            partner = _partner_by_phone(uow, park, phone)
            if conv is None or partner is None or partner.id is None:
                return AppResult(AppOutcome.SMS_EXPIRED)
            digits = sms_code.strip().replace(" ", "").replace("-", "")[:16]
            check = conv.check_otp(digits, now, limits)
            uow.conversations.save(conv)
            if check is OtpCheck.WRONG:
                left = conv.otp_attempts_left(limits)
                return AppResult(AppOutcome.SMS_WRONG, attempts_left=left)
            if check is OtpCheck.LOCKED:
                return AppResult(AppOutcome.RATE_LIMITED, retry_after=60)
            if check is not OtpCheck.OK:
                return AppResult(AppOutcome.SMS_EXPIRED)
            expires = now + self._ttl
            uow.cabinet.add_session(token_digest(token), partner.id, now, expires)
            return SignedIn(token, expires, partner)

        return await self._db.run(work)

    async def authenticate(self, token: str) -> Partner:
        """The partner a bearer token belongs to, or ``CabinetDenied``."""
        digest = token_digest(token)
        now = self._clock.now()

        def work(uow: UnitOfWork) -> Partner | AuthFailure:
            session = uow.cabinet.session(digest)
            if session is None or session.revoked:
                return AuthFailure.UNAUTHORIZED
            if now >= session.expires_at:
                return AuthFailure.TOKEN_EXPIRED
            partner = uow.partners.get(session.partner_id)
            return partner if partner is not None else AuthFailure.UNAUTHORIZED

        found = await self._db.read(work)
        if isinstance(found, AuthFailure):
            raise CabinetDenied(found)
        return found

    async def sign_out(self, token: str) -> bool:
        digest, now = token_digest(token), self._clock.now()
        return await self._db.run(lambda uow: uow.cabinet.revoke(digest, now))

    # -- the partner's own data --------------------------------------------------------------

    def me(self, partner: Partner) -> Me:
        park = self._app.park(partner.park)
        links = self._landing.links(park, partner.code)
        base = (self._landing.public_url or "").rstrip("/")
        return Me(partner, park, links, f"{base}/ref/{partner.code}/qr.svg")

    async def referrals(self, partner: Partner, cursor: str | None, limit: int) -> ReferralPage:
        """Newest first. ``cursor`` is the ``next_cursor`` of the page before; ValueError if
        it is not one."""
        return await referral_page(self._db, partner, cursor, limit)

    async def stats(
        self, partner: Partner, since: date, until: date, by: FunnelBy
    ) -> list[FunnelRow]:
        return await self.funnel(partner.park, [partner], since, until, by)

    async def funnel(
        self,
        park_slug: str,
        partners: Sequence[Partner] | None,
        since: date,
        until: date,
        by: FunnelBy,
    ) -> list[FunnelRow]:
        """The funnel of ``partners`` (None: every partner of the park) over the period:
        visits and openings of their current codes, registrations they referred.

        ValueError for a period that is reversed or longer than ``MAX_PERIOD``.
        """
        if until < since or until - since > MAX_PERIOD:
            raise ValueError("bad period")
        park = self._app.park(park_slug)
        zone = ZoneInfo(park.timezone)
        start, end = period(zone, since, until)

        def work(uow: UnitOfWork) -> list[FunnelRow]:
            chosen = partners if partners is not None else uow.partners.list(park.slug)
            codes = {p.code for p in chosen}
            ids = [p.id for p in chosen if p.id is not None]
            if not ids:
                return []
            visits = [
                v
                for v in uow.visits.counts(park=park.slug, since=since, until=until)
                if v.code in codes
            ]
            started = uow.cabinet.started(codes, start, end)
            registered = uow.cabinet.referrals(ids, since=start, until=end)
            return funnel(by, visits, started, registered, zone, since, until)

        return await self._db.read(work)

    # -- the bonus ledger (core.services.ledger owns the rules; these are the partner's reads)

    async def balance(self, partner: Partner) -> Balance:
        owner = _owner(partner)
        return await self._db.read(lambda uow: uow.ledger.balance(owner))

    async def accruals(
        self, partner: Partner, cursor: str | None, limit: int
    ) -> tuple[list[PostedAccrual], str | None]:
        """Newest first; ValueError for a cursor that is not a ``next_cursor``."""
        owner, before = _owner(partner), _cursor(cursor)
        limit = max(1, min(limit, PAGE_MAX))
        rows = await self._db.read(
            lambda uow: uow.ledger.entries(owner, limit=limit + 1, before_id=before)
        )
        page = rows[:limit]
        return page, (str(page[-1].id) if len(rows) > limit and page else None)

    async def payouts(self, partner: Partner) -> list[Payout]:
        owner = _owner(partner)
        return await self._db.read(lambda uow: uow.ledger.payouts(owner=owner))


async def referral_page(
    db: Database, partner: Partner, cursor: str | None, limit: int
) -> ReferralPage:
    """A page of the partner's referrals as the partner sees them (the cabinet's list, and
    ``taxireg partner referrals``): newest first, erased drivers without name or phone."""
    before = _cursor(cursor)
    limit = max(1, min(limit, PAGE_MAX))
    rows = await db.read(
        lambda uow: uow.cabinet.referrals([_owner(partner).id], limit=limit + 1, before_id=before)
    )
    items = [_view(row) for row in rows[:limit]]
    more = len(rows) > limit
    return ReferralPage(items, str(items[-1].id) if more and items else None)


def _owner(partner: Partner) -> Beneficiary:
    assert partner.id is not None
    return Beneficiary(OwnerKind.PARTNER, partner.id)


def _partner_by_phone(uow: UnitOfWork, park: Park, phone: str) -> Partner | None:
    return next((p for p in uow.partners.by_phone(phone) if p.park == park.slug), None)


def _cursor(cursor: str | None) -> int | None:
    if cursor is None or cursor == "":
        return None
    if not cursor.isdecimal() or len(cursor) > 18:
        raise ValueError("bad cursor")
    return int(cursor)


def _view(row: ReferralRow) -> ReferralView:
    first = row.name.split()[0] if row.name and row.name.split() else None
    return ReferralView(
        id=row.id,
        first_name=None if row.forgotten else first,
        phone_masked="" if row.forgotten else mask_phone(row.phone),
        erased=row.forgotten,
        channel=row.channel,
        source=row.source.value,
        source_tag=row.source_tag,
        registered_at=row.registered_at,
    )
