"""Bonus rules from a park's config table: the documented shape, and a reason per bad key."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime

import pytest

from core.domain.bonus import RewardKind, RuleError
from core.domain.bonus_config import program_from_config

EXAMPLE = """
[bonus]
payout_minimum_kopecks = 300000

[[bonus.rules]]
version = 1
starts_at = 2026-12-01T00:00:00+03:00
monthly_cap_kopecks = 300000
window_days = 90
levels = [{ fixed_kopecks = 5000 }, { percent = "2.5" }, { percent = "0.5" }]

[[bonus.rules]]
version = 2
starts_at = "2027-01-01T00:00:00+03:00"
min_orders = 3
levels = [{ percent = "10" }]
"""


def test_documented_shape() -> None:
    program = program_from_config("mos", "Europe/Moscow", tomllib.loads(EXAMPLE)["bonus"])
    assert program.payout_minimum_kopecks == 300_000
    first, second = program.versions
    assert [(r.kind, r.value) for r in first.levels] == [
        (RewardKind.FIXED, 5000),
        (RewardKind.PERCENT, 250),
        (RewardKind.PERCENT, 50),
    ]
    assert (first.monthly_cap_kopecks, first.window_days, first.min_orders) == (300_000, 90, 0)
    assert second.min_orders == 3
    assert second.starts_at == datetime(2026, 12, 31, 21, 0, tzinfo=UTC)
    assert program.depth == 3


def test_no_table_means_no_bonuses_and_the_default_minimum() -> None:
    program = program_from_config("mos", "Europe/Moscow", None)
    assert program.versions == ()
    assert program.payout_minimum_kopecks == 500_000


@pytest.mark.parametrize(
    ("table", "where"),
    [
        (
            {
                "rules": [
                    {
                        "version": 1,
                        "starts_at": "2026-12-01T00:00:00+03:00",
                        "levels": [{"percent": 2.5}],
                    }
                ]
            },
            "levels[0].percent must be text",
        ),
        (
            {
                "rules": [
                    {
                        "version": 1,
                        "starts_at": "2026-12-01T00:00:00",
                        "levels": [{"fixed_kopecks": 1}],
                    }
                ]
            },
            "offset",
        ),
        (
            {
                "rules": [
                    {
                        "version": 1,
                        "starts_at": "2026-12-01T00:00:00+03:00",
                        "levels": [{"fixed_kopecks": 1.5}],
                    }
                ]
            },
            "whole number",
        ),
        (
            {
                "rules": [
                    {
                        "version": 1,
                        "starts_at": "2026-12-01T00:00:00+03:00",
                        "levels": [{"bonus": 1}],
                    }
                ]
            },
            "unknown key 'bonus'",
        ),
        (
            {"rules": [{"version": 1, "starts_at": "2026-12-01T00:00:00+03:00", "levels": []}]},
            "non-empty",
        ),
        (
            {
                "rules": [
                    {
                        "version": 1,
                        "starts_at": "2026-12-01T00:00:00+03:00",
                        "levels": [{"percent": "101"}],
                    }
                ]
            },
            "above 100",
        ),
        (
            {
                "rules": [
                    {
                        "version": 1,
                        "starts_at": "2026-12-01T00:00:00+03:00",
                        "levels": [{"fixed_kopecks": 1}],
                        "cap": 5,
                    }
                ]
            },
            "unknown keys cap",
        ),
        ({"payout_minimum_kopecks": 0}, "at least 1"),
        ({"rules": {"version": 1}}, "list of tables"),
        (
            {
                "rules": [
                    {
                        "version": 2,
                        "starts_at": "2026-12-01T00:00:00+03:00",
                        "levels": [{"fixed_kopecks": 1}],
                    },
                    {
                        "version": 1,
                        "starts_at": "2027-12-01T00:00:00+03:00",
                        "levels": [{"fixed_kopecks": 1}],
                    },
                ]
            },
            "grow",
        ),
    ],
)
def test_bad_tables_say_where(table: dict[str, object], where: str) -> None:
    with pytest.raises(RuleError, match=re.escape(where)):
        program_from_config("mos", "Europe/Moscow", table)
