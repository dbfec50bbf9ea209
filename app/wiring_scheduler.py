"""Builds the notification part of ``taxireg run`` from the container: core's delivery,
digest and clean-up services on the container's database, clock and leases, sending
through a ``Messenger`` (the Telegram front end's bots), scheduled by APScheduler.

Only ``app`` knows the settings; the scheduler and core get option dataclasses.
"""

from __future__ import annotations

import os
import random
import secrets
import socket
from datetime import timedelta
from typing import TYPE_CHECKING

from core.ports import Messenger, Telemetry
from core.services.cleanup import CleanupService
from core.services.delivery import DeliveryOptions, DeliveryService
from core.services.digest import DigestService
from core.services.reminders import ReminderOptions, ReminderService

if TYPE_CHECKING:
    from app.bootstrap import Container
    from app.settings import NotificationSettings
    from scheduler.service import NotificationScheduler


def worker_name() -> str:
    """Who holds a claim: host and pid for operators, a random tail for uniqueness."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


def delivery_options(settings: NotificationSettings) -> DeliveryOptions:
    return DeliveryOptions(
        batch_size=settings.batch_size,
        lease_seconds=float(settings.lease_seconds),
        max_attempts=settings.max_attempts,
        per_bot_rate=settings.per_bot_rate,
        per_chat_interval_seconds=settings.per_chat_interval_seconds,
        backoff_base_seconds=settings.backoff_base_seconds,
        backoff_max_seconds=settings.backoff_max_seconds,
        unlinked_ttl_hours=settings.unlinked_ttl_hours,
    )


def build_delivery(
    container: Container,
    messenger: Messenger,
    *,
    worker: str | None = None,
    rng: random.Random | None = None,
    telemetry: Telemetry | None = None,
) -> DeliveryService:
    return DeliveryService(
        db=container.db,
        messenger=messenger,
        catalog=container.catalog,
        parks=container.parks,
        clock=container.clock,
        options=delivery_options(container.settings.notifications),
        worker=worker or worker_name(),
        leases=container.leases,
        rng=rng,
        telemetry=telemetry,
    )


def build_digests(container: Container) -> DigestService:
    return DigestService(container.db, container.parks, container.clock)


def build_cleanup(container: Container) -> CleanupService:
    days = container.settings.notifications.abandoned_registration_days
    return CleanupService(container.db, container.clock, timedelta(days=days))


def build_reminders(container: Container, messenger: Messenger) -> ReminderService:
    """One reminder per unfinished Telegram registration, through the relay's bots."""
    settings = container.settings
    start, end = settings.registration.reminder_day()
    options = ReminderOptions(
        after=timedelta(hours=settings.registration.reminder_after_hours),
        day_from=start,
        day_to=end,
        disabled=frozenset(p.slug for p in settings.parks if not p.reminders),
    )
    return ReminderService(
        container.db, container.parks, container.clock, options, lambda: messenger.parks
    )


def build_scheduler(
    container: Container,
    messenger: Messenger,
    *,
    worker: str | None = None,
    telemetry: Telemetry | None = None,
) -> NotificationScheduler:
    """The ``Part`` that ``taxireg run`` starts after the Telegram front end."""
    from scheduler.service import NotificationScheduler, SchedulerOptions

    settings = container.settings.notifications
    return NotificationScheduler(
        options=SchedulerOptions(
            deliver_interval_seconds=settings.deliver_interval_seconds,
            digest_time=settings.digest_clock,
        ),
        delivery=build_delivery(container, messenger, worker=worker, telemetry=telemetry),
        digests=build_digests(container),
        cleanup=build_cleanup(container),
        reminders=build_reminders(container, messenger),
        bonus_alerts=container.ledger.queue_alerts,
        parks=container.parks,
        clock=container.clock,
    )
