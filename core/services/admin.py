"""Operator use cases: the partner directory, driver cards, the code entered at registration."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING

from core.domain import limits
from core.domain.bonus import Beneficiary
from core.domain.bonus_chain import ReferrerOf, would_cycle
from core.domain.codes import MIN_LENGTH, generate_code, normalize_code
from core.domain.csv_records import read_records
from core.domain.errors import (
    CodeRefused,
    DomainError,
    DriverNotFound,
    DuplicatePartner,
    InvalidPhoneError,
)
from core.domain.model import (
    Alerts,
    AuditEntry,
    CodeInfo,
    Driver,
    DriverCard,
    OwnerKind,
    Park,
    Partner,
)
from core.domain.operators import (
    DriverFilter,
    LineResult,
    PartnerImport,
    PartnerLine,
    parse_alerts,
)
from core.domain.phones import InvalidPhone, mask_phone, normalize_phone
from core.domain.referral import Refusal, refusal
from core.domain.registration import Conversation
from core.domain.text import clean_name
from core.ports import Clock, Database, UnitOfWork
from core.services.codes import ATTEMPTS_PER_LENGTH, CodeIssuer
from core.services.erasure import DriverIdNotFound, Forgotten, forget
from core.services.parks import require_park

if TYPE_CHECKING:
    from core.services.partner_cabinet import ReferralPage

ENTERED_CODE = "entered_code"
# Rows per transaction when importing, and per read when streaming a listing: big enough
# that round trips do not dominate, small enough that memory stays flat at any table size.
IMPORT_BATCH = 1_000
PAGE = 1_000
# Conversations of the partner cabinet's sign-in (``core.services.partner_cabinet``) are
# not registrations.
SIGN_IN_PREFIX = "partner:"


class AdminService:
    def __init__(
        self,
        db: Database,
        parks: Mapping[str, Park],
        clock: Clock,
        issuer: CodeIssuer | None = None,
    ) -> None:
        self._db = db
        self.parks = dict(parks)
        self._clock = clock
        self._issuer = issuer or CodeIssuer()

    def park(self, slug: str) -> Park:
        return require_park(self.parks, slug)

    def phone(self, park: Park, raw: str) -> str:
        try:
            return normalize_phone(raw, park.phone_region)
        except InvalidPhone:
            raise InvalidPhoneError(raw, park.phone_region) from None

    async def add_partner(self, park_slug: str, raw_phone: str, name: str | None) -> Partner:
        park = self.park(park_slug)
        phone = self.phone(park, raw_phone)
        clean = clean_name(name, limits.PERSON_NAME)

        def add(uow: UnitOfWork) -> Partner | None:
            existing = next((p for p in uow.partners.by_phone(phone) if p.park == park.slug), None)
            if existing is not None:
                raise DuplicatePartner(park.slug, mask_phone(phone), existing.name, existing.code)
            code = self._issuer.issue(uow.codes, park.slug, OwnerKind.PARTNER)
            partner = Partner(
                park=park.slug, phone=phone, code=code, name=clean, created_at=self._clock.now()
            )
            stored = uow.partners.add(partner)
            if stored is None:  # added by someone else between our read and our insert
                uow.codes.release(code)
            return stored

        stored = await self._db.run(add)
        if stored is None:
            return await self.add_partner(park_slug, raw_phone, name)
        return stored

    async def import_partners(
        self,
        park_slug: str,
        lines: Iterable[PartnerLine],
        *,
        advance: Callable[[int], None] | None = None,
    ) -> PartnerImport:
        """Add the file's partners to a park, ``IMPORT_BATCH`` lines a transaction.

        Idempotent by phone: a phone the park already has (or an earlier line had) is left
        as it is. A requested code must be free in every park. A bad line is refused with
        its reason and changes nothing; the others are kept. ``advance(n)`` is told after
        each batch. A batch costs a fixed handful of statements whatever its size: one read
        of the phones the park has, one of the codes taken, one insert of the codes and one
        of the partners (``_import_batch``).
        """
        park = self.park(park_slug)
        report = PartnerImport()
        seen: dict[str, int] = {}  # phone -> the line that had it first
        batch: list[PartnerLine] = []

        async def flush() -> None:
            if not batch:
                return
            results, firsts = await self._db.run(
                lambda uow: self._import_batch(uow, park, batch, seen)
            )
            seen.update(firsts)  # only once committed: a retried transaction starts clean
            for line, (result, reason) in zip(batch, results, strict=True):
                report.note(result, line.line, reason)
            if advance is not None:
                advance(len(batch))
            batch.clear()

        for line in lines:
            batch.append(line)
            if len(batch) >= IMPORT_BATCH:
                await flush()
        await flush()
        report.refused.sort()
        return report

    async def import_partner_csv(
        self, park_slug: str, data: bytes, *, advance: Callable[[int], None] | None = None
    ) -> PartnerImport:
        """``import_partners`` of a CSV file's bytes (``partner_lines``); unreadable lines
        join the refusals. ``CsvFileError`` if the file as a whole cannot be read."""
        self.park(park_slug)  # an unknown park is refused before reading lines
        unreadable: list[tuple[int, str]] = []
        report = await self.import_partners(
            park_slug, partner_lines(data, unreadable), advance=advance
        )
        report.refused = sorted(report.refused + unreadable)
        return report

    def _import_batch(
        self, uow: UnitOfWork, park: Park, lines: list[PartnerLine], seen: Mapping[str, int]
    ) -> tuple[list[tuple[LineResult, str | None]], dict[str, int]]:
        """Each line's outcome, and the phones this batch saw first (phone -> line)."""
        results: list[tuple[LineResult, str | None]] = [(LineResult.REFUSED, None)] * len(lines)
        # (index, phone, alerts, code); a code's own refusal waits: an existing phone wins
        checked: list[tuple[int, str, Alerts, str | LineRefusal | None]] = []
        for i, line in enumerate(lines):
            outcome = _check_line(line, park)
            if isinstance(outcome, LineRefusal):
                results[i] = (LineResult.REFUSED, outcome.reason)
            else:
                checked.append((i, *outcome))
        present = uow.partners.phones_in(park.slug, {phone for _, phone, _, _ in checked})
        requested = {code for *_, code in checked if isinstance(code, str)}
        taken = uow.codes.parks_of(requested) if requested else {}
        firsts: dict[str, int] = {}
        claimed: set[str] = set()
        new: list[tuple[int, str, Alerts, str | None]] = []
        for i, phone, alerts, code in checked:
            number = lines[i].line
            first = seen.get(phone, firsts.get(phone))
            if first is not None and first != number:
                results[i] = (LineResult.REFUSED, f"the same phone as line {first}")
            elif phone in present:
                firsts[phone] = number
                results[i] = (LineResult.EXISTING, None)
            elif isinstance(code, LineRefusal):
                results[i] = (LineResult.REFUSED, code.reason)
            elif code is not None and (code in taken or code in claimed):
                where = taken.get(code, park.slug)
                results[i] = (LineResult.REFUSED, f"the code {code} is taken in park {where}")
            else:
                if code is not None:
                    claimed.add(code)
                firsts[phone] = number
                new.append((i, phone, alerts, code))
        codes = self._codes_for(uow, park, new, claimed)
        now = self._clock.now()
        partners = {
            i: Partner(
                park=park.slug,
                phone=phone,
                code=codes[i],
                name=clean_name(lines[i].name, limits.PERSON_NAME),
                alerts=alerts,
                created_at=now,
            )
            for i, phone, alerts, _ in new
            if i in codes
        }
        for i, phone, _, code in new:
            if i not in codes:  # a requested code taken by another writer meanwhile
                firsts.pop(phone, None)
                results[i] = (LineResult.REFUSED, f"the code {code} is taken")
        added = uow.partners.add_many(list(partners.values()))
        for i, partner in partners.items():
            if partner.phone in added:
                results[i] = (LineResult.ADDED, None)
            else:  # added by another writer meanwhile: theirs stays, our code goes
                uow.codes.release(partner.code)
                results[i] = (LineResult.EXISTING, None)
        return results, firsts

    def _codes_for(
        self,
        uow: UnitOfWork,
        park: Park,
        new: list[tuple[int, str, Alerts, str | None]],
        requested: set[str],
    ) -> dict[int, str]:
        """A reserved code for each new partner (index -> code): the requested one, else a
        fresh one drawn in bulk; a requested code another writer took meanwhile is missing."""
        wanted = sum(1 for *_, code in new if code is None)
        fresh: set[str] = set()
        for _ in range(ATTEMPTS_PER_LENGTH):  # collisions are rare; the issuer takes the rest
            if len(fresh) >= wanted:
                break
            draw = {generate_code(MIN_LENGTH) for _ in range(wanted - len(fresh))}
            draw -= fresh | requested
            fresh |= draw - uow.codes.parks_of(draw).keys()
        reserved = uow.codes.reserve_many(fresh | requested, park.slug, OwnerKind.PARTNER)
        spare = iter(sorted(fresh & reserved))
        codes: dict[int, str] = {}
        for i, _, _, code in new:
            if code is not None:
                if code in reserved:
                    codes[i] = code
                continue
            codes[i] = next(spare, None) or self._issuer.issue(
                uow.codes, park.slug, OwnerKind.PARTNER
            )
        return codes

    async def partner_pages(self, park_slug: str | None = None) -> AsyncIterator[list[Partner]]:
        """Every partner (of one park or all), ``PAGE`` at a time by id: one short read
        each, so a listing of any size holds one page in memory."""
        if park_slug is not None:
            self.park(park_slug)
        after = 0
        while True:
            page = await self._db.read(
                lambda uow, after=after: uow.partners.page(park_slug, after, PAGE)
            )
            if page:
                yield page
            if len(page) < PAGE:
                return
            after = page[-1].id or after

    async def driver_pages(self, where: DriverFilter) -> AsyncIterator[list[Driver]]:
        """Registered drivers matching ``where``, oldest first, ``PAGE`` at a time."""
        if where.park is not None:
            self.park(where.park)
        after = 0
        while True:
            page = await self._db.read(
                lambda uow, after=after: uow.drivers.page(where, after, PAGE)
            )
            if page:
                yield page
            if len(page) < PAGE:
                return
            after = page[-1].id or after

    async def unfinished_pages(self, where: DriverFilter) -> AsyncIterator[list[Conversation]]:
        """Registrations started and not finished, matching ``where``, ``PAGE`` at a time."""
        if where.park is not None:
            self.park(where.park)
        after = 0
        while True:
            page = await self._db.read(
                lambda uow, after=after: uow.conversations.unfinished_page(where, after, PAGE)
            )
            people = [c for c in page if not c.user_id.startswith(SIGN_IN_PREFIX)]
            if people:
                yield people
            if len(page) < PAGE:
                return
            after = page[-1].id or after

    async def find_partner(self, raw: str, park_slug: str | None = None) -> Partner:
        """The partner with this phone (in ``park_slug``, else in the one park that has it)
        or this referral code. ``DomainError`` if there is none, or the phone is a partner in
        several parks and none was named."""
        parks = [self.park(park_slug)] if park_slug is not None else list(self.parks.values())
        phones = set()
        for park in parks:
            try:
                phones.add(normalize_phone(raw, park.phone_region))
            except InvalidPhone:
                continue
        code = normalize_code(raw)
        slugs = {p.slug for p in parks}

        def work(uow: UnitOfWork) -> list[Partner]:
            found = [p for phone in phones for p in uow.partners.by_phone(phone)]
            found = [p for p in found if p.park in slugs]
            if found or code is None:
                return found
            info = uow.codes.lookup(code)
            if info is None or info.owner_kind is not OwnerKind.PARTNER or info.park not in slugs:
                return []
            partner = uow.partners.get(info.owner_id)
            return [partner] if partner is not None else []

        found = await self._db.read(work)
        shown = mask_phone(next(iter(phones))) if phones else repr(raw[:40])
        if not found:
            where = f" in park {park_slug}" if park_slug else ""
            raise DomainError(f"no partner with the phone or code {shown}{where}")
        if len(found) > 1:
            names = ", ".join(sorted(p.park for p in found))
            raise DomainError(f"{shown} is a partner in parks {names}: name one with --park")
        return found[0]

    async def partner_referrals(
        self, partner: Partner, cursor: str | None = None, limit: int = 100
    ) -> ReferralPage:
        """The partner's referrals as the partner's cabinet shows them (the same core
        function): newest first, erased drivers marked and without name or phone."""
        # Imported here: the cabinet's module brings the registration flow and its texts,
        # which the operators' other commands do not need.
        from core.services.partner_cabinet import referral_page

        return await referral_page(self._db, partner, cursor, limit)

    async def list_partners(self, park_slug: str | None = None) -> list[Partner]:
        if park_slug is not None:
            self.park(park_slug)
        return await self._db.read(lambda uow: uow.partners.list(park_slug))

    async def driver_card(self, park_slug: str, raw_phone: str) -> DriverCard:
        park = self.park(park_slug)
        phone = self.phone(park, raw_phone)
        return await self._db.read(lambda uow: _card(uow, _driver(uow, park, phone)))

    async def set_entered_code(
        self, park_slug: str, raw_phone: str, raw_code: str | None, actor: str
    ) -> DriverCard:
        """Set, change (``raw_code``) or clear (None) the code entered at registration."""
        park = self.park(park_slug)
        phone = self.phone(park, raw_phone)

        def change(uow: UnitOfWork) -> DriverCard:
            driver = _driver(uow, park, phone)
            code = kind = owner = None
            if raw_code is not None:
                code = normalize_code(raw_code)
                if code is None:
                    raise CodeRefused(f"not a referral code: {raw_code[:40]!r}")
                info = uow.codes.lookup(code)
                reason = refusal(info, park.slug, driver.phone)
                if reason is not None or info is None:
                    raise CodeRefused(self._refusal_message(code, info, reason))
                kind, owner = info.owner_kind, info.owner_id
                # Bonuses climb the chain of codes; a loop would pay its members forever.
                # The drivers repository (not the ledger's) answers, so every store can.
                if would_cycle(driver.id, Beneficiary(kind, owner), _referrer_of(uow)):
                    raise CodeRefused(
                        f"referral code {code} would make the referral chain a cycle: "
                        "its owner was referred, directly or further down, by this driver"
                    )
            if code != driver.entered_code:
                uow.drivers.set_referral(driver.id, code, kind, owner)
                entry = AuditEntry(
                    driver.id, ENTERED_CODE, driver.entered_code, code, actor, self._clock.now()
                )
                uow.audit.add(entry)
            return _card(uow, _driver(uow, park, phone))

        return await self._db.run(change)

    def _refusal_message(self, code: str, info: CodeInfo | None, reason: Refusal | None) -> str:
        if reason is Refusal.OTHER_PARK and info is not None:
            other = self.parks.get(info.park)
            bot = f" (bot @{other.telegram_username})" if other and other.telegram_username else ""
            return f"referral code {code} belongs to park {info.park}{bot}"
        if reason is Refusal.INACTIVE:
            return f"referral code {code} is deactivated"
        if reason is Refusal.OWN:
            return f"referral code {code} is the driver's own"
        return f"no such referral code: {code}"

    async def forget_driver(self, park_slug: str, raw_phone: str, actor: str) -> Forgotten:
        """Erase the driver's personal data (``core.services.erasure``); audited, final."""
        park = self.park(park_slug)
        phone = self.phone(park, raw_phone)
        now = self._clock.now()
        return await self._db.run(lambda uow: forget(uow, _driver(uow, park, phone), actor, now))

    async def forget_driver_id(self, driver_id: int, actor: str) -> Forgotten:
        """The same by the driver's id (the admin API's card names it)."""
        now = self._clock.now()

        def work(uow: UnitOfWork) -> Forgotten:
            driver = uow.drivers.get(driver_id)
            if driver is None or driver.park not in self.parks:
                raise DriverIdNotFound(driver_id)
            return forget(uow, driver, actor, now)

        return await self._db.run(work)

    async def reissue_code(self, raw_code: str) -> Partner:
        """A partner's new code in place of ``raw_code``, which is deactivated: printed links
        with the old code stop working, drivers who used it keep it as history."""
        code = normalize_code(raw_code)

        def work(uow: UnitOfWork) -> Partner:
            info = uow.codes.lookup(code) if code else None
            if info is None or info.owner_kind is not OwnerKind.PARTNER:
                raise CodeRefused(f"no partner with the code {raw_code[:40]!r}")
            partner = uow.partners.get(info.owner_id)
            if partner is None or partner.id is None or partner.code != info.code:
                raise CodeRefused(f"{info.code} is not a partner's current code")
            fresh = self._issuer.issue(uow.codes, partner.park, OwnerKind.PARTNER)
            uow.partners.set_code(partner.id, fresh)
            uow.codes.set_active(info.code, False)
            return uow.partners.get(partner.id) or partner

        return await self._db.run(work)

    async def set_code_active(self, raw_code: str, active: bool) -> bool:
        code = normalize_code(raw_code)
        if code is None:
            return False
        return await self._db.run(lambda uow: uow.codes.set_active(code, active))


PARTNER_FILE_REQUIRED = ("phone",)
PARTNER_FILE_COLUMNS = "phone, and optionally name, code and alerts"


def partner_lines(data: bytes, refused: list[tuple[int, str]]) -> Iterator[PartnerLine]:
    """A partner file's lines (columns ``PARTNER_FILE_COLUMNS``); unreadable lines go to
    ``refused`` as (line, reason). ``CsvFileError`` if the file as a whole is unreadable."""
    for record in read_records(data, PARTNER_FILE_REQUIRED, header_hint=PARTNER_FILE_COLUMNS):
        if record.cells is None:
            refused.append((record.number, record.reason or "unreadable"))
            continue
        phone = record.get("phone")
        if not phone:
            refused.append((record.number, "phone is empty"))
            continue
        yield PartnerLine(
            line=record.number,
            phone=phone,
            name=record.get("name") or None,
            code=record.get("code") or None,
            alerts=record.get("alerts") or None,
        )


def moment(raw: str | None, zone: tzinfo, *, end: bool = False) -> datetime | None:
    """A listing's bound: a day (its start in ``zone``; with ``end`` the start of the next
    day) or an ISO date-time (``zone`` when it names none). ``DomainError`` otherwise."""
    if raw is None:
        return None
    text = raw.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime.combine(day + timedelta(days=1 if end else 0), time(), zone)
            return start.astimezone(UTC)
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        shown = repr(text[:40])
        raise DomainError(f"not a date (YYYY-MM-DD) or ISO date-time: {shown}") from None
    return (at if at.tzinfo else at.replace(tzinfo=zone)).astimezone(UTC)


@dataclass(frozen=True)
class LineRefusal:
    """Why a file line is refused."""

    reason: str


def _check_line(
    line: PartnerLine, park: Park
) -> LineRefusal | tuple[str, Alerts, str | LineRefusal | None]:
    """A file line's phone, alerts and requested code (or why that code is refused, which
    matters only if the phone is new), or the reason the whole line is refused."""
    try:
        phone = normalize_phone(line.phone, park.phone_region)
    except InvalidPhone:
        return LineRefusal(f"not a valid {park.phone_region} phone number")
    try:
        alerts = parse_alerts(line.alerts) or Alerts.INSTANT
    except ValueError:
        return LineRefusal("alerts must be instant or digest")
    requested = (line.code or "").strip()
    if not requested:
        return phone, alerts, None
    code = normalize_code(requested)
    if code is None or "/" in requested or "=" in requested:
        return phone, alerts, LineRefusal(f"not a referral code: {requested[:40]!r}")
    return phone, alerts, code


def _driver(uow: UnitOfWork, park: Park, phone: str) -> Driver:
    driver = uow.drivers.by_phone(park.slug, phone)
    if driver is None or driver.id is None:
        raise DriverNotFound(park.slug, mask_phone(phone))
    return driver


def _card(uow: UnitOfWork, driver: Driver) -> DriverCard:
    assert driver.id is not None
    referrer_name = referrer_phone = None
    if driver.referrer_kind is OwnerKind.PARTNER and driver.referrer_id is not None:
        partner = uow.partners.get(driver.referrer_id)
        if partner is not None:
            referrer_name, referrer_phone = partner.name, partner.phone
    elif driver.referrer_kind is OwnerKind.DRIVER and driver.referrer_id is not None:
        referrer = uow.drivers.get(driver.referrer_id)
        if referrer is not None:
            referrer_name, referrer_phone = referrer.name, referrer.phone
    identities = uow.drivers.identities(driver.id)
    audit = uow.audit.for_driver(driver.id)
    return DriverCard(driver, referrer_name, referrer_phone, tuple(identities), tuple(audit))


def _referrer_of(uow: UnitOfWork) -> ReferrerOf:
    def referrer_of(driver_id: int) -> Beneficiary | None:
        driver = uow.drivers.get(driver_id)
        if driver is None or driver.referrer_kind is None or driver.referrer_id is None:
            return None
        return Beneficiary(driver.referrer_kind, driver.referrer_id)

    return referrer_of
