"""An operator's day on the real entry point: partners from a file and back out, the driver
listing with its filters, erasure with its confirmation; and proof that listings stream.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from app.bootstrap import build
from app.commands.output import Format, stream
from core.domain.operators import DRIVER_COLUMNS, DriverFilter, driver_record
from core.services import admin as admin_module
from storage import tables as t
from tests.conftest import make_settings
from tests.fakes.clock import FakeClock
from tests.unit.test_cli import REPO, TIMEOUT, Cli, cli, db_url, register_driver

__all__ = ["cli", "db_url"]  # the fixtures, imported so pytest finds them here

GOOD_AND_BAD = (
    "Name,Phone,Code,Alerts,comment\n"  # any case, extra columns ignored
    "Иван Первый,+7 916 000-00-01,,,\n"  # 2: added, code issued
    "Пётр,89160000002,abcd2345,digest,\n"  # 3: added with its own code
    "bad phone,123,,,\n"  # 4: refused
    "Иван дубль,+79160000001,,,\n"  # 5: refused: the same phone as line 2
    "loud,+79160000003,,loud,\n"  # 6: refused: alerts
    "taken,+79160000004,abcd2345,,\n"  # 7: refused: code taken (by line 3)
    "foreign code,+79160000005,{spb},,\n"  # 8: refused: code of another park
    "\n"  # blank: skipped
    "=HYPERLINK(1),+79160000006,,instant,\n"  # 10: added; a formula-like name is text
)


def run(cli: Cli, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=REPO,
        env=cli.env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        input=stdin,
    )


async def test_partner_import_keeps_good_lines_reports_bad_ones_and_is_idempotent(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    app = await build(make_settings(db_url, tmp_path))
    try:
        spb = await app.admin.add_partner("spb", "+79212220002", "Олег")
    finally:
        await app.aclose()
    file = tmp_path / "partners.csv"
    file.write_text(GOOD_AND_BAD.format(spb=spb.code), encoding="utf-8")

    first = cli("partner", "import", str(file), "--park", "mos", "--json")
    assert first.returncode == 1, first.stderr  # some lines were refused
    report = json.loads(first.stdout)
    assert (report["added"], report["existing"]) == (3, 0)
    reasons = {r["line"]: r["reason"] for r in report["refused"]}
    assert sorted(reasons) == [4, 5, 6, 7, 8]
    assert "phone" in reasons[4]
    assert reasons[5] == "the same phone as line 2"
    assert "instant or digest" in reasons[6]
    assert reasons[7] == "the code abcd2345 is taken in park mos"
    assert reasons[8] == f"the code {spb.code} is taken in park spb"

    exported = cli("partner", "export", "--park", "mos")
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [(r["name"], r["phone"], r["alerts"]) for r in rows] == [
        ("Иван Первый", "+79160000001", "instant"),
        ("Пётр", "+79160000002", "digest"),
        ("'=HYPERLINK(1)", "+79160000006", "instant"),
    ]
    assert rows[1]["code"] == "abcd2345"

    again = cli("partner", "import", str(file), "--park", "mos", "--json")
    report = json.loads(again.stdout)
    assert (report["added"], report["existing"]) == (0, 3)
    assert sorted(r["line"] for r in report["refused"]) == [4, 5, 6, 7, 8]
    assert cli("partner", "export", "--park", "mos").stdout == exported.stdout

    # The export is a valid import file: into the same park it changes nothing.
    export_file = tmp_path / "export.csv"
    export_file.write_text(exported.stdout, encoding="utf-8")
    round_trip = cli("partner", "import", str(export_file), "--park", "mos", "--json")
    assert round_trip.returncode == 0, round_trip.stdout
    assert json.loads(round_trip.stdout) == {"added": 0, "existing": 3, "refused": []}

    table = cli("partner", "import", str(file), "--park", "mos")
    assert "0 partners added, 3 already in park mos, 5 lines refused" in table.stdout
    listing = cli("partner", "export", "--json")
    assert [p["park"] for p in json.loads(listing.stdout)] == ["spb", "mos", "mos", "mos"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"name,code\n", "lacks phone"),
        (b"\xff\xfe\x00bad", "UTF-8"),
    ],
)
def test_partner_import_refuses_unreadable_files_in_one_line(
    cli: Cli, tmp_path: Path, content: bytes, message: str
) -> None:
    file = tmp_path / "bad.csv"
    file.write_bytes(content)
    result = cli("partner", "import", str(file), "--park", "mos")
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert cli("partner", "export").stdout.count("\n") == 1  # the header only


async def test_driver_list_filters_and_formats(cli: Cli, db_url: str, tmp_path: Path) -> None:
    app = await build(make_settings(db_url, tmp_path))
    try:
        partner = await app.admin.add_partner("mos", "+79161110001", "Иван")
    finally:
        await app.aclose()
    await register_driver(db_url, tmp_path, "+79161234567", partner.code)
    await register_driver(db_url, tmp_path, "+79161234568", None)

    everyone, with_code, unfinished, bad = cli.many(
        ("driver", "list", "--json"),
        ("driver", "list", "--park", "mos", "--code", partner.code.upper(), "--csv"),
        ("driver", "list", "--unfinished", "--csv"),
        ("driver", "list", "--channel", "fax"),
    )
    drivers = json.loads(everyone.stdout)
    assert [d["phone"] for d in drivers] == ["+79161234567", "+79161234568"]
    assert set(drivers[0]) == set(DRIVER_COLUMNS)
    assert drivers[0]["entered_code"] == partner.code
    rows = list(csv.DictReader(io.StringIO(with_code.stdout)))
    assert [r["phone"] for r in rows] == ["+79161234567"]
    assert unfinished.stdout.splitlines()[1:] == []
    assert bad.returncode == 1
    assert "--channel must be one of" in bad.stderr

    future, typed, table = cli.many(
        ("driver", "list", "--since", "2999-01-01", "--json"),
        ("driver", "list", "--source", "TYPED", "--channel", "terminal", "--csv"),
        ("driver", "list", "--park", "mos"),
    )
    assert json.loads(future.stdout) == []
    assert len(list(csv.DictReader(io.StringIO(typed.stdout)))) == 1
    assert "+79161234568" in table.stdout


async def test_forget_asks_for_confirmation_and_then_erases(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    await register_driver(db_url, tmp_path, "+79161234567", None)
    args = ("driver", "forget", "8 916 123-45-67", "--park", "mos")
    declined = run(cli, *args, stdin="no\n")
    assert declined.returncode == 1
    assert "cannot be undone" in declined.stderr
    assert "+79161234567" not in declined.stderr + declined.stdout  # masked
    assert "nothing erased" in declined.stdout
    assert cli("driver", "show", "+79161234567", "--park", "mos").returncode == 0
    no_answer = run(cli, *args)  # no terminal, no --yes: not a yes
    assert no_answer.returncode == 1

    done = run(cli, *args, "--actor", "Ольга", stdin="yes\n")
    assert done.returncode == 0, done.stderr
    assert "erased in park mos" in done.stdout
    assert cli("driver", "show", "+79161234567", "--park", "mos").returncode == 1
    listed = json.loads(cli("driver", "list", "--json").stdout)
    assert [(d["phone"], d["name"], d["erased"]) for d in listed] == [(None, None, True)]
    again = run(cli, *args, "--yes")
    assert again.returncode == 1
    assert "no driver" in again.stderr


# --------------------------------------------------------------------------- streaming


async def test_listing_streams_page_by_page_in_bounded_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows of page n are written before page n+1 is read, and the peak memory of listing
    every driver stays far below what holding them all takes."""
    total, page = 6_000, 500
    monkeypatch.setattr(admin_module, "PAGE", page)
    clock = FakeClock()
    app = await build(make_settings(f"sqlite:///{tmp_path / 's.db'}", tmp_path), clock=clock)
    try:
        now = clock.now()

        def fill(conn: Any) -> None:
            codes = [f"z{i:07d}" for i in range(total)]
            conn.execute(
                insert(t.codes),
                [
                    {"code": c, "park_slug": "mos", "kind": "driver", "created_at": now}
                    for c in codes
                ],
            )
            conn.execute(
                insert(t.drivers),
                [
                    {
                        "park_slug": "mos",
                        "phone": f"+7916{i:07d}",
                        "name": "Водитель " + "х" * 100,
                        "own_code": c,
                        "channel": "telegram",
                        "source": "none",
                        "created_at": now,
                        "updated_at": now,
                        "consent_at": now,
                    }
                    for i, c in enumerate(codes)
                ],
            )

        await app.db.run_on_connection(fill)

        class Sink(io.TextIOBase):
            lines = 0

            def write(self, text: str) -> int:
                self.lines += text.count("\n")
                return len(text)

        sink = Sink()
        pages_read = 0

        async def pages() -> AsyncIterator[list[dict[str, object]]]:
            nonlocal pages_read
            async for drivers in app.admin.driver_pages(DriverFilter(park="mos")):
                # Every row read so far is already out (plus the header line).
                assert sink.lines == 1 + pages_read * page
                pages_read += 1
                yield [driver_record(d) for d in drivers]

        tracemalloc.start()
        try:
            count = await stream(Format.CSV, "Drivers", DRIVER_COLUMNS, pages(), out=sink)
            _, streamed_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            held = [
                driver_record(d)
                for drivers in [p async for p in app.admin.driver_pages(DriverFilter())]
                for d in drivers
            ]
            _, held_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert count == total == len(held)
        assert sink.lines == total + 1
        assert pages_read == total // page
        assert streamed_peak * 4 < held_peak, (streamed_peak, held_peak)
    finally:
        await app.aclose()
