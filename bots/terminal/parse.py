"""A typed line -> a core event, or a command for the terminal itself."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bots.terminal.render import Keyboard
from core.events import Command, Event, Pressed, Start, Text
from core.replies import ButtonKind

# Telegram's limit for one message; a longer paste is cut rather than refused.
MAX_LINE = 4096
LOCAL_COMMANDS = frozenset({"quit", "exit", "new", "park", "help", "orders"})
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Local:
    """A terminal command (``/new``, ``/park SLUG``, ``/help``, ``/quit``, ``/orders``)."""

    name: str
    arg: str | None = None


def clean(line: str) -> str:
    return _CONTROL.sub("", line[:MAX_LINE]).strip()


def parse(line: str, keyboard: Keyboard) -> Event | Local | None:
    """None for a blank line; a number of a shown button presses it."""
    text = clean(line)
    if not text:
        return None
    if text.isdigit() and 1 <= int(text) <= len(keyboard):
        button = keyboard[int(text) - 1]
        if button.kind is ButtonKind.ACTION and button.action is not None:
            return Pressed(button.action)
        return Text(button.text)  # a reply keyboard sends its label as text
    if text.startswith("/"):
        # A lone "/" is an empty command (core answers it with the current prompt).
        name, _, rest = text[1:].partition(" ")
        name = name.split("@")[0].lower()
        arg = rest.strip() or None
        if name in LOCAL_COMMANDS:
            return Local("quit" if name == "exit" else name, arg)
        if name == "start":
            return Start(arg)
        return Command(name)
    return Text(text)
