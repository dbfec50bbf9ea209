"""The composition root: the one place that knows every part and wires them together.

Bot frameworks are not imported here: ``taxireg run`` imports them in ``app.runner`` only, so
admin commands start fast.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from app.clock import SystemClock
from app.database import open_database
from app.settings import Settings
from app.sms import HttpSms, LogSms
from core.domain.model import Park
from core.domain.registration import Limits
from core.domain.sms_limits import Quota
from core.ports import Clock, LeaseFactory, SmsSender
from core.services.admin import AdminService
from core.services.broadcast import BroadcastOptions, BroadcastService
from core.services.codes import CodeIssuer
from core.services.ledger import LedgerService
from core.services.registration import RegistrationService
from core.texts import Catalog
from storage.database import SqlDatabase
from storage.leases import lease_factory

# The name under which a generated one-time-code key is kept in the database.
OTP_SECRET = "otp_hmac"


@dataclass
class Container:
    settings: Settings
    db: SqlDatabase
    parks: dict[str, Park]
    catalog: Catalog
    clock: Clock
    sms: SmsSender
    leases: LeaseFactory
    registration: RegistrationService
    admin: AdminService
    ledger: LedgerService
    extras: dict[str, object] = field(default_factory=dict)

    @property
    def broadcasts(self) -> BroadcastService:
        """Broadcasts for the CLI and the admin API (built on first use)."""
        service = self.extras.get("broadcasts")
        if not isinstance(service, BroadcastService):
            rate = self.settings.notifications.per_bot_rate
            service = BroadcastService(
                self.db, self.parks, self.clock, BroadcastOptions(per_bot_rate=rate)
            )
            self.extras["broadcasts"] = service
        return service

    async def aclose(self) -> None:
        await self.db.dispose()


def limits_from_settings(settings: Settings, otp_secret: bytes | None) -> Limits:
    r = settings.registration
    return Limits(
        otp_ttl=timedelta(seconds=r.otp_ttl_seconds),
        otp_max_attempts=r.otp_max_attempts,
        otp_resend=timedelta(seconds=r.otp_resend_seconds),
        otp_max_per_hour=r.otp_max_per_hour,
        code_max_failures=r.code_max_failures,
        code_failure_window=timedelta(seconds=r.code_failure_window_seconds),
        code_cooldown=timedelta(seconds=r.code_cooldown_seconds),
        sms_per_phone=(
            Quota(r.sms_per_phone_10min, timedelta(minutes=10)),
            Quota(r.sms_per_phone_day, timedelta(days=1)),
        ),
        otp_secret=otp_secret,
    )


def sms_from_settings(settings: Settings) -> SmsSender:
    if settings.sms.sender == "http" and settings.sms.url:
        return HttpSms(settings.sms.url, settings.sms.timeout)
    return LogSms()


async def otp_secret(settings: Settings, db: SqlDatabase) -> bytes:
    """The configured key, or one generated on first run and kept in the database so that
    every process agrees (and the database alone still does not reveal the codes' key if
    the operator configures one)."""
    if settings.sms.code_secret is not None:
        return settings.sms.code_secret.get_secret_value().encode()
    candidate = secrets.token_hex(32)
    stored = await db.run(lambda uow: uow.secrets.get_or_create(OTP_SECRET, candidate))
    return stored.encode()


async def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    sms: SmsSender | None = None,
    migrate_db: bool = True,
    sync_parks: bool = True,
) -> Container:
    """Open the database (migrating it and syncing the parks from config) and wire services."""
    clock = clock or SystemClock()
    db, parks = await open_database(settings, clock, migrate_db=migrate_db, sync_parks=sync_parks)
    try:
        secret = await otp_secret(settings, db)
    except BaseException:
        await db.dispose()
        raise
    sms = sms or sms_from_settings(settings)
    catalog = Catalog()
    issuer = CodeIssuer()
    container = Container(
        settings=settings,
        db=db,
        parks=parks,
        catalog=catalog,
        clock=clock,
        sms=sms,
        leases=lease_factory(db),
        registration=RegistrationService(
            db, parks, clock, sms, catalog, limits_from_settings(settings, secret), issuer
        ),
        admin=AdminService(db, parks, clock, issuer),
        ledger=LedgerService(
            db,
            {p.slug: p.bonus_program() for p in settings.parks},
            clock,
            phone_regions={p.slug: p.phone_region for p in settings.parks},
            webhook_parks={p.slug for p in settings.parks if p.webhook_url and p.webhook_secret},
        ),
    )
    # The bots' payout requests use the ledger's programs (the same mapping, not a copy).
    container.registration.bonus_programs = container.ledger.programs
    return container
