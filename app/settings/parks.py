"""One ``[[parks]]`` entry, its checks, and the domain ``Park`` it becomes.

``core.domain.model.Park`` is the fact about what a park is: ``to_park`` maps its fields by
name, and its defaults are the defaults here. Lengths are the columns' (``core.domain.limits``),
so a value the database cannot store is a config error, never a failed write.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from app.settings.base import Section
from app.settings.checks import (
    blank_is_none,
    blank_to_none,
    check_http_url,
    check_text,
    error,
)
from core.domain import limits
from core.domain.bonus import BonusProgram, RuleError
from core.domain.bonus_config import program_from_config
from core.domain.model import Park, telegram_link, vk_link

_SLUG = rf"^[a-z0-9][a-z0-9-]{{1,{limits.SLUG - 1}}}$"
_TELEGRAM_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")
_VK_SCREEN_NAME = re.compile(rf"[A-Za-z0-9_.]{{2,{limits.USERNAME}}}")
# vk_group_id is a BigInteger column: a larger number would fail the write, not the check.
_BIGINT_MAX = 2**63 - 1
_PARK_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in dataclasses.fields(Park) if f.default is not dataclasses.MISSING
}


class ParkSettings(Section):
    """One ``[[parks]]`` entry: a taxi park and its bots."""

    slug: str = Field(pattern=_SLUG)
    """Stable identifier used in links, the database and the CLI."""
    name: str = Field(min_length=1)
    landing_url: str
    """Where a registered driver is sent (the park's referral landing page)."""
    app_store_url: str | None = None
    """The park's driver app in the App Store, shown on the landing page."""
    play_store_url: str | None = None
    """... and in Google Play."""
    telegram_token: SecretStr | None = None
    telegram_token_file: Path | None = None
    """A file holding ``telegram_token`` (see ``app.settings.secret_files``)."""
    # validate_default + declared after telegram_token: the "token needs a username"
    # rule is reported on this key.
    telegram_username: str | None = Field(default=None, validate_default=True)
    vk_group_id: Annotated[int, Field(gt=0, le=_BIGINT_MAX)] | None = None
    vk_token: SecretStr | None = None
    vk_token_file: Path | None = None
    """A file holding ``vk_token``."""
    vk_screen_name: str | None = None
    phone_region: str = _PARK_DEFAULTS["phone_region"]
    """Region for parsing phone numbers written without a country code."""
    timezone: str = _PARK_DEFAULTS["timezone"]
    privacy_url: str | None = None
    """The personal-data policy shown at the phone step (152-FZ consent)."""
    reminders: bool = True
    """One reminder to drivers who stopped registering (``[registration]``); false: none."""
    app_api_key: SecretStr | None = None
    """The key the park's app sends as ``X-Api-Key`` to the app registration API."""
    app_api_key_file: Path | None = None
    webhook_url: str | None = None
    """Where ``driver.registered`` and later events are POSTed, signed with webhook_secret."""
    webhook_secret: SecretStr | None = None
    webhook_secret_file: Path | None = None
    # Last, so the check below sees the park's timezone.
    bonus: dict[str, Any] | None = None
    """The park's bonus program, ``[parks.bonus]`` (README, "Bonus rules"); none pays nothing."""

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str) -> str:
        if not value.strip():
            raise error("blank", "must not be blank")
        return check_text(value.strip(), limits.PARK_NAME)

    @field_validator("landing_url")
    @classmethod
    def _check_landing_url(cls, value: str) -> str:
        return check_http_url(value, limits.URL)

    @field_validator("app_store_url", "play_store_url")
    @classmethod
    def _check_store_url(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value, limits.URL)

    @field_validator("webhook_url", "privacy_url")
    @classmethod
    def _check_webhook_url(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value, limits.URL)

    _blank = blank_is_none("telegram_token", "vk_token", "app_api_key", "webhook_secret")

    @field_validator("telegram_username", "vk_screen_name", mode="before")
    @classmethod
    def _strip_at(cls, value: Any) -> Any:
        # People copy "@mos_gortaxi_bot" from Telegram; the @ is not part of the name.
        if isinstance(value, str):
            value = value.strip().removeprefix("@")
        return blank_to_none(value)

    @field_validator("telegram_username")
    @classmethod
    def _check_telegram_username(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            # Without the username the bot's t.me link cannot be built for drivers.
            if info.data.get("telegram_token") is not None:
                raise error("telegram_username_required", "required when telegram_token is set")
            return None
        # fullmatch: "$" would let a trailing newline through into the stored name.
        if not _TELEGRAM_USERNAME.fullmatch(value):
            raise error(
                "telegram_username",
                "Input should be a Telegram username: a letter, then 4-32 letters, "
                "digits or _ (no @)",
            )
        return value

    @field_validator("vk_token")
    @classmethod
    def _check_vk_token(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        # The group id routes VK events to the park and builds the vk.me link; only
        # complain if vk_group_id was absent, not if it already failed on its own.
        if value is not None and "vk_group_id" in info.data and info.data["vk_group_id"] is None:
            raise error("vk_group_id_required", "vk_group_id is required when vk_token is set")
        return value

    @field_validator("vk_screen_name")
    @classmethod
    def _check_vk_screen_name(cls, value: str | None) -> str | None:
        if value is not None and not _VK_SCREEN_NAME.fullmatch(value):
            raise error(
                "vk_screen_name", "Input should be a VK short name: letters, digits, _ or ."
            )
        return value

    @field_validator("phone_region")
    @classmethod
    def _check_phone_region(cls, value: str) -> str:
        import phonenumbers  # lazy: only configs with parks pay for the metadata import

        region = value.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise error(
                "phone_region", "Input should be a region code supported by phonenumbers, e.g. RU"
            )
        return region

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        value = check_text(value.strip(), limits.TIMEZONE)
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise error(
                "timezone", "Input should be an IANA time zone, e.g. Europe/Moscow"
            ) from None
        return value

    @field_validator("bonus")
    @classmethod
    def _check_bonus(cls, value: dict[str, Any] | None, info: ValidationInfo) -> Any:
        if value is not None:
            # The domain's own reader is the check, so config and runtime agree on every rule.
            try:
                program_from_config("check", info.data.get("timezone", "UTC"), value)
            except RuleError as exc:
                raise error("bonus", str(exc)) from None
        return value

    def bonus_program(self) -> BonusProgram:
        """The park's rule versions and payout minimum (checked when the config was read)."""
        return program_from_config(self.slug, self.timezone, self.bonus)

    @property
    def telegram_link(self) -> str | None:
        return telegram_link(self.telegram_username)

    @property
    def vk_link(self) -> str | None:
        return vk_link(self.vk_screen_name, self.vk_group_id)

    @property
    def zoneinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def to_park(self) -> Park:
        """The domain park: each of ``Park``'s fields from the setting of the same name."""
        return Park(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Park) if f.init})


def check_unique_parks(parks: list[ParkSettings]) -> list[ParkSettings]:
    """Each of these keys routes an incoming update or a link to exactly one park."""
    keys: dict[str, Any] = {
        "slug": lambda p: p.slug,
        # Telegram usernames are case-insensitive.
        "telegram_username": lambda p: p.telegram_username and p.telegram_username.lower(),
        "vk_group_id": lambda p: p.vk_group_id,
    }
    for key, get in keys.items():
        seen: dict[Any, int] = {}
        for index, park in enumerate(parks):
            value = get(park)
            if value is None:
                continue
            if value in seen:
                raise error(
                    "duplicate_park",
                    f"duplicate {key} {getattr(park, key)!r} (parks {seen[value]} "
                    f"and {index}); each park needs its own",
                )
            seen[value] = index
    return parks
