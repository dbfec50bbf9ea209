"""VK update dicts -> core events, core replies -> VK messages (no network)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bots.vk.incoming import VkIncoming, to_events
from bots.vk.render import MAX_LABEL, render_message
from bots.vk.sender import describe, random_id
from core.events import Pressed, Start, Text, Unsupported
from core.replies import Action, Button, Link, Reply
from core.texts import Catalog
from tests.fakes import vk_updates


def parse(event: dict[str, Any]) -> VkIncoming:
    message = VkIncoming.from_update(event["object"])
    assert message is not None
    return message


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (vk_updates.message_new(1, "+7 916 123-45-67"), [Text("+7 916 123-45-67")]),
        (vk_updates.message_new(1, "Начать", payload={"command": "start"}), [Start()]),
        (
            vk_updates.message_new(1, "Начать", payload={"command": "start"}, ref="a74t"),
            [Start("a74t")],
        ),
        (
            vk_updates.message_new(1, "89161234567", ref="a74t", ref_source="qr"),
            [Start("a74t", "qr"), Text("89161234567")],
        ),
        (vk_updates.message_new(1, "x", payload={"action": "no_code"}), [Pressed(Action.NO_CODE)]),
        (vk_updates.message_new(1, "x", payload={"action": "old"}), [Unsupported("stale_button")]),
        (vk_updates.message_new(1, "x", payload={"button": "1"}), [Unsupported("stale_button")]),
        (vk_updates.message_new(1, "x", payload="not json"), [Unsupported("stale_button")]),
        (vk_updates.sticker(1), [Unsupported("sticker")]),
        (vk_updates.photo(1, text="89161234567"), [Unsupported("photo")]),
        (vk_updates.message_new(1, "   "), [Unsupported("empty")]),
    ],
)
def test_events(event: dict[str, Any], expected: list[object]) -> None:
    assert to_events(parse(event)) == expected


def test_sticker_after_a_ref_link_still_opens_the_link() -> None:
    event = vk_updates.sticker(1)
    event["object"]["message"]["ref"] = "a74t"
    assert to_events(parse(event)) == [Start("a74t")]


def test_message_fields() -> None:
    message = parse(vk_updates.message_new(42, "hi", lang_id=3))
    assert (message.peer_id, message.from_id, message.language, message.is_chat) == (
        42,
        42,
        "en",
        False,
    )
    assert message.number is not None
    chat = parse(vk_updates.chat_message(from_id=42, text="hi"))
    assert chat.is_chat
    assert chat.from_id == 42
    assert chat.number is not None  # the conversation number: chats have no message id


@pytest.mark.parametrize("obj", [{}, {"message": None}, {"message": {"text": "no peer"}}])
def test_malformed_updates_are_refused(obj: dict[str, Any]) -> None:
    assert VkIncoming.from_update(obj) is None


def test_client_without_link_buttons() -> None:
    event = vk_updates.message_new(1, "hi")
    event["object"]["client_info"]["button_actions"] = ["text"]
    assert parse(event).link_buttons is False


CATALOG = Catalog()


def test_action_keyboard_carries_the_action_in_the_payload() -> None:
    reply = Reply("otp-expired", keyboard=(Button.of(Action.RESEND_SMS), Button.contact()))
    message = render_message(CATALOG.render(reply, "ru"))
    assert message.keyboard is not None
    keyboard = json.loads(message.keyboard)
    assert keyboard["inline"] is False
    [[button]] = keyboard["buttons"]  # the Telegram-only contact button is dropped
    assert button["action"] == {
        "type": "text",
        "label": "Отправить код ещё раз",
        "payload": '{"action":"resend_sms"}',
    }


def test_empty_keyboard_removes_it_and_none_leaves_it() -> None:
    removed = render_message(CATALOG.render(Reply("phone-ask-typed", keyboard=()), "ru"))
    assert removed.keyboard is not None
    assert json.loads(removed.keyboard)["buttons"] == []
    assert render_message(CATALOG.render(Reply("registered"), "ru")).keyboard is None


def test_links_become_inline_buttons_or_text_lines() -> None:
    reply = Reply(
        "code-other-park",
        {"bot": "spb_taxi_bot"},
        links=(Link("link-open-bot", "https://t.me/spb_taxi_bot", {"bot": "spb_taxi_bot"}),),
    )
    as_buttons = render_message(CATALOG.render(reply, "ru"))
    assert as_buttons.keyboard is not None
    assert json.loads(as_buttons.keyboard)["inline"] is True

    as_text = render_message(CATALOG.render(reply, "ru"), link_buttons=False)
    assert as_text.keyboard is None
    assert as_text.text.endswith("Открыть @spb_taxi_bot: https://t.me/spb_taxi_bot")

    long_bot = "a" * 32  # "Открыть @" + 32 letters is over VK's 40-character label limit
    reply = Reply(
        "code-other-park",
        {"bot": long_bot},
        links=(Link("link-open-bot", f"https://t.me/{long_bot}", {"bot": long_bot}),),
    )
    too_long = render_message(CATALOG.render(reply, "ru"))
    assert too_long.keyboard is None
    assert too_long.text.endswith(f"https://t.me/{long_bot}")


def test_long_labels_are_cut_to_vk_limit() -> None:
    for lang in CATALOG.languages:
        for action in Action:
            message = render_message(
                CATALOG.render(Reply("menu", keyboard=(Button.of(action),)), lang)
            )
            assert message.keyboard is not None
            [[button]] = json.loads(message.keyboard)["buttons"]
            assert len(button["action"]["label"]) <= MAX_LABEL


def test_random_ids_are_stable_distinct_and_non_zero() -> None:
    ids = {random_id(1001, 5, 77, index) for index in range(50)}
    assert len(ids) == 50
    assert 0 not in ids
    assert random_id(1001, 5, 77, 0) == random_id(1001, 5, 77, 0)
    assert random_id(1001, 5, 77, 0) != random_id(1001, 6, 77, 0)
    assert all(0 < i < 2**31 for i in ids)
    assert random_id(1001, 5, None, 0) == 0


def test_describe_hides_tokens() -> None:
    error = RuntimeError("GET https://api.vk.com/method/x?access_token=vk1.secret&v=5.199 failed")
    assert "vk1.secret" not in describe(error)
    assert "access_token=***" in describe(error)
