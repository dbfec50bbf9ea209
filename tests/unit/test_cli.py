"""``taxireg`` through its real entry point (``python -m app.cli``), on real databases.

Each call is a subprocess (about a second of start-up), so related checks share one test.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from app.bootstrap import build
from core.domain.model import Channel, Identity
from core.events import Incoming, Start, Text
from tests.conftest import PARKS, make_settings, reset_postgres
from tests.fakes.clock import FakeClock
from tests.fakes.sms import RecordingSms

REPO = Path(__file__).resolve().parents[2]
TOKEN = "123456789:AAH-very-secret-telegram-token-value-xyz"
BOT_FRAMEWORKS = ("aiogram", "vkbottle", "apscheduler")
REDIRECT = (
    "Введённый промо-код не действует в этом боте. Для регистрации перейдите в бот @spb_taxi_bot"
)
TIMEOUT = 60  # seconds for one command: generous, only there so a hang fails the test


def toml_value(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def write_config(
    path: Path, database_url: str, data_dir: Path, telegram_token: str | None = TOKEN
) -> Path:
    """A config of both test parks on ``database_url``; mos has ``telegram_token``'s bot."""
    lines = [f"data_dir = {toml_value(str(data_dir))}", "[database]"]
    lines.append(f"url = {toml_value(database_url)}")
    for park in PARKS:
        lines.append("[[parks]]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in park.items())
        if park["slug"] == "mos" and telegram_token is not None:
            lines.append(f"telegram_token = {toml_value(telegram_token)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def clean_env(**extra: str) -> dict[str, str]:
    # Case-insensitive, as pydantic-settings reads them.
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TAXIREG_")}
    env.update(extra)
    return env


class Cli:
    """Runs ``python -m app.cli`` with a given environment (the config named in it)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def __call__(self, *args: str, importtime: bool = False) -> subprocess.CompletedProcess[str]:
        flags = ["-X", "importtime"] if importtime else []
        return subprocess.run(
            [sys.executable, *flags, "-m", "app.cli", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            stdin=subprocess.DEVNULL,
        )

    def many(self, *calls: tuple[str, ...]) -> list[subprocess.CompletedProcess[str]]:
        """Independent commands at once: start-up is most of each call's time."""
        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            return list(pool.map(lambda args: self(*args), calls))


def imported_frameworks(importtime_stderr: str) -> list[str]:
    names = re.findall(r"^import time:.*\|\s+(\S+)$", importtime_stderr, re.M)
    assert names, "no -X importtime output"
    return sorted({n for n in names if n.split(".")[0] in BOT_FRAMEWORKS})


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
async def db_url(database_url: str) -> str:
    if database_url.startswith("postgresql"):
        await reset_postgres(database_url)
    return database_url


@pytest.fixture
def cli(db_url: str, tmp_path: Path) -> Cli:
    config = write_config(tmp_path / "taxireg.toml", db_url, tmp_path)
    return Cli(clean_env(TAXIREG_CONFIG=str(config)))


# --------------------------------------------------------------------------- partners


def test_partner_add_and_list(cli: Cli) -> None:
    added = cli(
        "partner", "add", "--park", "mos", "--phone", "8 (916) 555-44-33", "--name", "Анна"
    )
    assert added.returncode == 0, added.stderr
    code = added.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"[a-z2-9]{4,12}", code), added.stdout
    assert "+79165554433" in added.stdout

    # The global option may also come before the command.
    config = cli.env["TAXIREG_CONFIG"]
    duplicate, bad_phone, unknown, table = cli.many(
        ("partner", "add", "--park", "mos", "--phone", "+7 916 555 44 33"),
        ("partner", "add", "--park", "mos", "--phone", "12345"),
        ("--config", config, "partner", "add", "--park", "kazan", "--phone", "1"),
        ("partner", "list"),
    )
    assert duplicate.returncode == 1
    line = one_line_error(duplicate)
    assert "Анна" in line
    assert code in line
    assert bad_phone.returncode == 1
    assert "not a valid RU phone number: '12345'" in one_line_error(bad_phone)
    assert unknown.returncode == 1
    assert one_line_error(unknown) == "error: unknown park: kazan"
    assert table.returncode == 0
    assert "+79165554433" in table.stdout
    assert code in table.stdout

    listed = cli("partner", "list", "--park", "mos", "--json", importtime=True)
    assert listed.returncode == 0, listed.stderr
    assert imported_frameworks(listed.stderr) == []
    partners = json.loads(listed.stdout)
    assert [(p["park"], p["phone"], p["name"], p["code"]) for p in partners] == [
        ("mos", "+79165554433", "Анна", code)
    ]
    assert partners[0]["telegram_linked"] is False


# --------------------------------------------------------------------------- drivers


async def register_driver(db_url: str, tmp_path: Path, phone: str, code: str | None) -> None:
    """Register through the real service, as a bot would, into the database the CLI uses."""
    sms = RecordingSms()
    app = await build(make_settings(db_url, tmp_path), clock=FakeClock(), sms=sms)
    try:
        who = Identity(Channel.TERMINAL, f"user-{phone}")
        for event in (Start(), Text(phone), None, Text(code or "У меня нет реферального кода")):
            answer = await app.registration.handle(
                Incoming("mos", who, event or Text(sms.last_code()))
            )
        assert answer.replies[-1].key == "driver-code"
    finally:
        await app.aclose()


async def add_partners(db_url: str, tmp_path: Path) -> dict[str, str]:
    app = await build(make_settings(db_url, tmp_path))
    try:
        return {
            "mos": (await app.admin.add_partner("mos", "+79161110001", "Иван")).code,
            "mos2": (await app.admin.add_partner("mos", "+79161110002", "Олег")).code,
            "spb": (await app.admin.add_partner("spb", "+79212220002", "Пётр")).code,
        }
    finally:
        await app.aclose()


async def test_driver_card_and_audited_code_changes(cli: Cli, db_url: str, tmp_path: Path) -> None:
    codes = await add_partners(db_url, tmp_path)
    await register_driver(db_url, tmp_path, "+79161234567", codes["mos"])

    args = ("driver", "set-ref-code", "+79161234567", "--park", "mos")
    shown, refused, missing = cli.many(
        ("driver", "show", "8 916 123-45-67", "--park", "mos"),
        (*args, "--code", codes["spb"]),
        ("driver", "show", "+79160000000", "--park", "mos"),
    )
    assert shown.returncode == 0, shown.stderr
    assert "Реферальный код партнёра (own code, read-only)" in shown.stdout
    assert f"Реферальный код при регистрации (entered code) │ {codes['mos']}" in shown.stdout
    assert "partner Иван +79161110001" in shown.stdout
    assert "entered code never changed" in shown.stdout
    assert refused.returncode == 1
    line = one_line_error(refused)
    assert "belongs to park spb" in line
    assert "@spb_taxi_bot" in line
    assert missing.returncode == 1
    assert "no driver" in one_line_error(missing)

    changed = cli(*args, "--code", codes["mos2"].upper(), "--actor", "Оператор", "--json")
    assert changed.returncode == 0, changed.stderr
    card = json.loads(changed.stdout)
    assert card["entered_code"] == codes["mos2"]
    assert card["own_code"] not in codes.values()
    assert card["own_code"] in shown.stdout
    assert card["referrer"]["kind"] == "partner"
    assert (card["referrer"]["name"], card["referrer"]["phone"]) == ("Олег", "+79161110002")
    assert (card["channel"], card["source"]) == ("terminal", "typed")
    assert card["identities"] == [{"channel": "terminal", "user_id": "user-+79161234567"}]

    cleared = cli(*args, "--clear", "--json")
    assert cleared.returncode == 0, cleared.stderr
    card = json.loads(cleared.stdout)
    assert card["entered_code"] is None
    assert card["referrer"] is None
    audit = [(a["old"], a["new"], a["actor"]) for a in card["audit"]]
    default_actor = os.environ.get("USER") or audit[1][2]
    assert audit == [
        (codes["mos"], codes["mos2"], "Оператор"),
        (codes["mos2"], None, default_actor),
    ]
    assert all(a["at"] for a in card["audit"])


# --------------------------------------------------------------------------- operations


async def test_status_parks_codes_and_config(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ops.db'}"
    cli = Cli(clean_env(TAXIREG_CONFIG=str(write_config(tmp_path / "c.toml", db, tmp_path))))

    fresh = json.loads(cli("status", "--json").stdout)
    assert fresh["revision"]["current"] is None
    assert fresh["revision"]["up_to_date"] is False
    migrated = cli("migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert f"revision {fresh['revision']['head']}" in migrated.stdout.splitlines()[-1]

    parks = cli("parks", "--json", importtime=True)
    assert parks.returncode == 0
    assert imported_frameworks(parks.stderr) == []
    by_slug = {p["slug"]: p for p in json.loads(parks.stdout)}
    assert by_slug["mos"]["telegram_bot"] == "mos_gortaxi_bot"
    assert by_slug["mos"]["telegram_token"] == "set"
    assert by_slug["spb"]["telegram_token"] == "missing"
    assert by_slug["spb"]["vk_group_id"] == 2002

    codes = await add_partners(db, tmp_path)
    await register_driver(db, tmp_path, "+79161234567", codes["mos"])
    deactivated, unknown, shown = cli.many(
        ("code", "deactivate", codes["mos2"]), ("code", "activate", "zzzz"), ("config", "show")
    )
    assert deactivated.stdout.strip() == f"code {codes['mos2']} deactivated"
    assert unknown.returncode == 1
    assert "no such referral code" in one_line_error(unknown)
    assert json.loads(shown.stdout)["parks"][0]["telegram_token"] == "***"

    status_json, human = cli.many(("status", "--json"), ("status",))
    status = json.loads(status_json.stdout)
    assert status["revision"]["up_to_date"] is True
    assert status["database_url"] == db
    mos = next(p for p in status["parks"] if p["slug"] == "mos")
    assert (mos["drivers"], mos["partners"], mos["partners_linked"]) == (1, 2, 0)
    assert mos["conversations"] == {"done": 1}
    assert status["outbox"] == {"pending": 1}  # the partner's "driver registered" alert
    assert "up to date" in human.stdout
    for result in (parks, human, shown):
        assert TOKEN not in result.stdout + result.stderr


def test_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text(f'[database\nurl = "{TOKEN}"\n', encoding="utf-8")
    bad_key = tmp_path / "key.toml"
    bad_key.write_text(
        f'[sms]\nsendr = "http"\n[[parks]]\nslug = "mos"\nname = "M"\n'
        f'landing_url = "https://m.ru"\ntelegram_token = "{TOKEN}"\n',
        encoding="utf-8",
    )
    cases = [
        (clean_env(), ("--config", str(bad_toml), "parks"), "invalid TOML"),
        (clean_env(TAXIREG_CONFIG=str(bad_key)), ("partner", "list"), "sms.sendr: unknown key"),
        (clean_env(TAXIREG_CONFIG=str(tmp_path / "nope.toml")), ("status",), "file not found"),
    ]
    with ThreadPoolExecutor(max_workers=len(cases)) as pool:
        results = list(pool.map(lambda case: Cli(case[0])(*case[1]), cases))
    for (_, args, expected), result in zip(cases, results, strict=True):
        assert result.returncode == 2, (args, result.stderr)
        line = one_line_error(result)
        assert line.startswith("config error:")
        assert expected in line
        assert TOKEN not in result.stdout + result.stderr


# --------------------------------------------------------------------------- demo


async def test_demo_registers_two_drivers_through_piped_stdin(tmp_path: Path) -> None:
    # A broken config and database URL in the environment prove the demo ignores both.
    env = clean_env(
        TAXIREG_CONFIG=str(tmp_path / "missing.toml"),
        TAXIREG_DATABASE__URL="postgresql://nobody:secret@127.0.0.1:1/none",
        TMPDIR=str(tmp_path),
    )
    with (tmp_path / "stderr.txt").open("w") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-X", "importtime", "-m", "app.cli", "demo",
            cwd=REPO, env=env, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=stderr,
        )  # fmt: skip
    assert proc.stdin is not None
    assert proc.stdout is not None
    transcript: list[str] = []

    async def until(pattern: str) -> re.Match[str]:
        while True:
            raw = await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)
            if not raw:
                raise AssertionError(
                    f"demo ended waiting for {pattern!r}:\n" + "".join(transcript)
                )
            line = raw.decode()
            transcript.append(line)
            if match := re.search(pattern, line):
                return match

    def send(line: str) -> None:
        proc.stdin.write(line.encode() + b"\n")

    try:
        mos = (await until(r"^\s+mos-gortaxi\s+partner .* code (\S+)$"))[1]
        spb = (await until(r"^\s+spb-taxi\s+partner .* code (\S+)$"))[1]
        await until("введите номер мобильного телефона")
        # The park's privacy policy is shown with the phone prompt (152-FZ consent).
        await until("Отправляя номер, вы соглашаетесь .*https://mos-gortaxi.ru/privacy")

        send("+7 916 123-45-67")
        send((await until(r"^\[SMS to \+79161234567\] .*\b(\d{6})\b"))[1])
        await until(r"^\[1\] У меня нет реферального кода$")
        send(mos)
        await until(f"Реферальный код {mos} принят")
        own = (await until(r"^Ваш реферальный код: (\S+)$"))[1]
        await until(rf"http://127\.0\.0\.1:\d+/ref\?code={own}")

        send("/new")
        await until("введите номер мобильного телефона")
        send("8 916 765-43-21")
        send((await until(r"^\[SMS to \+79167654321\] .*\b(\d{6})\b"))[1])
        await until(r"^\[1\] У меня нет реферального кода$")
        send(spb)
        await until(re.escape(REDIRECT))
        await until(r"^\[1\] У меня нет реферального кода$")
        send("1")
        before = len(transcript)
        await until("Регистрация завершена!")
        assert not any("принят" in line for line in transcript[before:])  # no referrer
        second = (await until(r"^Ваш реферальный код: (\S+)$"))[1]
        assert second != own
        send("/quit")
        await until("^bye$")
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    stderr_text, leftovers = demo_traces(tmp_path)
    assert imported_frameworks(stderr_text) == []
    assert leftovers == [], "the temporary demo database was left behind"


def demo_traces(tmp_path: Path) -> tuple[str, list[Path]]:
    return (tmp_path / "stderr.txt").read_text(), list(tmp_path.glob("taxireg-demo-*"))
