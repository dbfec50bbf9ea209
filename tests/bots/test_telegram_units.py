"""The pure parts of the Telegram front end: message merging, event mapping, user locks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiogram.types import (
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)

from bots.telegram.incoming import event_for_message
from bots.telegram.middlewares import PerUserOrder
from bots.telegram.render import MAX_TEXT, render_answer
from core.events import Command, ContactShared, Start, Text, Unsupported
from core.replies import Action, Answer, Button, Link, Reply
from core.texts import Catalog
from tests.fakes import telegram_updates as tg

CATALOG = Catalog()


def render(*replies: Reply) -> list[tuple[str, Any]]:
    return [(m.text, m.markup) for m in render_answer(Answer("ru", replies), CATALOG)]


def test_replies_merge_until_one_carries_markup() -> None:
    [(text, markup)] = render(
        Reply("welcome", {"park": "P"}),
        Reply("welcome-with-code", {"code": "a74t"}),
        Reply("phone-ask-contact", keyboard=(Button.contact(),)),
    )
    assert text.count("\n\n") == 2
    assert isinstance(markup, ReplyKeyboardMarkup)
    assert markup.keyboard[0][0].request_contact is True


def test_markup_ends_a_message() -> None:
    link = Link("link-open-bot", "https://t.me/spb_taxi_bot", {"bot": "spb_taxi_bot"})
    messages = render(
        Reply("welcome", {"park": "P"}),
        Reply("code-other-park", {"bot": "spb_taxi_bot"}, links=(link,)),
        Reply("ask-referral-code", keyboard=(Button.of(Action.NO_CODE),)),
        Reply("unsupported"),
    )
    assert len(messages) == 3
    assert isinstance(messages[0][1], InlineKeyboardMarkup)
    assert messages[0][1].inline_keyboard[0][0].url == "https://t.me/spb_taxi_bot"
    assert isinstance(messages[1][1], ReplyKeyboardMarkup)
    assert messages[2] == (CATALOG.text("ru", "unsupported"), None)


def test_empty_keyboard_removes_and_none_leaves_it() -> None:
    [(_, removed)] = render(Reply("phone-invalid", keyboard=()))
    assert isinstance(removed, ReplyKeyboardRemove)
    [(_, kept)] = render(Reply("registered"))
    assert kept is None
    assert render() == []


def test_a_group_longer_than_one_message_is_split() -> None:
    long = Reply("help", {"park": "x" * 900})  # Fluent caps an argument at 1000 chars
    messages = render(*[long] * 5)
    assert len(messages) == 2
    assert all(len(text) <= MAX_TEXT for text, _ in messages)
    assert sum(text.count("x" * 900) for text, _ in messages) == 5


def message(update: dict[str, Any]) -> Message:
    parsed = Update.model_validate({**update, "update_id": 1})
    assert parsed.message is not None
    return parsed.message


@pytest.mark.parametrize(
    ("update", "event"),
    [
        (tg.message(1, "/start"), Start(None)),
        (tg.message(1, "/start a74t-src1"), Start("a74t-src1")),
        (tg.message(1, "/start@mos_gortaxi_bot a74t"), Start("a74t")),
        (tg.message(1, "/CODE"), Command("code")),
        (tg.message(1, "/settings@mos_gortaxi_bot"), Command("settings")),
        (tg.message(1, "/"), Command("")),
        (tg.message(1, "a74t"), Text("a74t")),
        (tg.contact(1, "79161234567"), ContactShared("79161234567", True)),
        (tg.contact(1, "79161234567", contact_user_id=2), ContactShared("79161234567", False)),
        (tg.sticker(1), Unsupported("sticker")),
        (tg.photo(1), Unsupported("photo")),
        (tg.voice(1), Unsupported("voice")),
        (tg.location(1), Unsupported("location")),
    ],
)
def test_messages_map_to_core_events(update: dict[str, Any], event: object) -> None:
    assert event_for_message(message(update)) == event


def test_huge_text_is_cut_to_telegrams_limit() -> None:
    event = event_for_message(message(tg.message(1, "я" * 10_000)))
    assert isinstance(event, Text)
    assert len(event.text) == 4096


class _Bot:
    id = 111


async def test_per_user_lock_orders_one_user_and_frees_its_lock() -> None:
    order = PerUserOrder()
    log: list[str] = []
    release = asyncio.Event()

    async def slow(event: Any, data: dict[str, Any]) -> None:
        log.append(f"start {event}")
        await release.wait()
        log.append(f"end {event}")

    async def fast(event: Any, data: dict[str, Any]) -> None:
        log.append(f"start {event}")
        log.append(f"end {event}")

    user_a, user_b = tg.user(1), tg.user(2)

    def data(user: dict[str, Any]) -> dict[str, Any]:
        from aiogram.types import User

        return {"bot": _Bot(), "event_from_user": User.model_validate(user)}

    first = asyncio.create_task(order(slow, "a1", data(user_a)))
    second = asyncio.create_task(order(fast, "a2", data(user_a)))
    other = asyncio.create_task(order(fast, "b1", data(user_b)))
    await other  # another user is not held up
    assert log == ["start a1", "start b1", "end b1"]
    assert len(order) == 1
    release.set()
    await asyncio.gather(first, second)
    assert log[3:] == ["end a1", "start a2", "end a2"]
    assert len(order) == 0  # no lock kept for idle users
