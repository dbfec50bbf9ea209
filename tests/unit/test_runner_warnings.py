from __future__ import annotations

import logging

import pytest

from app.runner import warn_about_settings
from app.settings import load_settings

VK_PARK = {
    "slug": "mos",
    "name": "Мос",
    "landing_url": "https://mos-gortaxi.ru/ref",
    "vk_group_id": 1001,
    "vk_token": "vk-secret-token",
}


def test_log_sms_sender_with_vk_parks_is_called_out(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="taxireg.run"):
        warn_about_settings(load_settings(None, parks=[VK_PARK]))
    assert "VK drivers of mos get no SMS" in caplog.text
    assert "vk-secret-token" not in caplog.text


def test_no_warning_with_a_gateway(caplog: pytest.LogCaptureFixture) -> None:
    sms = {"sender": "http", "url": "https://sms.example/send?to={phone}&text={text}"}
    with caplog.at_level(logging.WARNING, logger="taxireg.run"):
        warn_about_settings(load_settings(None, parks=[VK_PARK], sms=sms))
    assert caplog.text == ""


async def test_run_refuses_to_idle_with_nothing_to_serve() -> None:
    from app.runner import run
    from app.settings import ConfigError

    no_tokens = {k: v for k, v in VK_PARK.items() if k != "vk_token"}
    with pytest.raises(ConfigError, match="nothing to run"):
        await run(load_settings(None, parks=[no_tokens]))
