"""Secrets from files: ``<key>_file`` beside every secret (systemd credentials, /run/secrets)."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from app.settings import ConfigError, load_settings
from app.settings.base import Section

TG_TOKEN = "424242:AAH-very-secret-telegram-token-value"
VK_TOKEN = "vk1.a.very-secret-vk-token-value"
SMS_URL = "https://sms.example/send?key=very-secret-key&to={phone}&msg={text}"

PARK = """
[[parks]]
slug = "mos"
name = "Мосгортакси"
landing_url = "https://mos.example/ref"
telegram_username = "mos_bot"
vk_group_id = 42
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("TAXIREG_"):
            monkeypatch.delenv(name)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def config(tmp_path: Path, text: str) -> Path:
    return write(tmp_path / "taxireg.toml", textwrap.dedent(text))


def config_error(path: Path | None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = caught.value.message
    assert "\n" not in message
    assert "very-secret" not in message
    return message


# ----------------------------------------------------------------- reading


def test_bot_tokens_come_from_files(tmp_path: Path) -> None:
    tg = write(tmp_path / "tg", TG_TOKEN + "\n")  # `echo token > file` leaves a newline
    vk = write(tmp_path / "vk", VK_TOKEN + "\r\n")
    path = config(tmp_path, PARK + f'telegram_token_file = "{tg}"\nvk_token_file = "{vk}"\n')

    park = load_settings(path).parks[0]

    assert park.telegram_token is not None
    assert park.telegram_token.get_secret_value() == TG_TOKEN
    assert park.vk_token is not None
    assert park.vk_token.get_secret_value() == VK_TOKEN
    assert park.telegram_token_file == tg


def test_token_from_file_still_needs_a_username(tmp_path: Path) -> None:
    # The file is read before the park's rules run, so they see the token.
    tg = write(tmp_path / "tg", TG_TOKEN)
    text = PARK.replace('telegram_username = "mos_bot"\n', "")
    path = config(tmp_path, text + f'telegram_token_file = "{tg}"\n')

    assert config_error(path) == (
        "config error: parks.0.telegram_username: required when telegram_token is set "
        f"(file {path})"
    )


def test_sms_url_from_file_satisfies_the_http_sender(tmp_path: Path) -> None:
    url = write(tmp_path / "sms_url", SMS_URL + "\n")
    path = config(tmp_path, f'[sms]\nsender = "http"\nurl_file = "{url}"\n')

    settings = load_settings(path)

    assert settings.sms.url == SMS_URL
    assert "very-secret" not in repr(settings)
    assert "very-secret" not in json.dumps(settings.redacted_dict())


def test_sms_url_from_file_is_checked_like_url(tmp_path: Path) -> None:
    url = write(tmp_path / "sms_url", "https://sms.example/send?key=very-secret&to={phone}\n")
    path = config(tmp_path, f'[sms]\nsender = "http"\nurl_file = "{url}"\n')

    assert config_error(path) == (
        f"config error: sms.url: must contain the placeholder(s) {{text}} (file {path})"
    )


def test_file_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = write(tmp_path / "sms_url", SMS_URL)
    tg = write(tmp_path / "tg", TG_TOKEN)
    monkeypatch.setenv("TAXIREG_SMS__SENDER", "http")
    monkeypatch.setenv("TAXIREG_SMS__URL_FILE", str(url))
    parks = [
        {
            "slug": "mos",
            "name": "M",
            "landing_url": "https://mos.example/",
            "telegram_username": "mos_bot",
            "telegram_token_file": str(tg),
        }
    ]
    monkeypatch.setenv("TAXIREG_PARKS", json.dumps(parks))

    settings = load_settings(None)

    assert settings.sms.url == SMS_URL
    token = settings.parks[0].telegram_token
    assert token is not None
    assert token.get_secret_value() == TG_TOKEN


def test_empty_env_file_key_unsets_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = write(tmp_path / "sms_url", SMS_URL)
    path = config(tmp_path, f'[sms]\nurl_file = "{url}"\n')
    monkeypatch.setenv("TAXIREG_SMS__URL_FILE", "")

    settings = load_settings(path)

    assert settings.sms.url is None
    assert settings.sms.url_file is None


def test_tilde_is_expanded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    write(tmp_path / "tg", TG_TOKEN)

    park = load_settings(config(tmp_path, PARK + 'telegram_token_file = "~/tg"\n')).parks[0]

    assert park.telegram_token is not None
    assert park.telegram_token.get_secret_value() == TG_TOKEN


def test_masked_everywhere_it_is_printed(tmp_path: Path) -> None:
    tg = write(tmp_path / "tg", TG_TOKEN)
    settings = load_settings(config(tmp_path, PARK + f'telegram_token_file = "{tg}"\n'))

    dumped = settings.redacted_dict()

    assert dumped["parks"][0]["telegram_token"] == "***"
    assert dumped["parks"][0]["telegram_token_file"] == str(tg)  # the path is not the secret
    for text in (repr(settings), str(settings.parks), json.dumps(dumped)):
        assert "very-secret" not in text


# ----------------------------------------------------------------- refusals


def test_key_and_its_file_together_are_refused(tmp_path: Path) -> None:
    tg = write(tmp_path / "tg", TG_TOKEN)
    text = PARK + f'telegram_token = "{TG_TOKEN}"\ntelegram_token_file = "{tg}"\n'
    path = config(tmp_path, text)

    assert config_error(path) == (
        "config error: parks.0.telegram_token_file: set either telegram_token or "
        f"telegram_token_file, not both (file {path})"
    )


def test_env_file_beside_a_url_in_the_file_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = write(tmp_path / "sms_url", SMS_URL)
    path = config(tmp_path, '[sms]\nurl = "https://a.example/?p={phone}&t={text}"\n')
    monkeypatch.setenv("TAXIREG_SMS__URL_FILE", str(url))

    assert config_error(path) == (
        "config error: sms.url_file: set either url or url_file, not both "
        "(env TAXIREG_SMS__URL_FILE)"
    )


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda d: d / "missing", "file not found: {path}"),
        (lambda d: d, "not a file: {path}"),
        (lambda d: write(d / "empty", "\n"), "file is empty: {path}"),
        (lambda d: write(d / "blank", "   "), "file is empty: {path}"),
        (lambda d: write(d / "two", TG_TOKEN + "\nsecond\n"), "must hold the secret on one line"),
        (lambda d: _bytes(d / "latin1", b"\xff\xfe-very-secret"), "not UTF-8 text: {path}"),
        (lambda d: _bytes(d / "big", b"x" * 70_000), "file is larger than 64 KiB: {path}"),
    ],
)
def test_a_file_that_gives_no_secret_is_a_config_error(
    tmp_path: Path, make: Callable[[Path], Path], problem: str
) -> None:
    secret = make(tmp_path)
    path = config(tmp_path, PARK + f'telegram_token_file = "{secret}"\n')

    message = config_error(path)

    expected = problem.format(path=secret)
    assert message.startswith(f"config error: parks.0.telegram_token_file: {expected}")
    assert message.endswith(f"(file {path})")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path: Path) -> None:
    secret = write(tmp_path / "tg", TG_TOKEN)
    secret.chmod(0)
    path = config(tmp_path, PARK + f'telegram_token_file = "{secret}"\n')

    assert config_error(path) == (
        "config error: parks.0.telegram_token_file: cannot read file: Permission denied "
        f"({secret}) (file {path})"
    )


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ----------------------------------------------------------------- the rule is generic


class _WebLike(Section):
    """What a later section (``[web] admin_token``) will declare: the pair, nothing more."""

    admin_token: SecretStr | None = None
    admin_token_file: Path | None = None


def test_any_section_with_a_file_twin_reads_it(tmp_path: Path) -> None:
    secret = write(tmp_path / "admin", "very-secret-admin\n")

    web = _WebLike.model_validate({"admin_token_file": str(secret)})

    assert web.admin_token is not None
    assert web.admin_token.get_secret_value() == "very-secret-admin"


def test_any_section_refuses_both(tmp_path: Path) -> None:
    secret = write(tmp_path / "admin", "x")

    with pytest.raises(ValidationError) as caught:
        _WebLike.model_validate({"admin_token": "y", "admin_token_file": str(secret)})

    [error] = caught.value.errors()
    assert error["loc"] == ("admin_token_file",)
    assert error["msg"] == "set either admin_token or admin_token_file, not both"


def _models() -> list[type[BaseModel]]:
    """Every settings model reachable from ``Settings``, sections and parks included."""
    from typing import get_args

    from app.settings import Settings

    seen: list[type[BaseModel]] = []
    todo: list[type[BaseModel]] = [Settings]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.append(model)
        for info in model.model_fields.values():
            for kind in (info.annotation, *get_args(info.annotation)):
                for inner in (kind, *get_args(kind)):
                    if isinstance(inner, type) and issubclass(inner, BaseModel):
                        todo.append(inner)
    return seen


def test_every_secret_has_a_file_twin() -> None:
    """A new secret without its ``_file`` key could only come from the config file or the
    environment: name every SecretStr field, and the SMS and database URLs."""
    missing = []
    for model in _models():
        for name, info in model.model_fields.items():
            secret = info.annotation in (SecretStr, SecretStr | None)
            secret_url = (model.__name__, name) in {
                ("SmsSettings", "url"),
                ("DatabaseSettings", "url"),
            }
            if (secret or secret_url) and f"{name}_file" not in model.model_fields:
                missing.append(f"{model.__name__}.{name}")
    assert missing == []
    assert len(_models()) > 5  # the walk reached the sections and the parks


def test_database_url_from_file_is_masked(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://taxireg:pa55word@db.example/taxireg"
    secret = write(tmp_path / "db-url", url + "\n")
    settings = load_settings(None, data_dir=tmp_path, database={"url_file": str(secret)})
    assert settings.database_url == url
    assert "pa55word" not in str(settings.redacted_dict())
