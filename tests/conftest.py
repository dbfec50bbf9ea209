"""Shared fixtures: real databases (SQLite always, PostgreSQL when configured) and parks."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from app.bootstrap import Container, build
from app.settings import Settings, load_settings
from tests.fakes.clock import FakeClock
from tests.fakes.sms import RecordingSms

POSTGRES_URL = os.environ.get("TAXIREG_TEST_POSTGRES_URL")


@pytest.fixture(autouse=True)
def _no_taxireg_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's own configuration (TAXIREG_CONFIG, TAXIREG_PARKS ...).

    Only the test database URL is kept. Names are matched case-insensitively, as
    pydantic-settings reads them.
    """
    for name in list(os.environ):
        if name.upper().startswith("TAXIREG_") and name != "TAXIREG_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)


PARKS = [
    {
        "slug": "mos",
        "name": "Мос ГорТакси",
        "landing_url": "https://mos-gortaxi.ru/ref",
        "telegram_username": "mos_gortaxi_bot",
        "vk_group_id": 1001,
        "vk_screen_name": "mosgortaxi",
    },
    {
        "slug": "spb",
        "name": "Питер Такси",
        "landing_url": "https://spb-taxi.ru/ref",
        "telegram_username": "spb_taxi_bot",
        "vk_group_id": 2002,
    },
]


def _backends() -> list[str]:
    return ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'taxireg.db'}"
    assert POSTGRES_URL is not None
    return POSTGRES_URL


async def reset_postgres(url: str) -> None:
    """Start every PostgreSQL test from an empty schema, migrations included."""
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


def make_settings(database_url: str, tmp_path: Path, **extra: object) -> Settings:
    return load_settings(
        None, data_dir=tmp_path, database={"url": database_url}, parks=PARKS, **extra
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sms() -> RecordingSms:
    return RecordingSms()


@pytest.fixture
async def container(
    database_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingSms
) -> AsyncIterator[Container]:
    if database_url.startswith("postgresql"):
        await reset_postgres(database_url)
    app = await build(make_settings(database_url, tmp_path), clock=clock, sms=sms)
    try:
        yield app
    finally:
        await app.aclose()
