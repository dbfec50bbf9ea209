"""Every text key the code uses exists in every language, with the spec's phrases verbatim."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.replies import ACTION_LABELS, Action, Button, Reply
from core.texts import Catalog

ROOT = Path(__file__).resolve().parents[2]
# Reply("key"...), Link("key"...), .text(lang, "key"...), render_key("key") and the like.
KEY_USES = re.compile(
    r"""(?:Reply|Link|\.text|_text|text_key|Rendered)\(\s*(?:[a-z_.]+,\s*)?["']([a-z0-9-]+)["']"""
)


def used_keys() -> set[str]:
    keys = set(ACTION_LABELS.values())
    for folder in ("core", "bots", "scheduler", "app"):
        for path in (ROOT / folder).rglob("*.py"):
            keys |= set(KEY_USES.findall(path.read_text(encoding="utf-8")))
    return keys


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog()


def test_languages_have_the_same_keys(catalog: Catalog) -> None:
    assert set(catalog.languages) >= {"ru", "en"}
    assert catalog.keys("ru") == catalog.keys("en")


def test_every_key_used_in_code_exists(catalog: Catalog) -> None:
    keys = used_keys()
    assert "ask-referral-code" in keys  # the scan works
    for lang in catalog.languages:
        assert keys - catalog.keys(lang) == set(), lang


def test_spec_phrases_are_verbatim(catalog: Catalog) -> None:
    assert catalog.text("ru", "ask-referral-code") == (
        "Введите реферальный код, если он у вас есть "
        '(нажмите кнопку "У меня нет реферального кода", если кода нет)'
    )
    assert catalog.text("ru", "btn-no-code") == "У меня нет реферального кода"
    assert catalog.text("ru", "code-other-park", {"bot": "taxoparkbot"}) == (
        "Введённый промо-код не действует в этом боте. "
        "Для регистрации перейдите в бот @taxoparkbot"
    )
    assert catalog.text(
        "ru", "driver-code", {"code": "a74t", "url": "https://mos-gortaxi.ru/ref?code=a74t"}
    ) == (
        "Ваш реферальный код: a74t\n"
        "Ссылки для регистрации в приложениях и ботах: https://mos-gortaxi.ru/ref?code=a74t"
    )


def test_labels_map_back_to_actions_in_any_language(catalog: Catalog) -> None:
    for action in Action:
        for lang in catalog.languages:
            label = catalog.render(Reply("menu", keyboard=(Button.of(action),)), lang)
            assert label.keyboard is not None
            assert catalog.action_for(label.keyboard[0].text) is action
    assert catalog.action_for("something else") is None


def test_language_is_picked_from_the_channel(catalog: Catalog) -> None:
    assert catalog.pick("en-US") == "en"
    assert catalog.pick("ru") == "ru"
    assert catalog.pick("de") == "ru"
    assert catalog.pick(None) == "ru"


def test_no_isolation_marks_around_codes(catalog: Catalog) -> None:
    text = catalog.text("ru", "code-accepted", {"code": "a74t"})
    assert "\u2068" not in text
    assert "a74t" in text
