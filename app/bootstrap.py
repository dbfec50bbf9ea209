"""The composition root: the one place that knows every part and wires them together.

Bot frameworks are not imported here: ``taxireg run`` imports them in ``app.runner`` only, so
admin commands start fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from app.clock import SystemClock
from app.settings import ParkSettings, Settings
from app.sms import HttpSms, LogSms
from core.domain.model import Park
from core.domain.registration import Limits
from core.ports import Clock, SmsSender
from core.services.admin import AdminService
from core.services.codes import CodeIssuer
from core.services.registration import RegistrationService
from core.texts import Catalog
from storage.engine import make_engine
from storage.uow import UnitOfWorkFactory, uow_factory


@dataclass
class Container:
    settings: Settings
    engine: AsyncEngine
    uow: UnitOfWorkFactory
    parks: dict[str, Park]
    catalog: Catalog
    clock: Clock
    sms: SmsSender
    registration: RegistrationService
    admin: AdminService
    extras: dict[str, object] = field(default_factory=dict)

    async def aclose(self) -> None:
        await self.uow.dispose()
        await self.engine.dispose()


def park_from_settings(park: ParkSettings) -> Park:
    return Park(
        slug=park.slug,
        name=park.name,
        landing_url=park.landing_url,
        telegram_username=park.telegram_username,
        vk_group_id=park.vk_group_id,
        vk_screen_name=park.vk_screen_name,
        phone_region=park.phone_region,
        timezone=park.timezone,
    )


def limits_from_settings(settings: Settings) -> Limits:
    r = settings.registration
    return Limits(
        otp_ttl=timedelta(seconds=r.otp_ttl_seconds),
        otp_max_attempts=r.otp_max_attempts,
        otp_resend=timedelta(seconds=r.otp_resend_seconds),
        otp_max_per_hour=r.otp_max_per_hour,
        code_max_failures=r.code_max_failures,
        code_failure_window=timedelta(seconds=r.code_failure_window_seconds),
        code_cooldown=timedelta(seconds=r.code_cooldown_seconds),
    )


def sms_from_settings(settings: Settings) -> SmsSender:
    if settings.sms.sender == "http" and settings.sms.url:
        return HttpSms(settings.sms.url, settings.sms.timeout)
    return LogSms()


async def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    sms: SmsSender | None = None,
    migrate_db: bool = True,
    sync_parks: bool = True,
) -> Container:
    """Open the database (migrating it and syncing the parks from config) and wire services."""
    if settings.database.url is None:
        settings.ensure_data_dir()
    engine = make_engine(settings.database_url, echo=settings.database.echo)
    parks = {p.slug: park_from_settings(p) for p in settings.parks}
    uow = uow_factory(engine)
    try:
        if migrate_db:
            from storage import migrate  # Alembic is heavy; `taxireg status` never needs it

            await migrate.upgrade(engine)
        if sync_parks and parks:
            async with uow() as work:
                await work.parks.sync(list(parks.values()))
                await work.commit()
    except BaseException:
        await uow.dispose()
        await engine.dispose()
        raise
    clock = clock or SystemClock()
    sms = sms or sms_from_settings(settings)
    catalog = Catalog()
    issuer = CodeIssuer()
    return Container(
        settings=settings,
        engine=engine,
        uow=uow,
        parks=parks,
        catalog=catalog,
        clock=clock,
        sms=sms,
        registration=RegistrationService(
            uow, parks, clock, sms, catalog, limits_from_settings(settings), issuer
        ),
        admin=AdminService(uow, parks, clock, issuer),
    )
