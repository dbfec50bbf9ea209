"""Core's channel-neutral answer -> as few Telegram messages as possible.

Each sendMessage is a round trip, so consecutive replies share one message (texts joined by
a blank line) for as long as only the last reply of the group carries markup: a message has
one markup, and a keyboard or URL buttons belong under the text that asks for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from core.replies import Answer, ButtonKind
from core.texts.catalog import Catalog, Rendered, RenderedButton, RenderedLink

Markup = ReplyKeyboardMarkup | ReplyKeyboardRemove | InlineKeyboardMarkup
# Telegram's limit for one message's text (in UTF-16 units; our texts are BMP Cyrillic
# and Latin, so characters are a safe count).
MAX_TEXT = 4096
_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class Outgoing:
    text: str
    markup: Markup | None = None


def render_answer(answer: Answer, catalog: Catalog) -> list[Outgoing]:
    messages: list[Outgoing] = []
    texts: list[str] = []
    for reply in answer.replies:
        rendered = catalog.render(reply, answer.lang)
        if texts and len(_SEPARATOR.join([*texts, rendered.text])) > MAX_TEXT:
            messages.append(Outgoing(_SEPARATOR.join(texts)))
            texts = []
        texts.append(rendered.text)
        markup = markup_for(rendered)
        if markup is not None:
            messages.append(Outgoing(_SEPARATOR.join(texts), markup))
            texts = []
    if texts:
        messages.append(Outgoing(_SEPARATOR.join(texts)))
    return [_fit(message) for message in messages]


def markup_for(rendered: Rendered) -> Markup | None:
    """None keeps whatever keyboard the chat shows; () in core removes it."""
    return _markup(rendered.keyboard, rendered.links)


# A reply's markup is one of a few dozen (step keyboards and park links per language):
# each is built once, as validating the pydantic models cost as much as the rest of
# rendering. aiogram only reads a markup it sends, so one object serves every message.
@lru_cache(maxsize=512)
def _markup(
    keyboard: tuple[RenderedButton, ...] | None, links: tuple[RenderedLink, ...]
) -> Markup | None:
    if links:
        rows = [[InlineKeyboardButton(text=link.text, url=link.url)] for link in links]
        return InlineKeyboardMarkup(inline_keyboard=rows)
    if keyboard is None:
        return None
    if not keyboard:
        return ReplyKeyboardRemove()
    rows_kb = [
        [
            KeyboardButton(
                text=button.text, request_contact=button.kind is ButtonKind.CONTACT or None
            )
        ]
        for button in keyboard
    ]
    return ReplyKeyboardMarkup(keyboard=rows_kb, resize_keyboard=True)


def _fit(message: Outgoing) -> Outgoing:
    # A single catalog text never comes near the limit; this only guards against a
    # runaway argument so Telegram's "message is too long" cannot drop the whole answer.
    if len(message.text) <= MAX_TEXT:
        return message
    return Outgoing(message.text[: MAX_TEXT - 1] + "…", message.markup)
