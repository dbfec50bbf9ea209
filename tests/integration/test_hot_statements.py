"""The hot statements' direct path (storage.statements.Executor) stores and reads values
exactly as SQLAlchemy does: on SQLite it bypasses SQLAlchemy's execution, so a date stored
in another text form, or a boolean or JSON value read back raw, would break every query
that SQLAlchemy runs on the same rows (comparisons of dates are comparisons of text)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.bootstrap import Container
from core.domain.model import Alerts, Channel, Notification, OwnerKind
from core.domain.registration import Conversation, Step
from storage import tables as t
from storage.statements import Executor
from storage.uow import SqlUnitOfWork

# No microseconds: Python's own datetime text drops ".000000", SQLAlchemy's keeps it.
WHOLE_SECOND = datetime(2025, 3, 1, 12, 30, 0, tzinfo=UTC)


async def test_conversation_round_trips_as_through_sqlalchemy(container: Container) -> None:
    def write(uow: SqlUnitOfWork) -> None:
        conv = Conversation(park="mos", channel=Channel.TELEGRAM, user_id="42")
        conv.step, conv.phone, conv.otp_expires_at = Step.OTP, "+79160000001", WHOLE_SECOND
        conv.created_at = WHOLE_SECOND
        uow.conversations.save(conv)  # INSERT through the executor
        conv.otp_attempts, conv.cooldown_until = 2, WHOLE_SECOND
        uow.conversations.save(conv)  # versioned UPDATE through the executor

    await container.db.run(write)  # type: ignore[arg-type]

    def read(uow: SqlUnitOfWork) -> tuple[object, object, int]:
        c = t.conversations.c
        # SQLAlchemy's own comparison with a date finds the row: the text forms agree.
        found = uow.connection.execute(
            select(t.conversations).where(c.otp_expires_at == WHOLE_SECOND)
        ).one()
        fast = uow.conversations.get("mos", Channel.TELEGRAM, "42")
        return found, fast, found.version

    found, fast, version = await container.db.read(read)  # type: ignore[arg-type]
    assert version == 2
    assert fast is not None
    assert fast.otp_expires_at == WHOLE_SECOND == found.otp_expires_at  # type: ignore[attr-defined]
    assert fast.otp_expires_at.tzinfo is not None
    assert fast.cooldown_until == WHOLE_SECOND
    assert (fast.step, fast.otp_attempts, fast.version) == (Step.OTP, 2, 2)


async def test_code_lookup_reads_booleans_and_outbox_writes_json(container: Container) -> None:
    partner = await container.admin.add_partner("mos", "+79160000002", "Иван")
    note = Notification(
        park="mos",
        recipient_kind=OwnerKind.PARTNER,
        recipient_id=partner.id or 0,
        kind="bench",
        payload={"name": "Пётр", "n": 1},
        key="hot-statements:1",
        not_before=WHOLE_SECOND,
    )

    def work(uow: SqlUnitOfWork) -> tuple[object, object, object]:
        uow.outbox.add(note)
        uow.outbox.add(note)  # the same key again: nothing
        rows = uow.connection.execute(
            select(t.outbox.c.payload, t.outbox.c.next_attempt_at).where(
                t.outbox.c.idempotency_key == note.key
            )
        ).all()
        run = Executor(uow.connection)
        raw = run.first(run.q.code_lookup, {"code": partner.code})
        return rows, uow.codes.lookup(partner.code), raw.active

    rows, info, active = await container.db.run(work)  # type: ignore[arg-type]
    assert rows == [({"name": "Пётр", "n": 1}, WHOLE_SECOND)]
    assert info is not None
    assert info.owner_id == partner.id
    assert info.active is True
    assert active is True


class _Abort(Exception):
    pass


@pytest.mark.parametrize("through_sqlalchemy_too", [False, True])
async def test_a_failed_unit_of_work_leaves_nothing(
    container: Container, through_sqlalchemy_too: bool
) -> None:
    # The direct path and SQLAlchemy share one transaction (on SQLite, BEGIN goes to the
    # driver and SQLAlchemy begins on top of it): a failure rolls back both.
    partner = await container.admin.add_partner("mos", "+79160000003", "Иван")

    def fail(uow: SqlUnitOfWork) -> None:
        conv = Conversation(park="mos", channel=Channel.TELEGRAM, user_id="7")
        uow.conversations.save(conv)
        if through_sqlalchemy_too:
            uow.partners.update_settings(
                partner.id or 0, alerts=Alerts.DIGEST, quiet_from="23:00", quiet_to="08:00"
            )
        raise _Abort

    with pytest.raises(_Abort):
        await container.db.run(fail)  # type: ignore[arg-type]

    def read(uow: SqlUnitOfWork) -> tuple[object, object]:
        return (
            uow.conversations.get("mos", Channel.TELEGRAM, "7"),
            uow.partners.get(partner.id or 0),
        )

    conv, stored = await container.db.read(read)  # type: ignore[arg-type]
    assert conv is None
    assert stored is not None
    assert stored.quiet_from is None

    def succeed(uow: SqlUnitOfWork) -> None:
        uow.conversations.save(Conversation(park="mos", channel=Channel.TELEGRAM, user_id="7"))
        if through_sqlalchemy_too:
            uow.partners.update_settings(
                partner.id or 0, alerts=Alerts.DIGEST, quiet_from="23:00", quiet_to="08:00"
            )

    await container.db.run(succeed)  # type: ignore[arg-type]
    conv, stored = await container.db.read(read)  # type: ignore[arg-type]
    assert conv is not None
    assert stored is not None
    assert stored.quiet_from == ("23:00" if through_sqlalchemy_too else None)
