"""Erasure of a driver's personal data on request (152-FZ, art. 21): the "forget" use case.

What goes: the phone, the name, every chat id (the conversations), the SMS log of the
number in this park, and copies of the phone and name in queued alerts, webhooks and
audit rows. What stays: an anonymous driver row with its id, so the referrer's count, the
funnel and the bonus ledger (which refer to that id) still add up.

The erasure itself is audited with who asked and when, never with what was erased. It
cannot be undone: nothing erased is kept anywhere. The same number may register again and
starts fresh, as a new driver with a new code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.domain.errors import DomainError, DriverNotFound
from core.domain.model import AuditEntry, Driver
from core.ports import UnitOfWork

# The audit field of an erasure: the row says who and when; old and new stay empty.
FORGOTTEN = "forgotten"


class AlreadyForgotten(DomainError):
    def __init__(self, driver_id: int) -> None:
        super().__init__(f"driver {driver_id}'s personal data was already erased")
        self.driver_id = driver_id


class DriverIdNotFound(DriverNotFound):
    def __init__(self, driver_id: int) -> None:
        DomainError.__init__(self, f"no driver with id {driver_id}")


@dataclass(frozen=True)
class Forgotten:
    """What an operator is told: the anonymous record that stays, never what went."""

    driver_id: int
    park: str
    at: datetime


def forget(uow: UnitOfWork, driver: Driver, actor: str, now: datetime) -> Forgotten:
    """Erase ``driver``'s personal data inside the caller's transaction."""
    assert driver.id is not None
    if driver.forgotten_at is not None or not uow.drivers.forget(driver.id, now):
        raise AlreadyForgotten(driver.id)
    # The erased person's code recruits no one any more: new drivers typing or following
    # it would be referred by nobody the park can still name.
    uow.codes.set_active(driver.own_code, False)
    uow.audit.add(AuditEntry(driver.id, FORGOTTEN, None, None, actor, now))
    return Forgotten(driver.id, driver.park, now)
