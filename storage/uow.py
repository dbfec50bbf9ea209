"""The unit of work: the repositories of one transaction on one synchronous connection.

``storage.database`` opens the transaction and hands this to a use case's function; the
transaction commits when that function returns. Nothing here talks to the event loop.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from core.ports import Clock
from storage.broadcasts import SqlBroadcasts
from storage.cabinet import SqlCabinet
from storage.digests import SqlDigests
from storage.housekeeping import SqlHousekeeping
from storage.ledger import SqlLedger
from storage.outbox import SqlOutbox
from storage.reminders import SqlReminders
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
        self.outbox = SqlOutbox(conn, clock)
        self.ledger = SqlLedger(conn)
        self.digests = SqlDigests(conn)
        self.housekeeping = SqlHousekeeping(conn)
        self.visits = SqlVisits(conn)
        self.cabinet = SqlCabinet(conn)
        self.webhooks = SqlWebhooks(conn)
        self.broadcasts = SqlBroadcasts(conn)
        self.reminders = SqlReminders(conn)
