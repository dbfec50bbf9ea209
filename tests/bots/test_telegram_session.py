"""bots.telegram.session: response models built once, close without aiogram's SSL pause,
forms encoded as aiogram encodes them."""

from __future__ import annotations

import gc
import weakref
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram import Bot
from aiogram.methods import (
    AnswerCallbackQuery,
    AnswerInlineQuery,
    GetUpdates,
    Response,
    RestrictChatMember,
    SendMessage,
    SendPhoto,
    SetMyCommands,
    TelegramMethod,
)
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    ChatPermissions,
    GameHighScore,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bots.telegram.session import SharedSession, make_session
from tests.fakes.telegram_server import FakeTelegram

TOKEN = "333:session-test"


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        fake.add_bot(TOKEN, "session_bot")
        yield fake


def test_pydantic_drops_unreferenced_response_models() -> None:
    # Why session.py keeps them: pydantic caches a parametrised model only weakly, so a
    # collection frees it and the next Response[T] builds a new class. Should pydantic
    # ever keep them itself, this fails and the workaround can go.
    built = weakref.ref(Response[list[GameHighScore]])
    gc.collect()
    assert built() is None


async def test_response_model_survives_collection_once_a_reply_was_read(
    server: FakeTelegram,
) -> None:
    bot = Bot(TOKEN, session=make_session(server.base_url))
    try:
        sent = await bot.send_message(42, "hello")
    finally:
        await bot.session.close()
    assert isinstance(sent, Message)
    assert sent.text == "hello"
    kept = weakref.ref(Response[Message])
    gc.collect()
    # The class check_response used is still there: the next reply does not rebuild it.
    assert kept() is not None
    assert Response[Message] is kept()


async def test_close_closes_the_http_session_and_a_later_call_opens_a_new_one(
    server: FakeTelegram,
) -> None:
    session = make_session(server.base_url)
    bot = Bot(TOKEN, session=session)
    await bot.get_me()
    client = await session.create_session()
    await session.close()
    await session.close()  # a second close is harmless
    assert client.closed
    me = await bot.get_me()
    assert me.username == "session_bot"
    assert (await session.create_session()) is not client
    await session.close()


def _aiogram_fields(bot: Bot, method: TelegramMethod[Any]) -> list[tuple[str, str]]:
    """What aiogram's own ``build_form_data`` puts into the form (its loop, verbatim)."""
    files: dict[str, Any] = {}
    fields = []
    for key, value in method.model_dump(warnings=False).items():
        prepared = bot.session.prepare_value(value, bot=bot, files=files)
        if prepared:
            fields.append((key, prepared))
    return fields


_KEYBOARD = ReplyKeyboardMarkup(
    keyboard=[
        [KeyboardButton(text="Поделиться номером", request_contact=True)],
        [KeyboardButton(text="null")],  # a None-looking text takes aiogram's own walk
    ],
    resize_keyboard=True,
)
_METHODS: list[TelegramMethod[Any]] = [
    SendMessage(chat_id=42, text="Регистрация завершена!", reply_markup=_KEYBOARD),
    SendMessage(chat_id=42, text="hi", reply_markup=ReplyKeyboardRemove()),
    SendMessage(
        chat_id=-100,
        text="<b>x</b>",
        parse_mode="HTML",
        disable_notification=False,
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="Открыть", url="https://t.me/x_bot")]]
        ),
    ),
    GetUpdates(offset=7, timeout=10, allowed_updates=["message", "callback_query"]),
    SetMyCommands(
        commands=[BotCommand(command="start", description="Начать")], language_code="en"
    ),
    AnswerCallbackQuery(callback_query_id="1"),
    # Nested values JSON cannot hold as they are: aiogram's walk encodes them.
    RestrictChatMember(
        chat_id=1,
        user_id=2,
        permissions=ChatPermissions(can_send_messages=False),
        until_date=datetime(2030, 1, 1, tzinfo=UTC),
    ),
    AnswerInlineQuery(
        inline_query_id="q",
        results=[
            InlineQueryResultArticle(
                id="1",
                title="t",
                input_message_content=InputTextMessageContent(message_text="x"),
            )
        ],
    ),
]


@pytest.mark.parametrize("method", _METHODS, ids=lambda m: type(m).__name__)
def test_form_fields_are_aiogrammed_exactly(method: TelegramMethod[Any]) -> None:
    bot = Bot(TOKEN, session=make_session("http://127.0.0.1:9"))
    session = bot.session
    assert isinstance(session, SharedSession)
    assert session.form_fields(bot, method) == _aiogram_fields(bot, method)


def test_a_request_with_a_file_is_left_to_aiogram() -> None:
    bot = Bot(TOKEN, session=make_session("http://127.0.0.1:9"))
    session = bot.session
    assert isinstance(session, SharedSession)
    photo = SendPhoto(chat_id=1, photo=BufferedInputFile(b"png", filename="a.png"))
    assert session.form_fields(bot, photo) is None


async def test_a_keyboard_reaches_the_server_as_aiogram_sends_it(server: FakeTelegram) -> None:
    bot = Bot(TOKEN, session=make_session(server.base_url))
    try:
        await bot.send_message(42, "Регистрация завершена!", reply_markup=_KEYBOARD)
    finally:
        await bot.session.close()
    [sent] = server.calls("sendMessage", token=TOKEN)
    assert sent.params["text"] == "Регистрация завершена!"
    assert sent.params["reply_markup"] == {
        "keyboard": [
            [{"text": "Поделиться номером", "request_contact": True}],
            [{"text": "null"}],
        ],
        "resize_keyboard": True,
    }
