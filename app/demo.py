"""``taxireg demo``: the whole registration flow in a terminal, with zero configuration.

The demo never reads the config file: it makes its own SQLite database (a temporary
directory unless ``--data-dir``), two parks and a partner in each, so it can neither touch
a production database nor fail on one's settings.
"""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

from app.logs import setup_logging
from app.settings import LoggingSettings, Settings, load_settings

# The demo parks' bonus program: 10 % of the order to level 1, 50 ₽ to level 2, 2.5 % to
# level 3, payouts from 300 ₽ so that one /orders lets the referrer try «Вывести бонусы».
DEMO_BONUS: dict[str, Any] = {
    "payout_minimum_kopecks": 30_000,
    "alert_interval_minutes": 60,
    "rules": [
        {
            "version": 1,
            "starts_at": "2026-01-01T00:00:00+03:00",
            "levels": [{"percent": "10"}, {"fixed_kopecks": 5_000}, {"percent": "2.5"}],
        }
    ],
}
DEMO_PARKS: list[dict[str, Any]] = [
    {
        "slug": "mos-gortaxi",
        "name": "Мос ГорТакси",
        "landing_url": "https://mos-gortaxi.ru/ref",
        "telegram_username": "mos_gortaxi_bot",
        # Shown at the phone step (152-FZ consent), and recorded with the registration.
        "privacy_url": "https://mos-gortaxi.ru/privacy",
        "bonus": DEMO_BONUS,
    },
    {
        "slug": "spb-taxi",
        "name": "Питер Такси",
        "landing_url": "https://spb-taxi.ru/ref",
        "telegram_username": "spb_taxi_bot",
        "privacy_url": "https://spb-taxi.ru/privacy",
        "bonus": DEMO_BONUS,
    },
]
# Sample orders (package data): /orders imports them as the terminal driver's own.
DEMO_ORDERS = Path(__file__).with_name("demo_orders.csv")
DEMO_PARTNERS = {
    "mos-gortaxi": ("+79161110001", "Иван Партнёров"),
    "spb-taxi": ("+79212220002", "Пётр Партнёров"),
}

HOW_TO = """\
How to try it:
  1. type a phone number, e.g. +7 916 123-45-67: the SMS code appears as [SMS to ...]
  2. type the 6-digit code from it
  3. type a partner's code from the table above, or press the no-code button by its number
     (the other park's partner code shows the redirect to that park's bot)
  4. bonuses: register a second driver with the first one's code (/new starts over), then
     /orders imports sample orders as the second driver's: the first driver (10 %) and the
     partner (50 ₽ an order) earn; sign in again with the first driver's phone (/new) and
     press «Мои бонусы» to see the balance and request a payout
  /new starts over as another driver, /park SLUG switches park, /help, /quit (or Ctrl-D)
"""


def free_port() -> int:
    """A loopback port nobody listens on now, for the demo's landing page."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_settings(data_dir: Path, verbose: bool, port: int | None = None) -> Settings:
    """Settings from a config file written into ``data_dir``.

    The file exists so that another terminal can run ``taxireg --config <it> driver show
    ...`` against the demo's database. Naming a file also keeps ``$TAXIREG_CONFIG`` out,
    and the keyword overrides (which beat the environment) keep ``TAXIREG_DATABASE__URL``
    and friends from pointing the demo at a real database.
    """
    port = port or free_port()
    public_url = f"http://127.0.0.1:{port}"
    # The parks' referral links point at the demo's own landing page, so they open.
    parks = [{**park, "landing_url": f"{public_url}/ref"} for park in DEMO_PARKS]
    overrides: dict[str, Any] = {
        "data_dir": data_dir,
        "database": {"url": f"sqlite:///{data_dir / 'demo.db'}", "echo": False},
        "sms": {"sender": "log"},
        "parks": parks,
        "web": {"host": "127.0.0.1", "port": port, "public_url": public_url},
        "notifications": {"enabled": False},
        "logging": {"level": "INFO" if verbose else "WARNING", "json": False},
    }
    config = data_dir / "demo.toml"
    config.write_text(_toml(overrides), encoding="utf-8")
    return load_settings(config, **overrides)


def _toml(overrides: dict[str, Any]) -> str:
    # JSON strings are valid TOML basic strings; the demo's values are all plain.
    def value(v: Any) -> str:
        return json.dumps(v if isinstance(v, bool | int) else str(v), ensure_ascii=False)

    lines = ["# Written by `taxireg demo`.", f"data_dir = {value(overrides['data_dir'])}"]
    for section in ("database", "sms", "web", "notifications", "logging"):
        lines.append(f"\n[{section}]")
        lines.extend(f"{k} = {value(v)}" for k, v in overrides[section].items())
    for park in overrides["parks"]:
        lines.append("\n[[parks]]")
        lines.extend(f"{k} = {value(v)}" for k, v in park.items() if k != "bonus")
        bonus = park.get("bonus")
        if bonus:
            lines.append("[parks.bonus]")
            lines.extend(f"{k} = {value(v)}" for k, v in bonus.items() if k != "rules")
            for rule in bonus["rules"]:
                lines.append("[[parks.bonus.rules]]")
                for k, v in rule.items():
                    if k == "levels":  # inline tables: [{ percent = "10" }, ...]
                        levels = ", ".join(
                            "{ "
                            + ", ".join(f"{lk} = {value(lv)}" for lk, lv in level.items())
                            + " }"
                            for level in v
                        )
                        lines.append(f"levels = [{levels}]")
                    else:
                        lines.append(f"{k} = {value(v)}")
    return "\n".join(lines) + "\n"


async def run_demo(data_dir: str | None, park: str | None = None, verbose: bool = False) -> int:
    from app.bootstrap import build
    from app.sms import LogSms
    from bots.terminal.chat import TerminalChat
    from bots.terminal.console import in_thread, stdin_reader, writer

    # Quiet until the demo's own settings say otherwise (a stray config must not matter).
    setup_logging(LoggingSettings(level="WARNING"))
    temporary = data_dir is None
    path = Path(tempfile.mkdtemp(prefix="taxireg-demo-")) if temporary else Path(data_dir)
    write = writer()
    try:
        path.mkdir(parents=True, exist_ok=True)
        settings = demo_settings(path, verbose)
        setup_logging(settings.logging)
        container = await build(settings, sms=LogSms(echo=write))
        web = None
        try:
            await _seed(container)
            web = await _serve_web(container, write)
            await _introduce(container, path, temporary, write, web is not None)
            chat = TerminalChat(
                container.registration,
                container.catalog,
                park or DEMO_PARKS[0]["slug"],
                write,
                orders=lambda slug, user: import_demo_orders(container, slug, user),
            )
            await chat.run(in_thread(stdin_reader(echo=write)))
        finally:
            if web is not None:
                await web.stop()
            await container.aclose()
    finally:
        if temporary:
            shutil.rmtree(path, ignore_errors=True)
    write("bye")
    return 0


async def _seed(container: Any) -> None:
    """One partner per park, added through the same use case as `taxireg partner add`."""
    existing = {p.park for p in await container.admin.list_partners()}
    for slug, (phone, name) in DEMO_PARTNERS.items():
        if slug not in existing:  # a kept --data-dir already has them
            await container.admin.add_partner(slug, phone, name)


async def _serve_web(container: Any, write: Any) -> Any:
    """The landing page on 127.0.0.1, as `taxireg run` serves it; the chat works without it."""
    from app.runner import web_part

    part = web_part(container)
    try:
        await part.start()
    except OSError as exc:
        write(f"(landing page not served: {exc.strerror or exc})")
        return None
    return part


async def _introduce(
    container: Any, path: Path, temporary: bool, write: Any, web: bool = False
) -> None:
    where = "a temporary directory, deleted on exit" if temporary else "kept for next time"
    write(f"taxireg demo: SQLite database in {path} ({where})\n")
    write("Parks:")
    for park in container.parks.values():
        write(
            f"  {park.slug:<12} «{park.name}»  bot @{park.telegram_username}  "
            f"landing {park.landing_url}"
        )
    write("\nPartners (their referral codes work in their own park only):")
    partners = await container.admin.list_partners()
    for partner in partners:
        write(f"  {partner.park:<12} partner {partner.name} {partner.phone}  code {partner.code}")
    if web and partners:
        park = container.parks[partners[0].park]
        write("\nThe partner's referral page (open it in a browser; QR code and bot buttons):")
        write(f"  {park.referral_link(partners[0].code)}")
    write("\nAdmin commands against this database, from another terminal:")
    write(f"  taxireg --config {path / 'demo.toml'} partner list\n")
    write(HOW_TO)


async def import_demo_orders(container: Any, park: str, user_id: str) -> list[str]:
    """``/orders``: the sample file's orders, as the terminal driver's own, through the same
    reader and ledger use case as ``taxireg orders import``; says who earned what."""
    from dataclasses import replace
    from datetime import timedelta

    from app.commands.orders_csv import read_orders
    from core.domain.bonus import Beneficiary
    from core.domain.model import Channel, OwnerKind
    from core.domain.money import format_roubles
    from core.domain.registration import Step

    conversation = await container.db.read(
        lambda uow: uow.conversations.get(park, Channel.TERMINAL, user_id)
    )
    if conversation is None or conversation.step is not Step.DONE or not conversation.driver_id:
        return ["/orders imports sample orders as yours: register as a driver first."]
    driver_id = conversation.driver_id
    driver = await container.db.read(lambda uow: uow.drivers.get(driver_id))
    zone = container.clock.now().astimezone().tzinfo
    lines = [line for line in read_orders(DEMO_ORDERS.read_bytes(), zone) if line.order]
    latest = max(line.order.completed_at for line in lines if line.order)
    now = container.clock.now()
    orders = [
        replace(
            line.order,
            external_id=f"demo-{driver_id}-{line.order.external_id}",
            driver_phone=driver.phone,
            # Completed in the last hours, so they count in this month's «Мои бонусы».
            completed_at=now - (latest - line.order.completed_at) - timedelta(minutes=1),
        )
        for line in lines
        if line.order
    ]
    report = await container.ledger.import_orders(park, orders)
    said = [
        f"Imported {DEMO_ORDERS.name} for driver {driver.phone}: {report.accepted} completed, "
        f"{report.arrived_cancelled} cancelled, {report.unchanged} already there."
    ]
    if report.accepted == 0 and report.unchanged:
        said.append("Nothing changed: orders are idempotent by their id (try another driver).")
    elif not report.by_beneficiary:
        said.append("Nobody earns from them: this driver registered without a referral code.")
    partners = {p.id: p for p in await container.admin.list_partners(park)}
    for owner, amount in sorted(report.by_beneficiary.items()):
        if owner.kind is OwnerKind.PARTNER and owner.id in partners:
            who = f"partner {partners[owner.id].name or ''} {partners[owner.id].phone}"
        else:
            found = await container.db.read(lambda uow, i=owner.id: uow.drivers.get(i))
            who = f"driver {found.phone if found else owner.id}"
        balance = await container.ledger.balance(Beneficiary(owner.kind, owner.id))
        said.append(
            f"  {who}: +{format_roubles(amount)}, balance {format_roubles(balance.accrued)}"
        )
    return said
