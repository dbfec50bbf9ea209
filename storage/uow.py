"""The unit of work: the repositories of one transaction on one synchronous connection.

``storage.database`` opens the transaction and hands this to a use case's function; the
transaction commits when that function returns. Nothing here talks to the event loop.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from core.ports import Clock
from storage.repositories import (
    SqlAudit,
    SqlCodes,
    SqlConversations,
    SqlCursors,
    SqlDrivers,
    SqlParks,
    SqlPartners,
    SqlSecrets,
    SqlSmsLog,
)
from storage.statements import Executor

if TYPE_CHECKING:
    from storage.broadcasts import SqlBroadcasts
    from storage.cabinet import SqlCabinet
    from storage.digests import SqlDigests
    from storage.housekeeping import SqlHousekeeping
    from storage.ledger import SqlLedger
    from storage.outbox import SqlOutbox
    from storage.reminders import SqlReminders
    from storage.visits import SqlVisits
    from storage.webhooks import SqlWebhooks


class SqlUnitOfWork:
    def __init__(self, conn: Connection, clock: Clock) -> None:
        self.connection = conn
        run = Executor(conn)  # the hot statements' path, one per unit of work
        self.parks = SqlParks(conn, clock, run)
        self.codes = SqlCodes(conn, clock, run)
        self.partners = SqlPartners(conn, clock, run)
        self.drivers = SqlDrivers(conn, clock, run)
        self.conversations = SqlConversations(conn, clock, run)
        self.audit = SqlAudit(conn, clock, run)
        self.cursors = SqlCursors(conn, clock, run)
        self.sms = SqlSmsLog(conn, clock, run)
        self.secrets = SqlSecrets(conn, clock, run)
        self._clock = clock

    # The other repositories are made, and their modules imported, on first use: an
    # operator's command that lists partners loads neither the outbox nor the ledger.

    @cached_property
    def outbox(self) -> SqlOutbox:
        from storage.outbox import SqlOutbox

        return SqlOutbox(self.connection, self._clock)

    @cached_property
    def ledger(self) -> SqlLedger:
        from storage.ledger import SqlLedger

        return SqlLedger(self.connection)

    @cached_property
    def digests(self) -> SqlDigests:
        from storage.digests import SqlDigests

        return SqlDigests(self.connection)

    @cached_property
    def housekeeping(self) -> SqlHousekeeping:
        from storage.housekeeping import SqlHousekeeping

        return SqlHousekeeping(self.connection)

    @cached_property
    def visits(self) -> SqlVisits:
        from storage.visits import SqlVisits

        return SqlVisits(self.connection)

    @cached_property
    def cabinet(self) -> SqlCabinet:
        from storage.cabinet import SqlCabinet

        return SqlCabinet(self.connection)

    @cached_property
    def webhooks(self) -> SqlWebhooks:
        from storage.webhooks import SqlWebhooks

        return SqlWebhooks(self.connection)

    @cached_property
    def broadcasts(self) -> SqlBroadcasts:
        from storage.broadcasts import SqlBroadcasts

        return SqlBroadcasts(self.connection)

    @cached_property
    def reminders(self) -> SqlReminders:
        from storage.reminders import SqlReminders

        return SqlReminders(self.connection)
