"""``taxireg partner referrals``: a partner's referred drivers as the partner's cabinet shows
them, through the real entry point; after ``driver forget`` the erased one reads «удалён»
and the count is unchanged. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

from app.bootstrap import build
from tests.conftest import make_settings
from tests.unit.test_cli import Cli, cli, db_url, register_driver

__all__ = ["cli", "db_url"]  # the fixtures, imported so pytest finds them here

ANNA = "+79165554433"


async def test_referrals_show_an_erased_driver_as_deleted(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    app = await build(make_settings(db_url, tmp_path))
    try:
        anna = await app.admin.add_partner("mos", ANNA, "Анна")
        await app.admin.add_partner("spb", ANNA, "Анна в Питере")
    finally:
        await app.aclose()
    await register_driver(db_url, tmp_path, "+79161234567", anna.code)
    await register_driver(db_url, tmp_path, "+79161234568", anna.code)

    before = cli("partner", "referrals", ANNA, "--park", "mos", "--json")
    assert before.returncode == 0, before.stderr
    rows = json.loads(before.stdout)
    assert [(r["phone"], r["erased"]) for r in rows] == [
        ("+7 *** ***-45-68", False),  # newest first, masked as in the cabinet
        ("+7 *** ***-45-67", False),
    ]

    forgotten = cli("driver", "forget", "+79161234567", "--park", "mos", "--yes")
    assert forgotten.returncode == 0, forgotten.stderr

    by_code, table, csv = cli.many(
        ("partner", "referrals", anna.code.upper(), "--json"),
        ("partner", "referrals", "8 916 555-44-33", "--park", "mos"),
        ("partner", "referrals", anna.code, "--csv"),
    )
    rows = json.loads(by_code.stdout)
    assert len(rows) == 2  # the count is unchanged
    assert [(r["name"], r["phone"], r["erased"]) for r in rows[1:]] == [("удалён", "удалён", True)]
    assert rows[0]["phone"] == "+7 *** ***-45-68"
    assert "+79161234567" not in by_code.stdout + table.stdout + csv.stdout
    assert "удалён" in table.stdout
    assert f"Referrals of partner Анна ({anna.code}, park mos)" in table.stdout
    assert csv.stdout.splitlines()[0].startswith("id,name,phone,erased")
    assert csv.stdout.count("удалён") == 2


async def test_an_unknown_or_ambiguous_partner_is_refused(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    app = await build(make_settings(db_url, tmp_path))
    try:
        await app.admin.add_partner("mos", ANNA, "Анна")
        await app.admin.add_partner("spb", ANNA, None)
    finally:
        await app.aclose()
    both, nobody, bad_park = cli.many(
        ("partner", "referrals", ANNA),
        ("partner", "referrals", "zzzz"),
        ("partner", "referrals", ANNA, "--park", "nope"),
    )
    assert both.returncode == 1
    assert "is a partner in parks mos, spb: name one with --park" in both.stderr
    assert ANNA not in both.stderr  # masked
    assert nobody.returncode == 1
    assert "no partner with the phone or code 'zzzz'" in nobody.stderr
    assert bad_park.returncode == 1
    assert "nope" in bad_park.stderr
