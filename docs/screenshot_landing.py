"""Regenerate ``docs/landing.png``, README's picture of the landing page.

    .venv/bin/python docs/screenshot_landing.py

A park with a Telegram bot, a VK community and both app stores, one partner, the real web
app on a free loopback port over a throwaway SQLite database, and Debian's headless
chromium (``/usr/bin/chromium``) driven by Playwright at a phone's size.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.bootstrap import build  # noqa: E402
from app.demo import free_port  # noqa: E402
from app.settings import load_settings  # noqa: E402
from app.wiring_web import WebPart, app_links, web_app, web_options  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
OUTPUT = ROOT / "docs" / "landing.png"


async def main() -> None:
    from playwright.async_api import async_playwright

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data_dir:
        settings = load_settings(
            None,
            data_dir=data_dir,
            web={"host": "127.0.0.1", "port": port, "public_url": base},
            parks=[
                {
                    "slug": "mos-gortaxi",
                    "name": "Мос ГорТакси",
                    "landing_url": f"{base}/ref",
                    "telegram_username": "mos_gortaxi_bot",
                    "vk_group_id": 1001,
                    "vk_screen_name": "mosgortaxi",
                    "app_store_url": "https://apps.apple.com/app/id1234567890",
                    "play_store_url": "https://play.google.com/store/apps/details?id=ru.mgt",
                }
            ],
        )
        assert settings.web is not None
        container = await build(settings)
        try:
            partner = await container.admin.add_partner("mos-gortaxi", "+79161112233", "Анна")
            options = web_options(settings.web)
            app = web_app(container, options, apps=app_links(settings.parks))
            part = WebPart(app, options)
            await part.start()
            try:
                async with async_playwright() as playwright:
                    browser = await playwright.chromium.launch(
                        executable_path=CHROMIUM, args=["--headless", "--no-sandbox"]
                    )
                    page = await browser.new_page(
                        viewport={"width": 420, "height": 860}, locale="ru-RU"
                    )
                    await page.goto(f"{base}/ref?code={partner.code}&src=flyer")
                    await page.screenshot(path=str(OUTPUT), full_page=True)
                    await browser.close()
            finally:
                await part.stop()
        finally:
            await container.aclose()
    print(OUTPUT)


if __name__ == "__main__":
    asyncio.run(main())
