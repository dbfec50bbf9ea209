"""Operator commands on hostile input, and commands that must not write."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from app.bootstrap import build
from core.domain import limits
from core.domain.errors import InvalidPhoneError
from storage import tables as t
from tests.conftest import make_settings
from tests.fakes.clock import FakeClock


async def _updated_at(app: object) -> dict[str, object]:
    rows = await app.db.run_on_connection(  # type: ignore[attr-defined]
        lambda conn: conn.execute(select(t.parks.c.slug, t.parks.c.updated_at)).all()
    )
    return dict(rows)


async def test_starting_again_with_the_same_parks_writes_nothing(
    database_url: str, tmp_path: Path
) -> None:
    first_clock, later_clock = FakeClock(), FakeClock()
    later_clock.advance(hours=5)
    app = await build(make_settings(database_url, tmp_path), clock=first_clock)
    before = await _updated_at(app)
    await app.aclose()
    # A read-only command (driver show, status ...) builds the container again, later.
    app = await build(make_settings(database_url, tmp_path), clock=later_clock)
    try:
        assert await _updated_at(app) == before
    finally:
        await app.aclose()


async def test_a_changed_park_is_stamped_by_the_clock(database_url: str, tmp_path: Path) -> None:
    clock = FakeClock()
    app = await build(make_settings(database_url, tmp_path), clock=clock)
    await app.aclose()
    clock.advance(hours=1)
    settings = make_settings(database_url, tmp_path)
    settings.parks[0].name = "Новое имя"
    app = await build(settings, clock=clock)
    try:
        stamped = await _updated_at(app)
        assert stamped["mos"] == clock.now()
        assert stamped["spb"] < clock.now()
    finally:
        await app.aclose()


async def test_a_huge_phone_gives_a_short_error(container: object) -> None:
    with pytest.raises(InvalidPhoneError) as caught:
        await container.admin.add_partner("mos", "9" * 100_000, "Иван")  # type: ignore[attr-defined]
    assert len(str(caught.value)) < 120


async def test_an_over_long_partner_name_fits_its_column(container: object) -> None:
    partner = await container.admin.add_partner(  # type: ignore[attr-defined]
        "mos", "+79161110001", "Иван\x00" + "я" * 1000
    )
    assert partner.name is not None
    assert len(partner.name) == limits.PERSON_NAME
    assert "\x00" not in partner.name
