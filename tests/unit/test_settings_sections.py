"""Section numbers stay inside what they feed: a few zeros too many is a config error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.settings import ConfigError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("TAXIREG_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        # now - 100,000 days is before year 1: the clean-up job would crash on datetime.
        (
            "[notifications]\nabandoned_registration_days = 100000",
            "notifications.abandoned_registration_days: Input should be less than or equal "
            "to 3650",
        ),
        # Ends up in an SQL LIMIT: past 64 bits SQLite and PostgreSQL both refuse it.
        (
            "[notifications]\nbatch_size = 100000000000000000000",
            "notifications.batch_size: Input should be less than or equal to 2147483647",
        ),
        (
            "[registration]\notp_ttl_seconds = 1000000000000",
            "registration.otp_ttl_seconds: Input should be less than or equal to 315360000",
        ),
        # TOML has inf and nan; an interval of inf would overflow timedelta in the scheduler.
        (
            "[notifications]\ndeliver_interval_seconds = inf",
            "notifications.deliver_interval_seconds: Input should be a finite number",
        ),
        ("[notifications]\nper_bot_rate = nan", "notifications.per_bot_rate: Input should be"),
    ],
)
def test_out_of_range_numbers_are_config_errors(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "taxireg.toml"
    path.write_text(toml + "\n", encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        load_settings(path)

    assert caught.value.message.startswith(f"config error: {message}")
    assert caught.value.message.endswith(f"(file {path})")


def test_largest_allowed_values_load() -> None:
    settings = load_settings(
        None,
        notifications={"abandoned_registration_days": 3650, "batch_size": 2**31 - 1},
        registration={"otp_ttl_seconds": 315_360_000},
    )

    assert settings.notifications.abandoned_registration_days == 3650
    assert settings.notifications.batch_size == 2**31 - 1
    assert settings.registration.otp_ttl_seconds == 315_360_000
