"""Core's rendered replies as VK ``messages.send`` parameters (text + keyboard JSON).

Quick replies become a persistent keyboard of Text buttons whose payload names the core
action, so a pressed button is understood whatever its label; links become an inline
keyboard of OpenLink buttons, or plain text lines when they do not fit VK's limits. The
keyboards are built with vkbottle's keyboard builders.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bots.vk.compat import vkbottle
from core.replies import ButtonKind
from core.texts.catalog import Rendered, RenderedButton, RenderedLink

# VK's documented limits; breaking one makes VK refuse the whole message (error 911).
MAX_LABEL = 40
MAX_PAYLOAD = 255
MAX_INLINE_ROWS = 6
MAX_ROWS = 10
MAX_TEXT = 4096

ACTION_KEY = "action"
_SECONDARY = vkbottle.KeyboardButtonColor.SECONDARY


@dataclass(frozen=True)
class VkMessage:
    """What one ``messages.send`` carries besides peer and random id."""

    text: str
    keyboard: str | None  # JSON; None leaves the user's current keyboard as it is


def action_payload(action: str) -> str:
    return json.dumps({ACTION_KEY: action}, separators=(",", ":"))


def render_message(rendered: Rendered, *, link_buttons: bool = True) -> VkMessage:
    """One core reply as a VK message.

    ``link_buttons`` comes from the client's ``client_info``: a client that cannot show
    inline OpenLink buttons gets the links as text lines.
    """
    text = rendered.text
    if rendered.links:
        keyboard = _link_keyboard(rendered.links) if link_buttons else None
        if keyboard is None:
            text = "\n".join([text, *(f"{link.text}: {link.url}" for link in rendered.links)])
        return VkMessage(_clip(text), keyboard)
    if rendered.keyboard is None:
        return VkMessage(_clip(text), None)
    return VkMessage(_clip(text), _reply_keyboard(rendered.keyboard))


def _reply_keyboard(buttons: tuple[RenderedButton, ...]) -> str:
    # One button per row: Russian labels are long and VK cuts them off in narrow rows.
    # Contact buttons are Telegram's; core never asks VK for one, so they are dropped.
    keyboard = vkbottle.Keyboard(one_time=False, inline=False)
    rows = 0
    for button in buttons:
        if button.kind is not ButtonKind.ACTION or button.action is None:
            continue
        payload = action_payload(button.action.value)
        if len(payload) > MAX_PAYLOAD or rows == MAX_ROWS:
            continue
        color = vkbottle.KeyboardButtonColor.PRIMARY if not rows else _SECONDARY
        keyboard.row().add(vkbottle.Text(_label(button.text), payload), color)
        rows += 1
    # An empty keyboard is VK's way of removing the current one.
    return keyboard.get_json()


def _link_keyboard(links: tuple[RenderedLink, ...]) -> str | None:
    if len(links) > MAX_INLINE_ROWS or any(len(link.text) > MAX_LABEL for link in links):
        return None
    keyboard = vkbottle.Keyboard(inline=True)
    for link in links:
        keyboard.row().add(vkbottle.OpenLink(link.url, link.text))
    return keyboard.get_json()


def _label(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
