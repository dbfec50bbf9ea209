"""``taxireg orders import`` through the real entry point, on real databases: a file with good
and bad lines keeps the good ones and reports the bad ones by line; importing it again changes
nothing. Also the bonus rules' config check (one line, exit 2)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from app.bootstrap import build
from core.domain.bonus import Beneficiary
from core.domain.model import Channel, Identity, OwnerKind
from core.events import Incoming, Start, Text
from tests.conftest import PARKS, make_settings
from tests.fakes.clock import FakeClock
from tests.fakes.sms import RecordingSms
from tests.unit.test_cli import Cli, clean_env, db_url, one_line_error, toml_value

__all__ = ["db_url"]  # the fixture, imported so pytest finds it here

BONUS = (
    "{ payout_minimum_kopecks = 100000, rules = [{ version = 1, starts_at = "
    '"2026-01-01T00:00:00+03:00", levels = [{ fixed_kopecks = 5000 }, { percent = "2.5" }] }] }'
)


def write_config(path: Path, database_url: str, data_dir: Path, bonus: str = BONUS) -> Path:
    lines = [f"data_dir = {toml_value(str(data_dir))}", "[database]"]
    lines.append(f"url = {toml_value(database_url)}")
    for park in PARKS:
        lines.append("[[parks]]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in park.items())
        if park["slug"] == "mos":
            lines.append(f"bonus = {bonus}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def register(db_url: str, tmp_path: Path, phone: str, code: str | None) -> str:
    """Register through the real service, as a bot would; the driver's own code."""
    sms = RecordingSms()
    app = await build(make_settings(db_url, tmp_path), clock=FakeClock(), sms=sms)
    try:
        who = Identity(Channel.TERMINAL, f"user-{phone}")
        for event in (Start(), Text(phone), None, Text(code or "У меня нет реферального кода")):
            answer = await app.registration.handle(
                Incoming("mos", who, event or Text(sms.last_code()))
            )
        # The code's reply, wherever the flow puts it among the last answer's replies.
        (code_reply,) = [r for r in answer.replies if r.key == "driver-code"]
        return str(code_reply.args["code"])
    finally:
        await app.aclose()


async def test_import_keeps_good_lines_reports_bad_ones_and_reimport_changes_nothing(
    db_url: str, tmp_path: Path
) -> None:
    first = await register(db_url, tmp_path, "+79160000001", None)
    await register(db_url, tmp_path, "+79160000002", first)
    config = write_config(tmp_path / "taxireg.toml", db_url, tmp_path)
    cli = Cli(clean_env(TAXIREG_CONFIG=str(config)))
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_id,driver_phone,completed_at,price_kopecks,status\n"
        "o1,+79160000002,2026-11-20T10:00:00+03:00,50000,completed\n"  # pays driver 1
        "o2,+79160000002,2026-11-20T11:00:00+03:00,-5,completed\n"  # line 3: bad price
        "o3,+79169999999,2026-11-20T12:00:00+03:00,50000,completed\n"  # line 4: unknown
        "o4,+79160000002,not a date,50000,completed\n"  # line 5: bad date
        "o5,8 916 000-00-02,2026-11-21T10:00:00+03:00,70000,completed\n"  # pays again
        "o6,+79160000002,2026-11-21T11:00:00+03:00,70000,cancelled\n",  # stored, pays nothing
        encoding="utf-8",
    )

    result = cli("orders", "import", str(orders), "--park", "mos", "--json")
    assert result.returncode == 1, result.stderr  # some lines were refused
    report = json.loads(result.stdout)
    assert [r["line"] for r in report["refused"]] == [3, 4, 5]
    assert all(r["reason"] for r in report["refused"])
    assert report["accepted"] == 2
    assert report["arrived_cancelled"] == 1
    assert report["accrued_kopecks"] == 2 * 5000  # level 1 only: driver 1 has no referrer

    again = cli("orders", "import", str(orders), "--park", "mos", "--json")
    assert again.returncode == 1
    second = json.loads(again.stdout)
    assert second["accepted"] == 0
    assert second["ledger_rows"] == 0
    assert second["accrued_kopecks"] == 0
    assert second["unchanged"] == 3
    assert [r["line"] for r in second["refused"]] == [3, 4, 5]

    shown = cli("ledger", "show", "+79160000001", "--park", "mos")
    assert shown.returncode == 0, shown.stderr
    app = await build(make_settings(db_url, tmp_path), migrate_db=False)
    try:
        owners = await app.ledger.owners("mos", "+79160000001")
        assert owners
        assert owners[0].kind is OwnerKind.DRIVER
        balance = await app.ledger.balance(Beneficiary(OwnerKind.DRIVER, owners[0].id))
        assert balance.accrued == 10_000
    finally:
        await app.aclose()


def test_a_bad_bonus_rule_is_one_config_line_and_exit_2(tmp_path: Path) -> None:
    bad = (
        '{ rules = [{ version = 1, starts_at = "2026-01-01T00:00:00+03:00", '
        "levels = [{ percent = 2.5 }] }] }"
    )
    config = write_config(tmp_path / "bad.toml", "sqlite:///x.db", tmp_path, bonus=bad)
    result = Cli(clean_env(TAXIREG_CONFIG=str(config)))("parks")
    assert result.returncode == 2
    line = one_line_error(result)
    assert line.startswith("config error:")
    assert "bonus" in line
    assert "levels" in line


async def test_payouts_list_process_confirm_and_a_refused_cancel(
    db_url: str, tmp_path: Path
) -> None:
    from core.domain.bonus_config import program_from_config
    from core.domain.bonus_records import OrderInput

    first = await register(db_url, tmp_path, "+79160000001", None)
    await register(db_url, tmp_path, "+79160000002", first)
    app = await build(make_settings(db_url, tmp_path), migrate_db=False)
    try:
        rules = {
            "payout_minimum_kopecks": 100_000,
            "rules": [
                {
                    "version": 1,
                    "starts_at": "2026-01-01T00:00:00+03:00",
                    "levels": [{"fixed_kopecks": 100_000}],
                }
            ],
        }
        app.ledger.programs["mos"] = program_from_config("mos", "Europe/Moscow", rules)
        at = datetime(2026, 11, 20, 10, tzinfo=UTC)
        orders = [
            OrderInput(f"o{i}", at, 500_000, "completed", driver_phone="+79160000002")
            for i in range(3)
        ]
        assert (await app.ledger.import_orders("mos", orders)).accepted == 3
        [owner] = await app.ledger.owners("mos", "+79160000001")
        payout = await app.ledger.request_payout("mos", owner, 200_000)
    finally:
        await app.aclose()
    cli = Cli(clean_env(TAXIREG_CONFIG=str(write_config(tmp_path / "t.toml", db_url, tmp_path))))

    listed = cli("payouts", "list", "--park", "mos", "--status", "pending", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["id"], row["amount_kopecks"], row["status"]) == (payout.id, 200_000, "pending")

    processed = cli("payouts", "process", str(payout.id))
    assert processed.returncode == 0, processed.stderr
    assert "is now processing" in processed.stdout
    confirmed = cli("payouts", "confirm", str(payout.id), "--note", "paid by bank", "--json")
    assert confirmed.returncode == 0, confirmed.stderr
    assert json.loads(confirmed.stdout)["status"] == "confirmed"

    cancel, unknown = cli.many(("payouts", "cancel", str(payout.id)), ("payouts", "fail", "999"))
    assert cancel.returncode == 1
    assert "confirmed" in one_line_error(cancel)
    assert unknown.returncode == 1
    assert "no payout request 999" in one_line_error(unknown)
    final = json.loads(cli("payouts", "list", "--json").stdout)
    assert [(p["status"], p["note"]) for p in final] == [("confirmed", "paid by bank")]
