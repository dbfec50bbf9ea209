"""One reminder for an unfinished registration (issue 13).

A driver who started registering in a park's Telegram bot and stopped (nothing confirmed, or
the phone confirmed but no code chosen) gets one polite reminder once the conversation has
been idle for ``after`` (``[registration] reminder_after_hours``), in their language, with a
button that continues where they stopped (``Action.CONTINUE``: the flow answers it with the
current step's question).

- **Daytime only.** A park is looked at only while its local time (its ``timezone``) is in
  ``[day_from, day_to)``; a reminder due at night waits for the morning.
- **Never twice.** The job marks the conversations reminded and queues their outbox rows in
  one transaction (``ReminderRepository.take_due``: one UPDATE ... RETURNING), so two
  ``taxireg run`` processes never both take one, and each row's key is unique as well.
- **Never after /stop, or after finishing.** Stopped and finished conversations are not
  taken; one that finishes or stops between the job and the send is dropped by the relay.
- **Per park.** ``[[parks]] reminders = false`` switches them off.
- **Telegram only.** Reminders go through the relay's ``Messenger``, which is the Telegram
  bots: VK conversations are not reminded (README says so).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.domain.delivery import REGISTRATION_REMINDER
from core.domain.model import Notification, OwnerKind, Park
from core.ports import Clock, Database, UnitOfWork

log = logging.getLogger("taxireg.reminders")


@dataclass(frozen=True)
class ReminderOptions:
    after: timedelta = timedelta(hours=24)
    day_from: time = time(10, 0)
    day_to: time = time(20, 0)
    disabled: frozenset[str] = frozenset()
    """Parks with ``reminders = false``."""
    batch_size: int = 200


def in_daytime(now: datetime, timezone: str, start: time, end: time) -> bool:
    """Whether ``now`` is inside ``[start, end)`` of the park's wall clock (an ``end``
    before ``start`` crosses midnight)."""
    wall = now.astimezone(ZoneInfo(timezone)).time().replace(tzinfo=None)
    if start == end:
        return True
    if start < end:
        return start <= wall < end
    return wall >= start or wall < end


def reminder_key(conversation_id: int) -> str:
    return f"{REGISTRATION_REMINDER}:{conversation_id}"


class ReminderService:
    def __init__(
        self,
        db: Database,
        parks: Mapping[str, Park],
        clock: Clock,
        options: ReminderOptions,
        sendable: Callable[[], Collection[str]],
    ) -> None:
        """``sendable``: the parks whose bots can send now (the relay's messenger)."""
        self._db = db
        self._parks = dict(parks)
        self._clock = clock
        self.options = options
        self._sendable = sendable

    def parks_now(self, now: datetime) -> list[str]:
        """The parks whose reminders may go out at ``now``."""
        options = self.options
        return [
            slug
            for slug in sorted(set(self._sendable()) & set(self._parks))
            if slug not in options.disabled
            and in_daytime(now, self._parks[slug].timezone, options.day_from, options.day_to)
        ]

    async def run(self, now: datetime | None = None) -> int:
        """Queue the reminders due now; returns how many."""
        at = now or self._clock.now()
        parks = self.parks_now(at)
        if not parks:
            return 0
        idle_since = at - self.options.after
        limit = self.options.batch_size

        def work(uow: UnitOfWork) -> int:
            due = uow.reminders.take_due(parks=parks, idle_since=idle_since, now=at, limit=limit)
            uow.outbox.add_many(
                [
                    Notification(
                        park=r.park,
                        recipient_kind=OwnerKind.CONVERSATION,
                        recipient_id=r.conversation_id,
                        kind=REGISTRATION_REMINDER,
                        payload={"step": r.step.value},
                        key=reminder_key(r.conversation_id),
                        not_before=at,
                    )
                    for r in due
                ]
            )
            return len(due)

        total = 0
        while True:
            taken = await self._db.run(work)
            total += taken
            if taken < limit:
                break
        if total:
            log.info("registration reminders queued", extra={"count": total, "parks": parks})
        return total
