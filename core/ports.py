"""What core needs from the outside world, one port per side effect.

The database is reached through one port, ``Database.run``: a use case hands it a plain
synchronous function of a ``UnitOfWork``; the store runs that function as one transaction in
the database's own context (SQLite: its own thread; PostgreSQL: SQLAlchemy's greenlet bridge
over asyncpg) and commits when it returns. One update is one thread hop, and the repositories
below are synchronous because they only ever run inside that function.

Everything that is not a transaction has a port of its own: the clock, the SMS gateway,
leases (who polls a bot, who sends its alerts) and sending a message to a chat.
``storage`` implements the database ports; the front ends implement ``Messenger``; the
composition root (``app``) wires them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:  # annotations only: a port names these types, importing them costs a
    # command that uses one repository the whole domain's dataclasses
    from core.domain.bonus import Accrual, Beneficiary, Order, PostedAccrual
    from core.domain.bonus_alerts import DueAlert
    from core.domain.bonus_payouts import Balance, Payout, PayoutStatus
    from core.domain.bonus_records import DriverChain, ReferralFacts, StoredOrder
    from core.domain.broadcast import Audience, Audit, Broadcast, Selection
    from core.domain.cabinet import PartnerSession, ReferralRow, Started
    from core.domain.delivery import (
        OutboxRow,
        Outcome,
        ReferralCount,
        SendResult,
        Status,
        Targets,
    )
    from core.domain.landing import VisitCount
    from core.domain.model import (
        Alerts,
        AuditEntry,
        Channel,
        CodeInfo,
        Driver,
        Identity,
        Notification,
        OwnerKind,
        Park,
        Partner,
        PhoneOwner,
    )
    from core.domain.operators import DriverFilter
    from core.domain.registration import Conversation, DueReminder
    from core.domain.telemetry import DeliveryOutcome, UpdateOutcome
    from core.domain.webhooks import WebhookEvent, WebhookRow, WebhookStatus

T = TypeVar("T")


class StaleState(Exception):
    """The conversation changed since it was read (another update or process won)."""


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SmsError(Exception):
    """The SMS gateway did not accept the message."""


class SmsSender(Protocol):
    async def send(self, phone: str, text: str) -> None:
        """Send ``text`` to ``phone`` (E.164) or raise ``SmsError``."""
        ...


# -- repositories: synchronous, used only inside ``Database.run`` ----------------------------


class ParkRepository(Protocol):
    def sync(self, parks: Sequence[Park]) -> None:
        """Store the configured parks; rows that already match are left untouched."""
        ...

    def list(self) -> list[Park]: ...


class CodeRepository(Protocol):
    def lookup(self, code: str) -> CodeInfo | None:
        """The code with its owner's id and phone, or None if no such code exists."""
        ...

    def owners_of_phone(self, park: str, phone: str) -> list[PhoneOwner]:
        """In one query: this park's driver with the phone, and partners with it in any park."""
        ...

    def reserve(self, code: str, park: str, kind: OwnerKind) -> bool:
        """Claim a fresh code; False if it is taken (the database decides, not a read)."""
        ...

    def release(self, code: str) -> None: ...
    def set_active(self, code: str, active: bool) -> bool: ...
    def parks_of(self, codes: Collection[str]) -> dict[str, str]:
        """The park of each of these codes that is stored (any owner, reserved or not), in
        one read: a bulk import checks a whole batch at once."""
        ...

    def reserve_many(self, codes: Collection[str], park: str, kind: OwnerKind) -> set[str]:
        """Claim these codes in one statement; the answer leaves out any taken meanwhile."""
        ...


class PartnerRepository(Protocol):
    def add(self, partner: Partner) -> Partner | None:
        """Insert; None if this park already has a partner with that phone."""
        ...

    def by_phone(self, phone: str) -> list[Partner]:
        """Partners with this phone in every park (at most one per park)."""
        ...

    def get(self, partner_id: int) -> Partner | None: ...
    def list(self, park: str | None = None) -> list[Partner]: ...
    def link_telegram(self, partner_id: int, chat_id: int) -> None:
        """Remember the chat for alerts; also clears the unreachable flag."""
        ...

    def update_settings(
        self, partner_id: int, *, alerts: Alerts, quiet_from: str | None, quiet_to: str | None
    ) -> None: ...
    def set_code(self, partner_id: int, code: str) -> None:
        """Give the partner a new (reserved) code; the old one stays as history."""
        ...

    def page(self, park: str | None, after_id: int, limit: int) -> list[Partner]:
        """Up to ``limit`` partners with ids above ``after_id``, by id (keyset paging)."""
        ...

    def phones_in(self, park: str, phones: Collection[str]) -> set[str]:
        """Which of these phones the park's partners already have, in one read."""
        ...

    def add_many(self, partners: Sequence[Partner]) -> set[str]:
        """Insert in one statement (codes reserved); the phones added, leaving out those the
        park already had."""
        ...


class DriverRepository(Protocol):
    def add(self, driver: Driver) -> Driver | None:
        """Insert; None if this park already has a driver with that phone."""
        ...

    def by_phone(self, park: str, phone: str) -> Driver | None: ...
    def get(self, driver_id: int) -> Driver | None: ...
    def set_referral(
        self, driver_id: int, code: str | None, kind: OwnerKind | None, owner_id: int | None
    ) -> None: ...
    def identities(self, driver_id: int) -> list[Identity]: ...
    def set_mailing(
        self, driver_id: int, at: datetime | None, channel: Channel | None, url: str | None
    ) -> None:
        """Record the mailing opt-in (``at`` set) or its withdrawal (all None)."""
        ...

    def forget(self, driver_id: int, at: datetime) -> bool:
        """Erase the driver's personal data everywhere it is stored (phone, name, chat ids,
        conversations, SMS log, alert and webhook payloads), keeping an anonymous row so
        referral counts and ledger rows still add up. False if there is no such driver or it
        was already forgotten."""
        ...

    def page(self, where: DriverFilter, after_id: int, limit: int) -> list[Driver]:
        """Up to ``limit`` drivers matching ``where`` with ids above ``after_id``, by id."""
        ...


class ConversationRepository(Protocol):
    def get(self, park: str, channel: Channel, user_id: str) -> Conversation | None: ...

    def save(self, conversation: Conversation) -> None:
        """Insert a new one or update it if its version is unchanged, bumping the version.

        Raises ``StaleState`` when someone else saved it first.
        """
        ...

    def unfinished_page(
        self, where: DriverFilter, after_id: int, limit: int
    ) -> list[Conversation]:
        """Up to ``limit`` registrations started and not finished (no driver yet) matching
        ``where``, with ids above ``after_id``, by id."""
        ...


class OutboxRepository(Protocol):
    """The alert queue. A claim is a lease on rows: they stay pending, marked with the
    worker and an expiry, so rows of a worker that died are claimed again after it."""

    def add(self, notification: Notification) -> None:
        """Queue a notification; a repeated ``key`` is ignored (idempotent)."""
        ...

    def add_many(self, notifications: Sequence[Notification]) -> None:
        """``add`` for many, as one statement."""
        ...

    def claim(
        self,
        *,
        now: datetime,
        worker: str,
        lease: timedelta,
        limit: int,
        parks: Collection[str] | None = None,
    ) -> list[OutboxRow]:
        """Lease up to ``limit`` due rows, each the oldest pending row of its recipient,
        oldest due first; concurrent claimers never get the same row."""
        ...

    def targets(self, rows: Sequence[OutboxRow]) -> Targets:
        """The partners and drivers the rows are addressed to (chat, settings)."""
        ...

    def record(self, outcomes: Sequence[Outcome], worker: str) -> None:
        """Apply outcomes. ``Sent`` sticks whoever holds the claim; the others only apply
        while ``worker`` still holds the row."""
        ...

    def release(self, worker: str) -> int:
        """Hand back every row ``worker`` still holds; returns how many."""
        ...

    def reactivate(self, now: datetime, stale_after: timedelta) -> list[tuple[OwnerKind, int]]:
        """Wake held rows of recipients who can be reached again; returns those recipients.
        Blocked rows older than ``stale_after`` expire instead."""
        ...

    def get(self, row_id: int) -> OutboxRow | None: ...

    def list(
        self,
        *,
        status: Status | None = None,
        park: str | None = None,
        partner_ids: Collection[int] | None = None,
        limit: int = 100,
    ) -> list[OutboxRow]:
        """Newest first."""
        ...

    def counts(self) -> dict[Status, int]: ...

    def requeue(self, row_id: int, now: datetime) -> OutboxRow | None:
        """Operator retry: pending, due ``now``, attempts reset; None if absent or sent."""
        ...


class BroadcastRepository(Protocol):
    """Broadcasts (``core.domain.broadcast``) and the outbox rows that carry them."""

    def create(
        self,
        *,
        park: str,
        audience: Audience,
        filter: str,
        text: str,
        key: str,
        actor: str,
        now: datetime,
    ) -> tuple[Broadcast, bool]:
        """Insert a queueing broadcast; if one with ``key`` exists, that one and False."""
        ...

    def get(self, broadcast_id: int) -> Broadcast | None: ...
    def by_key(self, key: str) -> Broadcast | None: ...
    def list(self, park: str | None = None, limit: int = 50) -> list[Broadcast]:
        """Newest first."""
        ...

    def audit(self, selection: Selection) -> Audit:
        """How many of the audience have a reachable Telegram chat, and how many not."""
        ...

    def queue_batch(
        self, broadcast_id: int, selection: Selection, limit: int, spacing: timedelta
    ) -> int | None:
        """Write the next ``limit`` recipients' outbox rows (one INSERT of many rows), due
        ``spacing`` apart from the broadcast's creation; returns how many recipients were
        read (0: all are queued, and the broadcast is marked queued), or None if it is not
        queueing any more (cancelled). Holds the broadcast's row so a cancel waits."""
        ...

    def counts(self, broadcast_id: int) -> dict[Status, int]: ...
    def cancel(self, broadcast_id: int, now: datetime) -> int | None:
        """Mark it cancelled and its unclaimed pending rows cancelled; how many rows, or None
        if there is no such broadcast. Rows a relay has claimed already still go out."""
        ...


class ReminderRepository(Protocol):
    """Unfinished registrations due for their one reminder."""

    def take_due(
        self, *, parks: Collection[str], idle_since: datetime, now: datetime, limit: int
    ) -> list[DueReminder]:
        """Mark up to ``limit`` unfinished Telegram registrations of ``parks``, untouched
        since ``idle_since``, never reminded and not stopped, as reminded at ``now``, and
        return them: one UPDATE ... RETURNING (PostgreSQL: rows locked elsewhere skipped),
        so two processes never take the same conversation."""
        ...


class DigestRepository(Protocol):
    def referrals(self, park: str, day_start: datetime, day_end: datetime) -> list[ReferralCount]:
        """Registrations through each partner's code of ``park`` before ``day_end``, by
        channel and source, with those from ``day_start`` on counted as today's."""
        ...


class HousekeepingRepository(Protocol):
    def clear_expired_otps(self, now: datetime) -> int:
        """Forget one-time codes that expired before ``now``; returns how many."""
        ...

    def delete_abandoned(self, before: datetime) -> int:
        """Delete unfinished registrations untouched since ``before``; returns how many."""
        ...


class AuditRepository(Protocol):
    def add(self, entry: AuditEntry) -> None: ...
    def for_driver(self, driver_id: int) -> list[AuditEntry]: ...


class CursorRepository(Protocol):
    """Small named positions that must survive a restart (a VK long-poll ``ts``)."""

    def get(self, name: str) -> str | None: ...
    def set(self, name: str, value: str) -> None: ...


class VisitRepository(Protocol):
    """Landing page visits per code, source and day; no visitor is identified or stored."""

    def add(self, park: str, code: str, source: str, day: date) -> None:
        """Count one visit (one upsert statement, safe under concurrent visits)."""
        ...

    def counts(
        self,
        *,
        park: str | None = None,
        code: str | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> list[VisitCount]:
        """Counts per (code, source, day), days from ``since`` to ``until`` inclusive."""
        ...


class CabinetRepository(Protocol):
    """The partner cabinet: sessions (tokens kept as digests), a partner's referrals, and
    the funnel's unfinished registrations."""

    def add_session(
        self, token_hash: str, partner_id: int, created: datetime, expires: datetime
    ) -> None: ...
    def session(self, token_hash: str) -> PartnerSession | None: ...
    def revoke(self, token_hash: str, at: datetime) -> bool: ...
    def referrals(
        self,
        partner_ids: Collection[int],
        *,
        limit: int | None = None,
        before_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[ReferralRow]:
        """Drivers these partners referred (by any of their codes, old ones included),
        newest first; ``before_id`` pages on."""
        ...

    def started(self, codes: Collection[str], since: datetime, until: datetime) -> list[Started]:
        """Unfinished registrations that arrived with these codes, created in the period."""
        ...


class WebhookRepository(Protocol):
    """The outgoing webhooks' own outbox (``core.domain.webhooks``)."""

    def add(self, event: WebhookEvent, now: datetime) -> None: ...
    def claim(self, now: datetime, limit: int) -> list[WebhookRow]:
        """Due pending rows, oldest first; on PostgreSQL locked so no other relay takes them
        until this transaction ends."""
        ...

    def sent(self, row_id: int, now: datetime) -> None: ...
    def failed(self, row_id: int, error: str, next_at: datetime, give_up: bool) -> None: ...
    def list(self, status: WebhookStatus | None = None, limit: int = 100) -> list[WebhookRow]: ...
    def requeue(self, row_id: int, now: datetime) -> bool:
        """Operator retry of a failed or pending row: due now, attempts reset."""
        ...


class SmsLog(Protocol):
    """Codes sent per phone number, across chats, channels and parks (abuse limits)."""

    def sent_since(self, phone: str, since: datetime) -> list[datetime]: ...
    def record(self, phone: str, park: str, channel: Channel, at: datetime) -> None: ...
    def forget_before(self, before: datetime) -> int: ...


class SecretRepository(Protocol):
    def get_or_create(self, name: str, candidate: str) -> str:
        """The stored secret ``name``; ``candidate`` is stored first if there is none, so
        every process on the database ends up with the same value."""
        ...


class LedgerRepository(Protocol):
    """Orders, the append-only bonus ledger, balances and payout requests.

    ``post`` keeps the balances summary in step with the ledger in the same transaction;
    ``reserve`` holds money for a payout with one conditional UPDATE, so two concurrent
    requests can never take the same kopecks.
    """

    def referral_facts(self, park: str, driver_ids: Collection[int]) -> dict[int, ReferralFacts]:
        """Registration time and referrer of each of these drivers that exists in the park."""
        ...

    def chains(self, park: str, driver_ids: Collection[int], depth: int) -> dict[int, DriverChain]:
        """Each of these drivers that exists in the park, with the ``depth`` beneficiaries
        above them (``chain_above``'s rules), read at once."""
        ...

    def drivers_by_phone(self, park: str, phones: Collection[str]) -> dict[str, int]: ...
    def orders(self, park: str, external_ids: Collection[str]) -> dict[str, StoredOrder]: ...
    def completed_counts(self, driver_ids: Collection[int]) -> dict[int, int]:
        """Completed (not cancelled) orders stored per driver."""
        ...

    def lock_drivers(self, driver_ids: Collection[int]) -> None:
        """Hold these drivers until commit: imports of their orders then run one after the
        other, so the counts and month sums an import reads stay true until it writes."""
        ...

    def month_sums(
        self, keys: Collection[tuple[int, str]]
    ) -> dict[tuple[Beneficiary, int, str], int]:
        """Net ledger sums per (beneficiary, referred driver, month) for these
        (referred driver, month) pairs."""
        ...

    def add_orders(self, orders: Sequence[Order], now: datetime) -> dict[str, int]:
        """Insert new orders; their ids by external id."""
        ...

    def post(self, park: str, rows: Sequence[tuple[int, Accrual]], now: datetime) -> None:
        """Append (order id, accrual) rows and add them to the beneficiaries' balances."""
        ...

    def posted(self, order_ids: Collection[int]) -> tuple[list[PostedAccrual], frozenset[int]]:
        """These orders' ledger rows, and the ids among them already reversed."""
        ...

    def cancel_orders(self, order_ids: Collection[int], now: datetime) -> None: ...
    def balance(self, owner: Beneficiary) -> Balance: ...
    def entries(
        self, owner: Beneficiary, *, limit: int, before_id: int | None = None
    ) -> list[PostedAccrual]:
        """Newest first; ``before_id`` pages on."""
        ...

    def reserve(self, park: str, owner: Beneficiary, amount: int, now: datetime) -> Payout | None:
        """A pending payout if ``amount`` is available, else None (nothing changed)."""
        ...

    def payout(self, payout_id: int) -> Payout | None: ...
    def move_payout(
        self,
        payout_id: int,
        current: PayoutStatus,
        target: PayoutStatus,
        now: datetime,
        note: str | None = None,
    ) -> bool:
        """Move it if it is still in ``current`` (False if someone moved it first), keeping
        the balance's reserved and paid sums in step."""
        ...

    def payouts(
        self,
        *,
        park: str | None = None,
        owner: Beneficiary | None = None,
        status: PayoutStatus | None = None,
    ) -> list[Payout]: ...

    def month_total(self, owner: Beneficiary, month: str) -> int:
        """Net accruals of ``owner`` in one month (``YYYY-MM``)."""
        ...

    def referral_count(self, owner: Beneficiary) -> int:
        """Drivers who registered with this owner's code."""
        ...

    def month_entries(self, park: str, month: str) -> list[tuple[PostedAccrual, datetime]]:
        """A park's ledger rows of one month, oldest first, with each order's completion time."""
        ...

    def take_alerts(
        self, park: str, due_before: datetime, now: datetime, limit: int
    ) -> list[DueAlert]:
        """Up to ``limit`` beneficiaries of the park with a positive pending accrual sum and
        no alert since ``due_before``; their sums are cleared and ``now`` recorded as their
        last alert, in the caller's transaction (``post`` adds to the sums)."""
        ...


class UnitOfWork(Protocol):
    """One transaction, open for the duration of one ``Database.run`` call."""

    parks: ParkRepository
    codes: CodeRepository
    partners: PartnerRepository
    drivers: DriverRepository
    conversations: ConversationRepository
    outbox: OutboxRepository
    audit: AuditRepository
    cursors: CursorRepository
    sms: SmsLog
    secrets: SecretRepository
    ledger: LedgerRepository
    digests: DigestRepository
    housekeeping: HousekeepingRepository
    visits: VisitRepository
    cabinet: CabinetRepository
    webhooks: WebhookRepository
    broadcasts: BroadcastRepository
    reminders: ReminderRepository


class Database(Protocol):
    async def run(self, work: Callable[[UnitOfWork], T]) -> T:
        """Run ``work`` as one transaction and return its result.

        The transaction commits when ``work`` returns and rolls back when it raises; the
        exception is re-raised. ``work`` must not await anything: it runs in the database's
        own context, so it does no I/O other than through the unit of work.
        """
        ...

    async def read(self, work: Callable[[UnitOfWork], T]) -> T:
        """Like ``run`` for work that only reads (it may not hold a write lock)."""
        ...

    async def ping(self) -> None:
        """Raise if the database cannot be reached."""
        ...


# -- leases: who does work that only one process may do -------------------------------------


class Lease(Protocol):
    name: str

    async def acquire(self) -> bool:
        """Try once, without waiting; True if this process now holds the lease."""
        ...

    async def alive(self) -> bool:
        """Whether the lease is still ours (the process holding it may have lost it)."""
        ...

    async def release(self) -> None: ...


LeaseFactory = Callable[[str], Lease]


# -- sending a message to a chat (partner alerts) ---------------------------------------------


class Messenger(Protocol):
    """Sends one text to one chat of one park's bot; implemented by a front end."""

    @property
    def parks(self) -> Collection[str]:
        """The parks it can send for."""
        ...

    def send(
        self, park: str, chat_id: int, text: str, *, buttons: Sequence[str] = ()
    ) -> Awaitable[SendResult]:
        """Send; every answer, error or timeout is reported as a send result, never raised.

        ``buttons``: quick replies under the message (a keyboard whose press sends its
        label, which the registration flow reads as an action); only reminders pass any,
        so a messenger for alerts alone may leave them out of its signature.
        """
        ...


# -- telemetry (counters for operators) ---------------------------------------------------


class Telemetry(Protocol):
    """Counts what the running parts do; implemented by the web front end's ``/metrics``.

    Calls never raise and never block; a process without metrics uses ``NoTelemetry``.
    """

    def update_handled(self, park: str, channel: Channel, outcome: UpdateOutcome) -> None: ...
    def registered(self, park: str, channel: Channel) -> None: ...
    def alert(self, park: str, outcome: DeliveryOutcome) -> None: ...
    def webhook(self, park: str, outcome: DeliveryOutcome) -> None: ...
    def set_outbox_backlog(self, count: int) -> None: ...


class NoTelemetry:
    """Counts nothing: the default of every service."""

    def update_handled(self, park: str, channel: Channel, outcome: UpdateOutcome) -> None:
        pass

    def registered(self, park: str, channel: Channel) -> None:
        pass

    def alert(self, park: str, outcome: DeliveryOutcome) -> None:
        pass

    def webhook(self, park: str, outcome: DeliveryOutcome) -> None:
        pass

    def set_outbox_backlog(self, count: int) -> None:
        pass
