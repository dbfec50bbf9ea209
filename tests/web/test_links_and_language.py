"""Link building, the source tag and the page language: total on any input, and what the
bots parse back out of a link is exactly what the page put in."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from core.domain.codes import ALPHABET, normalize_code, normalize_payload
from core.domain.landing import (
    SOURCE_TAG,
    TELEGRAM_PAYLOAD,
    AppLinks,
    landing_links,
    source_tag,
)
from core.domain.model import Park
from core.texts import Catalog
from web.language import pick_language

PARK = Park(
    "mos",
    "Мос ГорТакси",
    "https://mos-gortaxi.ru/ref",
    telegram_username="mos_gortaxi_bot",
    vk_group_id=1001,
    vk_screen_name="mosgortaxi",
)
BARE = Park("bare", "Без ботов", "https://bare.example/ref?x=1")
codes = st.text(alphabet=ALPHABET, min_size=4, max_size=12)
TELEGRAM_START = re.compile(r"[A-Za-z0-9_-]{1,64}")


@given(st.text())
def test_source_tag_is_total_and_fits_every_channel(raw: str) -> None:
    tag = source_tag(raw)
    if tag is not None:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", tag)
        assert len(tag) <= SOURCE_TAG
        assert source_tag(tag) == tag  # idempotent


@given(codes, st.one_of(st.none(), st.text()))
def test_links_carry_code_and_source_back_to_the_bots(code: str, raw_src: str | None) -> None:
    src = source_tag(raw_src)
    links = landing_links(PARK, code, src, public_url="https://taxireg.example/")
    start = parse_qs(urlsplit(links.telegram or "").query)["start"][0]
    assert TELEGRAM_START.fullmatch(start)
    assert len(start) <= TELEGRAM_PAYLOAD
    # What the Telegram bot parses from /start <payload>:
    assert normalize_payload(start) == (code, src)
    # What the VK bot gets as ref / ref_source:
    vk = parse_qs(urlsplit(links.vk or "").query)
    assert vk["ref"] == [code]
    assert vk.get("ref_source") == ([src] if src else None)
    # The page under the public URL, readable by the same parser a pasted link goes through.
    page = urlsplit(links.page)
    assert (page.scheme, page.netloc, page.path) == ("https", "taxireg.example", "/ref")
    assert normalize_code(links.page) == code
    assert parse_qs(page.query).get("src") == ([src] if src else None)


def test_without_public_url_the_parks_own_landing_and_no_bots() -> None:
    links = landing_links(BARE, "a74t", None, apps=AppLinks(play_store_url="https://play/x"))
    assert links.page == "https://bare.example/ref?x=1&code=a74t"
    assert (links.telegram, links.vk, links.app_store) == (None, None, None)
    assert links.play_store == "https://play/x"


def test_language_by_accept_language() -> None:
    langs = ["en", "ru"]
    assert pick_language(None, langs, "ru") == "ru"
    assert pick_language("en-US,en;q=0.9", langs, "ru") == "en"
    assert pick_language("de-DE,de;q=0.9,en;q=0.5,ru;q=0.4", langs, "ru") == "en"
    assert pick_language("en;q=0.3,ru;q=0.8", langs, "ru") == "ru"
    assert pick_language("en;q=0", langs, "ru") == "ru"
    assert pick_language("fr", langs, "ru") == "ru"
    assert pick_language("EN", langs, "ru") == "en"


@given(st.text())
def test_language_picker_is_total(header: str) -> None:
    assert pick_language(header, ["en", "ru"], "ru") in {"en", "ru"}


def test_every_web_text_key_exists_in_every_language() -> None:
    catalog = Catalog()
    root = Path(__file__).resolve().parents[2] / "web"
    used = {
        key
        for path in root.rglob("*.py")
        for key in re.findall(r"""["'](web-[a-z0-9-]+)["']""", path.read_text(encoding="utf-8"))
    }
    assert "web-open-telegram" in used  # the scan works
    for lang in catalog.languages:
        assert used <= catalog.keys(lang), lang
    assert catalog.text("ru", "web-open-telegram") == "Открыть в Telegram"
    assert catalog.text("ru", "web-open-vk") == "Открыть во ВКонтакте"
