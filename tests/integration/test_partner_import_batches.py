"""Partner import in batches: a batch costs a fixed handful of statements whatever its
size, and what one batch decided (a phone, a requested code) holds for the batches after
it; writers racing the import lose nothing and get nothing twice. SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import event, func, select

from app.bootstrap import Container, build
from core.domain.codes import ALPHABET
from core.domain.operators import PartnerLine
from core.ports import UnitOfWork
from core.services import admin as admin_module
from storage import tables as t
from storage.repositories import SqlCodes, SqlPartners
from tests.conftest import make_settings, reset_postgres

T = TypeVar("T")


@pytest.fixture
async def app(database_url: str, tmp_path: Path) -> Any:
    if database_url.startswith("postgresql"):
        await reset_postgres(database_url)
    container = await build(make_settings(database_url, tmp_path))
    try:
        yield container
    finally:
        await container.aclose()


class Counting:
    """The app's database, counting the statements each transaction sends."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.statements: list[int] = []

    async def run(self, work: Callable[[UnitOfWork], T]) -> T:
        return await self.db.run(lambda uow: self._counted(uow, work))

    def _counted(self, uow: Any, work: Callable[[UnitOfWork], T]) -> T:
        sent = 0

        def count(*_: Any) -> None:
            nonlocal sent
            sent += 1

        event.listen(uow.connection, "before_cursor_execute", count)
        try:
            return work(uow)
        finally:
            event.remove(uow.connection, "before_cursor_execute", count)
            self.statements.append(sent)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


def lines(*rows: tuple[str, str | None]) -> list[PartnerLine]:
    """(phone, code) rows as a file's lines 2, 3, ..."""
    return [PartnerLine(n, phone, f"P{n}", code) for n, (phone, code) in enumerate(rows, 2)]


def own_code(n: int) -> str:
    """A distinct valid code per number (the alphabet has no 0, 1, i, l or o)."""
    digits = ""
    while n or not digits:
        n, d = divmod(n, len(ALPHABET))
        digits = ALPHABET[d] + digits
    return "wn" + digits.rjust(5, "a")


async def counts(app: Container) -> tuple[int, int]:
    def read(conn: Any) -> tuple[int, int]:
        partners = conn.execute(select(func.count()).select_from(t.partners)).scalar_one()
        codes = conn.execute(select(func.count()).select_from(t.codes)).scalar_one()
        return partners, codes

    return await app.db.run_on_connection(read)


async def test_a_batch_costs_the_same_few_statements_whatever_its_size(
    app: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin_module, "IMPORT_BATCH", 200)
    counting = Counting(app.db)
    monkeypatch.setattr(app.admin, "_db", counting)
    file = lines(*((f"+7916{n:07d}", own_code(n) if n % 2 else None) for n in range(400)))
    report = await app.admin.import_partners("mos", file)
    assert (report.added, report.existing, report.refused) == (400, 0, [])
    assert len(counting.statements) == 2  # one transaction a batch
    # phones, requested codes, fresh codes (a collision may ask again), codes, partners:
    # line by line it was three statements a line.
    assert all(n <= 8 for n in counting.statements), counting.statements
    assert await counts(app) == (400, 400)

    counting.statements.clear()
    again = await app.admin.import_partners("mos", file)
    assert (again.added, again.existing, again.refused) == (0, 400, [])
    assert all(n <= 8 for n in counting.statements), counting.statements
    assert await counts(app) == (400, 400)


async def test_what_an_earlier_batch_took_holds_for_later_batches(
    app: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin_module, "IMPORT_BATCH", 2)
    spb = await app.admin.add_partner("spb", "+79212220002", "Олег")
    await app.admin.add_partner("mos", "+79160000009", "Уже есть")
    report = await app.admin.import_partners(
        "mos",
        lines(
            ("+79160000001", "abcd2345"),  # 2: added with its code
            ("+79160000002", None),  # 3: added
            ("+79160000001", None),  # 4 (next batch): the same phone as line 2
            ("+79160000003", "ABCD2345"),  # 5: the code line 2 took
            ("+79160000009", "no/code"),  # 6: the park has this phone: a bad code is moot
            ("+79160000004", "no/code"),  # 7: a new phone with a bad code: refused
            ("+79160000005", spb.code),  # 8: another park's code
            ("+79160000005", None),  # 9: its phone was refused with line 8, not taken
            ("+79160000006", "efgh6789"),  # 10: added
            ("+79160000007", "efgh6789"),  # 11: the same batch's code
        ),
    )
    assert (report.added, report.existing) == (4, 1)
    assert report.refused == [
        (4, "the same phone as line 2"),
        (5, "the code abcd2345 is taken in park mos"),
        (7, "not a referral code: 'no/code'"),
        (8, f"the code {spb.code} is taken in park spb"),
        (11, "the code efgh6789 is taken in park mos"),
    ]
    partners = {p.phone: p for p in await app.admin.list_partners("mos")}
    assert partners["+79160000001"].code == "abcd2345"
    assert partners["+79160000006"].code == "efgh6789"
    assert "+79160000005" in partners
    assert len({p.code for p in partners.values()}) == len(partners) == 5
    assert await counts(app) == (6, 6)  # no code reserved for a refused line


async def test_writers_racing_the_import_keep_theirs_and_leave_no_stray_code(
    app: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process adds a phone, or takes a requested code, between the batch's read
    and its insert: seen here as a read that misses them."""
    await app.admin.add_partner("mos", "+79160000001", "Первый")
    other = await app.admin.add_partner("spb", "+79212220002", "Олег")
    monkeypatch.setattr(SqlPartners, "phones_in", lambda *_: set())
    monkeypatch.setattr(SqlCodes, "parks_of", lambda _, codes: {})
    before = await counts(app)
    report = await app.admin.import_partners(
        "mos",
        lines(("+79160000001", None), ("+79160000002", other.code), ("+79160000003", None)),
    )
    assert (report.added, report.existing) == (1, 1)
    assert report.refused == [(3, f"the code {other.code} is taken")]
    assert await counts(app) == (before[0] + 1, before[1] + 1)
    first = [p for p in await app.admin.list_partners("mos") if p.phone == "+79160000001"]
    assert [p.name for p in first] == ["Первый"]
