"""Core's answers as terminal text: buttons become a numbered list, links ``→ label: url``."""

from __future__ import annotations

from core.replies import Answer
from core.texts.catalog import Catalog, RenderedButton

Keyboard = tuple[RenderedButton, ...]


def render(answer: Answer, catalog: Catalog, keyboard: Keyboard) -> tuple[list[str], Keyboard]:
    """The lines to print and the keyboard in force afterwards.

    A reply's keyboard None keeps the one shown before, as a chat app would; the keyboard
    in force is listed after every answer so its numbers are always on screen.
    """
    lines: list[str] = []
    for reply in answer.replies:
        shown = catalog.render(reply, answer.lang)
        lines.extend(shown.text.splitlines() or [""])
        lines.extend(f"→ {link.text}: {link.url}" for link in shown.links)
        if shown.keyboard is not None:
            keyboard = shown.keyboard
    lines.extend(f"[{number}] {button.text}" for number, button in enumerate(keyboard, 1))
    return lines, keyboard
