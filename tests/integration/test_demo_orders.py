"""``taxireg demo``'s bonus story in process: two drivers register in the terminal chat (the
second with the first's code), ``/orders`` imports the packaged sample orders as the second
driver's, and the first driver's «Мои бонусы» shows the balance grow; a second ``/orders``
changes nothing."""

from __future__ import annotations

import re
from pathlib import Path

from app.bootstrap import build
from app.demo import DEMO_ORDERS, demo_settings, import_demo_orders
from app.sms import LogSms
from bots.terminal.chat import TerminalChat


class Transcript:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: str) -> None:
        self.lines.append(text)

    def since(self, mark: int) -> str:
        return "\n".join(self.lines[mark:])

    def sms_code(self) -> str:
        codes = re.findall(r"\[SMS to [^\]]+\].*?(\d{6})", "\n".join(self.lines))
        return codes[-1]


async def register(chat: TerminalChat, out: Transcript, phone: str, code: str | None) -> str:
    await chat.feed("/new")
    await chat.feed(phone)
    await chat.feed(out.sms_code())
    mark = len(out.lines)
    await chat.feed(code if code else "1")  # the no-code button is the first one
    [own] = re.findall(r"Ваш реферальный код: (\S+)", out.since(mark))
    return own


async def test_orders_command_makes_the_referrers_balance_grow(tmp_path: Path) -> None:
    assert DEMO_ORDERS.is_file()  # package data, next to app/demo.py
    out = Transcript()
    settings = demo_settings(tmp_path, verbose=False, port=1)
    container = await build(settings, sms=LogSms(echo=out))
    try:
        chat = TerminalChat(
            container.registration,
            container.catalog,
            "mos-gortaxi",
            out,
            orders=lambda park, user: import_demo_orders(container, park, user),
        )
        first_code = await register(chat, out, "+79160000501", None)
        first_user = chat.user_id
        mark = len(out.lines)
        await chat.feed("/orders")  # the first driver has no referrer: nobody earns
        assert "Nobody earns from them" in out.since(mark)

        await register(chat, out, "+79160000502", first_code)
        mark = len(out.lines)
        await chat.feed("/orders")
        said = out.since(mark)
        assert "7 completed, 1 cancelled" in said
        # 10 % of the seven completed orders (3 615.00 ₽) to the first driver.
        assert "driver +79160000501: +361.50 ₽, balance 361.50 ₽" in said

        mark = len(out.lines)
        await chat.feed("/orders")
        assert "Nothing changed" in out.since(mark)

        chat.user_id = first_user  # back in the first driver's chat
        mark = len(out.lines)
        await chat.feed("/bonus")
        shown = out.since(mark)
        assert "Баланс: 361.50 ₽" in shown
        assert "Вывести бонусы" in shown  # above the demo's 300 ₽ minimum
    finally:
        await container.aclose()
