"""Settings: TOML + environment loading, validation messages, secret hygiene."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel

from app.settings import (
    ConfigError,
    ParkSettings,
    Settings,
    UnknownPark,
    load_settings,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config.example.toml"

TG_TOKEN = "424242:AAH-very-secret-telegram-token-value"
VK_TOKEN = "vk1.a.very-secret-vk-token-value"

TWO_PARKS = f"""
[database]
url = "sqlite:///from-file.db"

[sms]
sender = "log"
timeout = 5

[[parks]]
slug = "mos-gortaxi"
name = "Мосгортакси"
landing_url = "https://mos-gortaxi.ru/ref"
telegram_token = "{TG_TOKEN}"
telegram_username = "@mos_gortaxi_bot"
vk_group_id = 123456789
vk_token = "{VK_TOKEN}"

[[parks]]
slug = "spb-taxi"
name = "Такси Петербург"
landing_url = "https://spb-taxi.example/drivers"
vk_group_id = 987654
vk_screen_name = "spbtaxi"
timezone = "Asia/Yekaterinburg"
"""

PARK = """
[[parks]]
slug = "mos-gortaxi"
name = "Мосгортакси"
landing_url = "https://mos-gortaxi.ru/ref"
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run every test as if on a fresh machine: no TAXIREG_* or XDG from the developer."""
    import os

    for name in list(os.environ):
        if name.upper().startswith("TAXIREG_") or name == "XDG_DATA_HOME":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def write(tmp_path: Path, text: str, name: str = "taxireg.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def config_error(path: Path | None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("config error: ")
    return message


# ----------------------------------------------------------------- defaults and sources


def test_defaults_without_any_file(tmp_path: Path) -> None:
    settings = load_settings(None)

    assert settings.data_dir == tmp_path / "home" / ".local" / "share" / "taxireg"
    assert settings.database.url is None
    assert settings.database_url == f"sqlite:///{tmp_path}/home/.local/share/taxireg/taxireg.db"
    assert settings.sms.sender == "log"
    assert settings.telegram.api_server is None
    assert settings.telegram.polling_timeout == 30
    assert settings.vk.api_url == "https://api.vk.com/method/"
    assert settings.vk.api_version == "5.199"
    assert settings.registration.otp_ttl_seconds == 300
    assert settings.notifications.digest_time == "20:00"
    assert settings.notifications.enabled is True
    assert settings.logging.level == "INFO"
    assert settings.logging.json is False
    assert settings.parks == []


def test_data_dir_follows_xdg_data_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))

    assert load_settings(None).data_dir == tmp_path / "xdg" / "taxireg"


def test_file_with_two_parks_loads(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, TWO_PARKS))

    assert [p.slug for p in settings.parks] == ["mos-gortaxi", "spb-taxi"]
    mos = settings.park("mos-gortaxi")
    assert mos.telegram_username == "mos_gortaxi_bot"  # leading @ stripped
    assert mos.telegram_token is not None
    assert mos.telegram_token.get_secret_value() == TG_TOKEN
    assert mos.vk_group_id == 123456789
    assert mos.telegram_link == "https://t.me/mos_gortaxi_bot"
    assert mos.vk_link == "https://vk.me/club123456789"
    assert mos.phone_region == "RU"
    assert mos.timezone == "Europe/Moscow"
    spb = settings.park("spb-taxi")
    assert spb.vk_link == "https://vk.me/spbtaxi"
    assert spb.telegram_link is None
    assert spb.timezone == "Asia/Yekaterinburg"
    assert settings.sms.timeout == 5.0
    assert settings.database_url == "sqlite:///from-file.db"


def test_unknown_park_slug(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, TWO_PARKS))

    with pytest.raises(UnknownPark) as caught:
        settings.park("kazan")
    assert caught.value.slug == "kazan"


def test_env_overrides_nested_keys_and_beats_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        """
        [database]
        url = "sqlite:///from-file.db"
        echo = true

        [sms]
        url = "https://sms.example/send?to={phone}&msg={text}"
        """,
    )
    monkeypatch.setenv("TAXIREG_DATABASE__URL", "postgresql://u:p@db:5432/taxireg")
    monkeypatch.setenv("TAXIREG_SMS__SENDER", "http")
    monkeypatch.setenv("TAXIREG_LOGGING__JSON", "true")

    settings = load_settings(path)

    assert settings.database_url == "postgresql+asyncpg://u:p@db:5432/taxireg"
    assert settings.database.echo is True  # the rest of [database] still comes from the file
    # sender from the environment, url from the file: the sources are merged per key.
    assert settings.sms.sender == "http"
    assert settings.sms.url == "https://sms.example/send?to={phone}&msg={text}"
    assert settings.logging.json is True


def test_init_kwargs_beat_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TAXIREG_DATA_DIR", str(tmp_path / "from-env"))

    settings = load_settings(None, data_dir=tmp_path / "from-kwargs")

    assert settings.data_dir == tmp_path / "from-kwargs"


def test_taxireg_config_env_names_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TAXIREG_CONFIG", str(write(tmp_path, TWO_PARKS)))

    assert len(load_settings(None).parks) == 2


def test_explicit_path_beats_taxireg_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TAXIREG_CONFIG", str(write(tmp_path, TWO_PARKS, "env.toml")))

    assert len(load_settings(write(tmp_path, PARK, "arg.toml")).parks) == 1


def test_parks_from_env_json(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    parks = [{"slug": "env-park", "name": "Env", "landing_url": "https://env.example/"}]
    monkeypatch.setenv("TAXIREG_PARKS", json.dumps(parks))

    # The environment replaces the file's list wholesale.
    settings = load_settings(write(tmp_path, TWO_PARKS))

    assert [p.slug for p in settings.parks] == ["env-park"]


def test_bad_parks_json_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAXIREG_PARKS", "[{not json")

    assert config_error(None) == (
        "config error: parks: invalid JSON in environment variable TAXIREG_PARKS"
    )


@pytest.mark.parametrize(
    ("given", "effective"),
    [
        ("postgres://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        ("postgresql://u:p@h:5433/db", "postgresql+asyncpg://u:p@h:5433/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:////var/lib/taxireg.db", "sqlite:////var/lib/taxireg.db"),
        # Earlier versions wrote the aiosqlite spelling; it names the same file.
        ("sqlite+aiosqlite:////var/lib/taxireg.db", "sqlite:////var/lib/taxireg.db"),
    ],
)
def test_database_url_normalised_to_async_driver(given: str, effective: str) -> None:
    settings = Settings(database={"url": given})

    assert settings.database_url == effective


# ----------------------------------------------------------------- error messages


def test_missing_named_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"

    assert config_error(missing) == f"config error: file not found: {missing}"


def test_missing_file_named_by_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TAXIREG_CONFIG", str(tmp_path / "nope.toml"))

    assert "(named by TAXIREG_CONFIG)" in config_error(None)


def test_bad_toml_syntax_is_one_line_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[database]\nurl = "sqlite://x.db"\necho = \n')

    message = config_error(path)

    assert message.startswith("config error: invalid TOML: ")
    assert "line 3" in message
    assert message.endswith(f"(file {path})")


def test_bad_landing_url_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, PARK.replace("https://mos-gortaxi.ru/ref", "mos-gortaxi.ru/ref"))

    message = config_error(path)

    assert message.startswith("config error: parks.0.landing_url: Input should be a valid URL")
    assert message.endswith(f"(file {path})")


def test_http_sender_without_url_names_sms_url(tmp_path: Path) -> None:
    path = write(tmp_path, '[sms]\nsender = "http"\n')

    assert config_error(path) == (
        f'config error: sms.url: required when sms.sender = "http" (file {path})'
    )


def test_http_sender_from_env_without_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAXIREG_SMS__SENDER", "http")

    assert config_error(None) == 'config error: sms.url: required when sms.sender = "http"'


def test_sms_url_must_have_both_placeholders(tmp_path: Path) -> None:
    path = write(tmp_path, '[sms]\nsender = "http"\nurl = "https://sms.example/?to={phone}"\n')

    assert "sms.url: must contain the placeholder(s) {text}" in config_error(path)


def test_bad_value_from_env_is_attributed_to_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TAXIREG_NOTIFICATIONS__DIGEST_TIME", "25:00")

    message = config_error(write(tmp_path, PARK))

    assert message.startswith("config error: notifications.digest_time: ")
    assert message.endswith("(env TAXIREG_NOTIFICATIONS__DIGEST_TIME)")


def test_duplicate_slugs(tmp_path: Path) -> None:
    path = write(tmp_path, PARK + PARK)

    message = config_error(path)

    assert message.startswith("config error: parks: duplicate slug 'mos-gortaxi' (parks 0 and 1)")


def test_duplicate_telegram_usernames_ignore_case(tmp_path: Path) -> None:
    first = PARK + 'telegram_username = "Mos_Bot"\n'
    second = PARK.replace("mos-gortaxi", "other") + 'telegram_username = "mos_bot"\n'

    assert "parks: duplicate telegram_username" in config_error(write(tmp_path, first + second))


def test_duplicate_vk_group_ids(tmp_path: Path) -> None:
    first = PARK + "vk_group_id = 1\n"
    second = PARK.replace("mos-gortaxi", "other") + "vk_group_id = 1\n"

    assert "parks: duplicate vk_group_id 1" in config_error(write(tmp_path, first + second))


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, '[sms]\nsendr = "http"\n')

    assert config_error(path) == f"config error: sms.sendr: unknown key (file {path})"


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ('slug = "Bad Slug"', "parks.0.slug"),
        ('telegram_username = "ab"', "parks.0.telegram_username"),
        ("vk_group_id = -5", "parks.0.vk_group_id"),
        ('phone_region = "XX"', "parks.0.phone_region"),
        ('timezone = "Mars/Olympus"', "parks.0.timezone"),
    ],
)
def test_park_field_validation(tmp_path: Path, extra: str, key: str) -> None:
    text = PARK.replace('slug = "mos-gortaxi"\n', "") if extra.startswith("slug") else PARK
    path = write(tmp_path, text + extra + "\n")

    assert config_error(path).startswith(f"config error: {key}: ")


def test_telegram_token_requires_username(tmp_path: Path) -> None:
    path = write(tmp_path, PARK + f'telegram_token = "{TG_TOKEN}"\n')

    message = config_error(path)

    assert message == (
        "config error: parks.0.telegram_username: required when telegram_token is set "
        f"(file {path})"
    )


def test_several_errors_stay_on_one_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [logging]
        level = "LOUD"
        [notifications]
        batch_size = 0
        """,
    )

    message = config_error(path)

    assert message.startswith("config error: notifications.batch_size: ")
    assert "; logging.level: " in message
    # One source for all errors: named once, at the end.
    assert message.count(str(path)) == 1
    assert message.endswith(f"(file {path})")


# ----------------------------------------------------------------- secrets


@pytest.mark.parametrize(
    "broken",
    [
        # The token itself in the wrong place or of the wrong shape.
        f'telegram_username = "{TG_TOKEN}"',
        f'vk_screen_name = "{TG_TOKEN}"',
        f'landing = "{TG_TOKEN}"',
        f'telegram_token = "{TG_TOKEN}"',  # without a username
        f'vk_token = "{VK_TOKEN}"',  # without a group id
    ],
)
def test_token_never_in_config_error(tmp_path: Path, broken: str) -> None:
    path = write(tmp_path, PARK + broken + "\n")

    message = config_error(path)

    assert TG_TOKEN not in message
    assert VK_TOKEN not in message
    assert "very-secret" not in message


def test_token_from_env_never_in_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    parks = [{"slug": "x", "name": "X", "landing_url": "nope", "telegram_token": TG_TOKEN}]
    monkeypatch.setenv("TAXIREG_PARKS", json.dumps(parks))

    message = config_error(None)

    assert "very-secret" not in message
    assert "(env TAXIREG_PARKS)" in message


def test_tokens_hidden_in_repr_str_and_redacted_dict(tmp_path: Path) -> None:
    settings = load_settings(
        write(tmp_path, TWO_PARKS),
        database={"url": "postgresql://taxireg:db-secret@db/taxireg"},
        sms={"sender": "http", "url": "https://sms.example/?key=sms-secret&to={phone}&t={text}"},
    )

    for text in (
        repr(settings),
        str(settings),
        repr(settings.parks),
        str(settings.redacted_dict()),
    ):
        assert "very-secret" not in text
        assert "db-secret" not in text
        assert "sms-secret" not in text

    redacted = settings.redacted_dict()
    assert redacted["parks"][0]["telegram_token"] == "***"
    assert redacted["parks"][0]["vk_token"] == "***"
    assert redacted["parks"][1]["telegram_token"] is None
    assert redacted["parks"][1]["vk_token"] is None
    assert redacted["database_url"] == "postgresql+asyncpg://taxireg:***@db/taxireg"
    assert redacted["sms"]["url"] == "https://sms.example/?key=***&to={phone}&t={text}"
    json.dumps(redacted)  # printable as JSON as-is


# ----------------------------------------------------------------- the example file


def test_example_config_loads_cleanly() -> None:
    settings = load_settings(EXAMPLE)

    assert [p.slug for p in settings.parks] == ["mos-gortaxi", "spb-taxi"]
    mos = settings.park("mos-gortaxi")
    assert mos.landing_url == "https://mos-gortaxi.ru/ref"
    assert mos.telegram_username == "mos_gortaxi_bot"
    assert mos.vk_group_id is not None


def test_example_commented_defaults_are_the_real_defaults(tmp_path: Path) -> None:
    # The example promises that uncommenting a "# key = value" line changes nothing.
    text = EXAMPLE.read_text(encoding="utf-8")
    uncommented = re.sub(r"(?m)^# ([a-z_]+ = )", r"\1", text)
    assert uncommented != text

    as_shipped = load_settings(EXAMPLE)
    with_defaults = load_settings(write(tmp_path, uncommented, "uncommented.toml"))

    assert with_defaults.model_dump() == as_shipped.model_dump()


def _keys(model: type[BaseModel]) -> set[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        keys.add(name)
        annotation = field.annotation
        nested = getattr(annotation, "__args__", (annotation,))
        for candidate in nested:
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                keys |= _keys(candidate)
    return keys


def test_example_documents_every_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    keys = _keys(Settings) | _keys(ParkSettings)

    undocumented = {
        key
        for key in keys
        if not re.search(rf"(?m)^(# |# e\.g\. )?{key} = ", text) and f"[{key}]" not in text
    }

    assert undocumented == set()


def test_import_stays_light() -> None:
    # The CLI imports settings first; pulling in bot frameworks or SQLAlchemy here would
    # slow down every `taxireg --help`.
    code = (
        "import sys, app.settings; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'aiogram', 'vkbottle', 'sqlalchemy', 'aiohttp'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
