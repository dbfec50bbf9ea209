"""A park's bonus program from its config table, checked with a reason per bad key.

The shape (``[parks.bonus]`` under a ``[[parks]]`` entry; README, "Bonus rules")::

    [parks.bonus]
    payout_minimum_kopecks = 500000          # optional; 5 000 ₽
    alert_interval_minutes = 60              # optional: at most one accrual alert per this

    [[parks.bonus.rules]]                    # one table per version, oldest first
    version = 1
    starts_at = 2026-12-01T00:00:00+03:00    # a TOML date-time with offset, or that text
    monthly_cap_kopecks = 300000             # optional: per beneficiary, referred driver, month
    window_days = 90                         # optional: days after the driver registered
    min_orders = 0                           # optional: completed orders before paying
    levels = [{ fixed_kopecks = 5000 }, { percent = "2.5" }, { percent = "0.5" }]

A percentage is text ("2.5") read exactly, never a TOML float; amounts are whole kopecks.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from core.domain.bonus import (
    DEFAULT_ALERT_INTERVAL_MINUTES,
    DEFAULT_PAYOUT_MINIMUM,
    BonusProgram,
    LevelRule,
    RewardKind,
    RuleError,
    RuleSet,
)
from core.domain.money import MoneyError, parse_percent

_PROGRAM_KEYS = {"payout_minimum_kopecks", "alert_interval_minutes", "rules"}
_RULE_KEYS = {"version", "starts_at", "monthly_cap_kopecks", "window_days", "min_orders", "levels"}


def program_from_config(park: str, timezone: str, raw: Mapping[str, Any] | None) -> BonusProgram:
    """The program, or ``RuleError`` naming the key (``bonus.rules[0].levels[1]``)."""
    raw = raw or {}
    _only(raw, _PROGRAM_KEYS, "bonus")
    rules = raw.get("rules", [])
    if not isinstance(rules, list):
        raise RuleError("bonus.rules must be a list of tables ([[parks.bonus.rules]])")
    versions = tuple(_rule(r, f"bonus.rules[{i}]") for i, r in enumerate(rules))
    try:
        return BonusProgram(
            park,
            versions,
            payout_minimum_kopecks=raw.get("payout_minimum_kopecks", DEFAULT_PAYOUT_MINIMUM),
            timezone=timezone,
            alert_interval_minutes=raw.get(
                "alert_interval_minutes", DEFAULT_ALERT_INTERVAL_MINUTES
            ),
        )
    except RuleError as exc:
        raise RuleError(f"bonus: {exc}") from None


def _rule(raw: object, where: str) -> RuleSet:
    if not isinstance(raw, Mapping):
        raise RuleError(f"{where} must be a table")
    _only(raw, _RULE_KEYS, where)
    levels = raw.get("levels")
    if not isinstance(levels, list) or not levels:
        raise RuleError(f"{where}.levels must be a non-empty list of levels")
    rules = tuple(_level(level, i + 1, f"{where}.levels[{i}]") for i, level in enumerate(levels))
    starts_at = _moment(raw.get("starts_at"), where)
    try:
        return RuleSet(
            version=raw.get("version"),  # type: ignore[arg-type]
            starts_at=starts_at,
            levels=rules,
            monthly_cap_kopecks=raw.get("monthly_cap_kopecks"),
            window_days=raw.get("window_days"),
            min_orders=raw.get("min_orders", 0),
        )
    except RuleError as exc:
        raise RuleError(f"{where}: {exc}") from None


def _level(raw: object, number: int, where: str) -> LevelRule:
    if not isinstance(raw, Mapping) or len(raw) != 1:
        raise RuleError(f'{where} must be one of {{ fixed_kopecks = N }} or {{ percent = "P" }}')
    ((key, value),) = raw.items()
    if key == "fixed_kopecks":
        try:
            return LevelRule(number, RewardKind.FIXED, value)
        except RuleError as exc:
            raise RuleError(f"{where}.fixed_kopecks: {exc}") from None
    if key == "percent":
        if not isinstance(value, str):
            raise RuleError(f'{where}.percent must be text such as "2.5", not {value!r}')
        try:
            return LevelRule(number, RewardKind.PERCENT, parse_percent(value))
        except (MoneyError, RuleError) as exc:
            raise RuleError(f"{where}.percent: {exc}") from None
    raise RuleError(f"{where}: unknown key {key!r} (fixed_kopecks or percent)")


def _moment(value: object, where: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise RuleError(f"{where}.starts_at is not an ISO 8601 date-time") from None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise RuleError(f"{where}.starts_at needs a date, a time and an offset (+03:00)")
    return value


def _only(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise RuleError(f"{where}: unknown keys {', '.join(map(str, unknown))}")
