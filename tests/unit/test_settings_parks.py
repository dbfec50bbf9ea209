"""Park settings: lengths the database stores are config errors, and ``to_park`` maps Park."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest
from hypothesis import example, given, settings

from app.settings import ConfigError, ParkSettings, load_settings
from core.domain import limits
from core.domain.model import Park
from tests.hostile import hostile_text

FUZZ = settings(max_examples=300, deadline=None)
PARK = {"slug": "mos", "name": "Мосгортакси", "landing_url": "https://mos.example/ref"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.upper().startswith("TAXIREG_"):
            monkeypatch.delenv(name)


def config_error(**park: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, parks=[PARK | park])
    message = caught.value.message
    assert "\n" not in message
    return message


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "taxireg.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# ----------------------------------------------------------------- lengths


@pytest.mark.parametrize(
    ("key", "longest"),
    [
        ("name", "Н" * limits.PARK_NAME),
        ("landing_url", "https://mos.example/" + "a" * (limits.URL - len("https://mos.example/"))),
        ("slug", "s" * limits.SLUG),
        ("vk_screen_name", "v" * limits.USERNAME),
    ],
)
def test_the_longest_value_a_column_holds_loads(key: str, longest: str) -> None:
    park = load_settings(None, parks=[PARK | {key: longest}]).parks[0]

    assert getattr(park, key) == longest


@pytest.mark.parametrize(
    ("key", "too_long", "message"),
    [
        ("name", "Н" * (limits.PARK_NAME + 1), "String should have at most 200 characters"),
        (
            "landing_url",
            "https://mos.example/" + "a" * limits.URL,
            "String should have at most 500 characters",
        ),
        ("slug", "s" * (limits.SLUG + 1), "String should match pattern"),
        ("vk_screen_name", "v" * (limits.USERNAME + 1), "Input should be a VK short name"),
        ("timezone", "Europe/" + "x" * limits.TIMEZONE, "String should have at most 64"),
        ("vk_group_id", 2**63, "Input should be less than or equal to 9223372036854775807"),
    ],
)
def test_longer_than_the_column_is_a_config_error(
    key: str, too_long: object, message: str
) -> None:
    assert config_error(**{key: too_long}).startswith(f"config error: parks.0.{key}: {message}")


def test_name_length_counts_after_stripping() -> None:
    padded = "  " + "Н" * limits.PARK_NAME + "  "

    assert load_settings(None, parks=[PARK | {"name": padded}]).parks[0].name == padded.strip()


def test_long_name_from_the_file_names_key_and_file(tmp_path: Path) -> None:
    name = "Я" * 201
    path = write(
        tmp_path,
        f"""
        [[parks]]
        slug = "mos"
        name = "{name}"
        landing_url = "https://mos.example/ref"
        """,
    )

    with pytest.raises(ConfigError) as caught:
        load_settings(path)

    assert caught.value.message == (
        f"config error: parks.0.name: String should have at most 200 characters (file {path})"
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("name", "Мос\x00такси"),
        ("name", "Мос\x1b[31mтакси"),
        ("landing_url", "https://mos.example/\x00ref"),  # the URL parser would escape NUL
        ("landing_url", "https://mos.example/r\tef"),  # ... and silently drop a tab
    ],
)
def test_control_characters_are_refused(key: str, value: str) -> None:
    message = config_error(**{key: value})

    assert message == f"config error: parks.0.{key}: must not contain control characters"


def test_nul_escape_in_toml_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        r"""
        [[parks]]
        slug = "mos"
        name = "Мос\u0000такси"
        landing_url = "https://mos.example/ref"
        """,
    )

    with pytest.raises(ConfigError, match=r"parks\.0\.name: must not contain control"):
        load_settings(path)


def test_lone_surrogate_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # Bad bytes in an environment variable arrive as lone surrogates, which PostgreSQL
    # cannot encode; pydantic's own str validation refuses them.
    monkeypatch.setenv(
        "TAXIREG_PARKS", '[{"slug": "mos", "name": "M\\udcff", "landing_url": "x"}]'
    )

    with pytest.raises(ConfigError) as caught:
        load_settings(None)

    assert caught.value.message.startswith("config error: parks.0.name: Input should be a valid")


def load_park(**park: object) -> ParkSettings | ConfigError:
    try:
        return load_settings(None, parks=[PARK | park]).parks[0]
    except ConfigError as exc:
        return exc


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


@FUZZ
@given(name=hostile_text(max_size=260))
@example(name="x" * 201)
@example(name="\x00")
def test_any_park_name_is_stored_whole_or_refused(name: str) -> None:
    # The invariant the database needs: what loads fits the column and can be written on
    # PostgreSQL; everything else is a one-line ConfigError.
    park = load_park(name=name)
    if isinstance(park, ConfigError):
        assert "\n" not in park.message
        assert park.message.startswith("config error: parks.0.name: ")
        return
    loaded = park.name
    assert loaded == name.strip()
    assert 0 < len(loaded) <= limits.PARK_NAME
    assert _storable(loaded)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in loaded)


@FUZZ
@given(tail=hostile_text(max_size=600))
def test_any_landing_url_is_stored_whole_or_refused(tail: str) -> None:
    url = "https://mos.example/" + tail
    park = load_park(landing_url=url)
    if isinstance(park, ConfigError):
        assert "\n" not in park.message
        assert park.message.startswith("config error: parks.0.landing_url: ")
        return
    loaded = park.landing_url
    assert loaded == url.strip()
    assert len(loaded) <= limits.URL
    assert _storable(loaded)


# ----------------------------------------------------------------- to_park


def test_to_park_carries_every_park_field() -> None:
    configured = ParkSettings(
        slug="mos",
        name=" Мосгортакси ",
        landing_url="https://mos.example/ref?a=1",
        telegram_token="1:secret",
        telegram_username="@mos_gortaxi_bot",
        vk_group_id=42,
        vk_screen_name="mosgortaxi",
        phone_region="kz",
        timezone="Asia/Almaty",
    )

    assert configured.to_park() == Park(
        slug="mos",
        name="Мосгортакси",
        landing_url="https://mos.example/ref?a=1",
        telegram_username="mos_gortaxi_bot",
        vk_group_id=42,
        vk_screen_name="mosgortaxi",
        phone_region="KZ",
        timezone="Asia/Almaty",
    )


def test_every_park_field_is_a_setting_with_the_same_default() -> None:
    # Park is the fact: a field added there without a setting would break to_park.
    for field in dataclasses.fields(Park):
        assert field.name in ParkSettings.model_fields, field.name
        if field.default is not dataclasses.MISSING:
            assert ParkSettings.model_fields[field.name].default == field.default, field.name


def test_minimal_park_maps_to_park_defaults() -> None:
    park = ParkSettings(**PARK).to_park()

    assert park == Park(slug="mos", name="Мосгортакси", landing_url="https://mos.example/ref")
