"""The landing page in real headless Chromium (Debian's package, driven by Playwright).

The server is the real uvicorn on 127.0.0.1 over a real database; nothing is mocked.
"""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import zxingcpp
from PIL import Image
from playwright.async_api import Browser, async_playwright

from core.domain.codes import normalize_payload
from tests.web.conftest import STORES, Web

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

if not CHROMIUM.exists():
    # CI installs Debian's chromium (.ci/run); there a missing browser is a failure.
    if os.environ.get("CI"):
        raise RuntimeError("chromium is missing: .ci/run should have installed it")
    pytest.skip("no /usr/bin/chromium (apt-get install chromium)", allow_module_level=True)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


def decode_qr(png: bytes) -> list[str]:
    image = Image.open(io.BytesIO(png)).convert("L")
    return [result.text for result in zxingcpp.read_barcodes(image)]


async def test_buttons_carry_the_code_and_source_and_the_qr_is_the_page(
    web: Web, browser: Browser
) -> None:
    code = web.codes["mos"]
    url = web.page(code, "flyer_42")
    page = await browser.new_page(
        locale="ru-RU", viewport={"width": 390, "height": 844}, device_scale_factor=2
    )
    response = await page.goto(url)
    assert response is not None
    assert response.status == 200
    assert await page.locator("h1").inner_text() == "Таксопарк «Мос ГорТакси»"
    assert await page.locator("#code").inner_text() == code

    telegram = await page.locator("#telegram").get_attribute("href")
    assert telegram == f"https://t.me/mos_gortaxi_bot?start={code}-flyer_42"
    # What the bot does with that payload: the same code and source come back out.
    start = parse_qs(urlsplit(telegram).query)["start"][0]
    assert normalize_payload(start) == (code, "flyer_42")
    assert await page.locator("#telegram").inner_text() == "Открыть в Telegram"

    vk = await page.locator("#vk").get_attribute("href")
    assert vk is not None
    assert vk.startswith("https://vk.me/mosgortaxi?")
    assert parse_qs(urlsplit(vk).query) == {"ref": [code], "ref_source": ["flyer_42"]}
    assert await page.locator("#vk").inner_text() == "Открыть во ВКонтакте"
    assert await page.locator("#app-store").get_attribute("href") == STORES.app_store_url
    assert await page.locator("#play-store").get_attribute("href") == STORES.play_store_url

    # No request left the page for anything but the page itself.
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.reload()
    assert requested == [url]

    # The QR code on screen decodes back to the page's own URL.
    qr_png = await page.locator("#qr svg").screenshot()
    assert decode_qr(qr_png) == [url]

    # A non-blank screenshot: the page painted more than one colour over a real area.
    shot = Image.open(io.BytesIO(await page.screenshot(full_page=True))).convert("L")
    low, high = shot.getextrema()
    assert high - low > 100
    histogram = shot.histogram()
    assert max(histogram) < 0.97 * sum(histogram)
    await page.close()


async def test_copy_button_puts_the_code_on_the_clipboard(web: Web, browser: Browser) -> None:
    code = web.codes["spb"]
    context = await browser.new_context(locale="ru-RU")
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=web.base)
    page = await context.new_page()
    await page.goto(web.page(code))
    await page.locator("#copy").click()
    copied = "document.getElementById('copy').textContent === 'Код скопирован'"
    await page.wait_for_function(copied)
    assert await page.evaluate("navigator.clipboard.readText()") == code
    # spb has no VK screen name: the community link is made from its group id.
    vk = await page.locator("#vk").get_attribute("href")
    assert vk == f"https://vk.me/club2002?ref={code}"
    # No store links configured for spb: no store buttons, no app hint.
    assert await page.locator("#app-store").count() == 0
    assert await page.locator(".hint").count() == 0
    await context.close()


async def test_english_by_accept_language(web: Web, browser: Browser) -> None:
    context = await browser.new_context(locale="en-US")
    page = await context.new_page()
    await page.goto(web.page(web.codes["mos"]))
    assert await page.locator("#telegram").inner_text() == "Open in Telegram"
    assert await page.evaluate("document.documentElement.lang") == "en"
    await context.close()


async def test_unknown_and_deactivated_codes_get_the_404_page(web: Web, browser: Browser) -> None:
    page = await browser.new_page(locale="ru-RU")
    response = await page.goto(web.page("zzzz9999"))
    assert response is not None
    assert response.status == 404
    assert await page.locator("h1").inner_text() == "Реферальный код не найден"
    # The visitor came to no park's site: every park's bots are offered, without a code.
    assert (
        await page.locator("#telegram-mos").get_attribute("href") == "https://t.me/mos_gortaxi_bot"
    )
    assert await page.locator("#telegram-spb").get_attribute("href") == "https://t.me/spb_taxi_bot"
    assert await page.locator("#code").count() == 0

    response = await page.goto(web.page(web.codes["inactive"]))
    assert response is not None
    assert response.status == 404
    assert await page.locator("h1").inner_text() == "Реферальный код не действует"
    # A deactivated code's park is known: only its bots.
    assert (
        await page.locator("#telegram-mos").get_attribute("href") == "https://t.me/mos_gortaxi_bot"
    )
    assert await page.locator("#vk-mos").get_attribute("href") == "https://vk.me/mosgortaxi"
    assert await page.locator("#telegram-spb").count() == 0
    await page.close()
