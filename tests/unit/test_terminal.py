"""The terminal front end on the real app (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import io

import pytest

from app.bootstrap import Container
from bots.terminal.chat import TerminalChat
from bots.terminal.console import MAX_READ, in_thread, pipe_reader
from bots.terminal.parse import MAX_LINE, Local, parse
from core.domain.model import Channel
from core.events import Command, Pressed, Start, Text
from core.replies import Action, ButtonKind
from core.texts.catalog import RenderedButton
from tests.fakes.sms import RecordingSms

NO_CODE = "У меня нет реферального кода"
REDIRECT = (
    "Введённый промо-код не действует в этом боте. Для регистрации перейдите в бот @spb_taxi_bot"
)


class Screen:
    """What the person at the terminal sees."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.mark = 0

    def write(self, text: str) -> None:
        self.lines.extend(text.split("\n"))

    def new(self) -> str:
        """Everything written since the previous call."""
        text = "\n".join(self.lines[self.mark :])
        self.mark = len(self.lines)
        return text


@pytest.fixture
async def codes(container: Container) -> dict[str, str]:
    mos = await container.admin.add_partner("mos", "+79161110001", "Иван")
    spb = await container.admin.add_partner("spb", "+79212220002", "Пётр")
    return {"mos": mos.code, "spb": spb.code}


def chat(container: Container, screen: Screen, park: str = "mos") -> TerminalChat:
    return TerminalChat(container.registration, container.catalog, park, screen.write)


async def confirm_phone(term: TerminalChat, screen: Screen, sms: RecordingSms, phone: str) -> str:
    await term.feed(phone)
    assert "Мы отправили SMS с кодом" in screen.new()
    await term.feed(sms.last_code())
    shown = screen.new()
    assert "Введите реферальный код" in shown
    return shown


async def test_two_registrations_in_one_session(
    container: Container, sms: RecordingSms, codes: dict[str, str]
) -> None:
    screen = Screen()
    term = chat(container, screen)
    await term.open()
    opened = screen.new()
    assert "«Мос ГорТакси»" in opened
    assert "введите номер мобильного телефона" in opened

    shown = await confirm_phone(term, screen, sms, "+7 916 123-45-67")
    assert f"[1] {NO_CODE}" in shown
    await term.feed(codes["mos"])
    shown = screen.new()
    assert "Регистрация завершена!" in shown
    assert "Ваш реферальный код: " in shown
    assert "https://mos-gortaxi.ru/ref?code=" in shown

    first = await container.admin.driver_card("mos", "+79161234567")
    assert first.driver.entered_code == codes["mos"]
    assert first.driver.channel is Channel.TERMINAL
    assert [i.channel for i in first.identities] == [Channel.TERMINAL]

    assert await term.feed("/new")
    assert "terminal user" in screen.new()
    await confirm_phone(term, screen, sms, "89161234568")
    await term.feed(codes["spb"])  # the other park's partner code
    shown = screen.new()
    assert REDIRECT in shown
    assert "→ Открыть @spb_taxi_bot: https://t.me/spb_taxi_bot" in shown
    assert f"[1] {NO_CODE}" in shown  # the keyboard stays usable
    await term.feed("1")
    assert "Регистрация завершена!" in screen.new()

    second = await container.admin.driver_card("mos", "+79161234568")
    assert second.driver.entered_code is None
    assert second.referrer_name is None
    assert second.identities[0].user_id != first.identities[0].user_id


async def test_junk_never_breaks_the_chat(container: Container, codes: dict[str, str]) -> None:
    screen = Screen()
    term = chat(container, screen)
    await term.open()
    screen.new()
    for junk in ("x" * 10_000, "\x00\x1b[31m\x7f", "9", "/", "/nosuchcommand", "   ", "🚕" * 3000):
        assert await term.feed(junk)
    shown = screen.new()
    assert "Не получилось распознать номер" in shown
    assert "internal error" not in shown
    assert await term.feed("/park nowhere")
    assert "no park 'nowhere'; parks: mos, spb" in screen.new()
    assert await term.feed("/park")
    assert "usage: /park SLUG" in screen.new()
    assert await term.feed("/park spb")
    assert "«Питер Такси»" in screen.new()
    assert await term.feed("/help")
    shown = screen.new()
    assert "/new" in shown
    assert "Этот бот регистрирует водителей таксопарка «Питер Такси»" in shown
    assert not await term.feed("/quit")
    assert await container.admin.list_partners() != []  # the database is still usable


async def test_run_reads_until_quit(container: Container) -> None:
    screen = Screen()
    term = chat(container, screen)
    lines = iter(["/help", "/quit", "never read"])
    await term.run(in_thread(lambda: next(lines, None)))
    assert next(lines) == "never read"


async def test_unknown_park_at_start_is_refused(container: Container) -> None:
    from core.domain.errors import UnknownPark

    with pytest.raises(UnknownPark):
        chat(container, Screen(), park="nowhere")


def test_parse_maps_buttons_commands_and_text() -> None:
    keyboard = (
        RenderedButton(ButtonKind.ACTION, "Отправить код ещё раз", Action.RESEND_SMS),
        RenderedButton(ButtonKind.ACTION, "Изменить номер", Action.CHANGE_PHONE),
    )
    assert parse("2", keyboard) == Pressed(Action.CHANGE_PHONE)
    assert parse(" 1 ", keyboard) == Pressed(Action.RESEND_SMS)
    assert parse("3", keyboard) == Text("3")  # no such button: plain text for core
    assert parse("1", ()) == Text("1")
    assert parse("/start a74t-src", ()) == Start("a74t-src")
    assert parse("/start", ()) == Start(None)
    assert parse("/Code@mos_gortaxi_bot", ()) == Command("code")
    assert parse("/park spb", ()) == Local("park", "spb")
    assert parse("/exit", ()) == Local("quit")
    assert parse("/", ()) == Command("")
    assert parse("", ()) is None
    assert parse("\x00\x01", ()) is None
    long = parse("7" * 100_000, ())
    assert isinstance(long, Text)
    assert len(long.text) == MAX_LINE


def test_pipe_reader_survives_bad_bytes_and_huge_lines() -> None:
    data = b"\xff\xfe bad\r\n" + b"a" * (MAX_READ * 3) + b"\nnext\nlast-without-newline"
    echoed: list[str] = []
    read = pipe_reader(io.BytesIO(data), echoed.append)
    assert read() == "\ufffd\ufffd bad"
    assert read() == "a" * MAX_READ  # the rest of the huge line is skipped, not a new line
    assert read() == "next"
    assert read() == "last-without-newline"
    assert read() is None
    assert echoed[0] == "> \ufffd\ufffd bad"
    assert len(echoed[1]) < 300
