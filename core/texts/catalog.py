"""Message catalogs (Fluent): every text the product shows lives in ``locales/<lang>/*.ftl``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fluent.runtime import FluentBundle, FluentResource

from core.replies import ACTION_LABELS, Action, Button, ButtonKind, Reply

LOCALES_DIR = Path(__file__).parent / "locales"
DEFAULT_LANG = "ru"


class MissingText(KeyError):
    """A key is absent from the catalog: a bug, caught by the catalog tests."""


@dataclass(frozen=True)
class RenderedButton:
    kind: ButtonKind
    text: str
    action: Action | None


@dataclass(frozen=True)
class RenderedLink:
    text: str
    url: str


@dataclass(frozen=True)
class Rendered:
    text: str
    keyboard: tuple[RenderedButton, ...] | None
    links: tuple[RenderedLink, ...]


class Catalog:
    def __init__(self, locales_dir: Path = LOCALES_DIR, default: str = DEFAULT_LANG) -> None:
        self.default = default
        self._bundles = {
            path.name: _load_bundle(path.name, path) for path in sorted(locales_dir.iterdir())
        }
        # Reply keyboards send the label back as plain text: map every label in every
        # language to its action so a Russian button still works after a language switch.
        self._labels = {
            self.text(lang, key).casefold(): action
            for lang in self._bundles
            for action, key in ACTION_LABELS.items()
        }

    @property
    def languages(self) -> list[str]:
        return list(self._bundles)

    def pick(self, language_code: str | None) -> str:
        """The catalog for a channel's language code ("en-US" -> "en"), else the default."""
        if language_code:
            lang = language_code.split("-")[0].split("_")[0].lower()
            if lang in self._bundles:
                return lang
        return self.default

    def keys(self, lang: str) -> set[str]:
        return set(self._bundles[lang]._messages)

    def text(self, lang: str, key: str, args: Mapping[str, object] | None = None) -> str:
        bundle = self._bundles.get(lang) or self._bundles[self.default]
        message = bundle.get_message(key) if bundle.has_message(key) else None
        if message is None or message.value is None:
            raise MissingText(f"{lang}:{key}")
        text, errors = bundle.format_pattern(message.value, dict(args or {}))
        if errors:
            raise MissingText(f"{lang}:{key}: {errors[0]}")
        return text

    def action_for(self, text: str) -> Action | None:
        return self._labels.get(text.strip().casefold())

    def render(self, reply: Reply, lang: str) -> Rendered:
        keyboard = None
        if reply.keyboard is not None:
            keyboard = tuple(self._button(button, lang) for button in reply.keyboard)
        links = tuple(
            RenderedLink(self.text(lang, link.label, link.args), link.url) for link in reply.links
        )
        return Rendered(self.text(lang, reply.key, reply.args), keyboard, links)

    def _button(self, button: Button, lang: str) -> RenderedButton:
        return RenderedButton(button.kind, self.text(lang, button.label), button.action)


@cache
def _load_bundle(lang: str, path: Path) -> FluentBundle:
    # Isolation marks (U+2068/U+2069) around placeables would end up inside codes and URLs.
    bundle = FluentBundle([lang], use_isolating=False)
    for file in sorted(path.glob("*.ftl")):
        bundle.add_resource(FluentResource(file.read_text(encoding="utf-8")))
    return bundle
