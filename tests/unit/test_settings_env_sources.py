"""How ``TAXIREG_*`` variables become settings (``app.settings.sources``), the rules that
pydantic-settings applied before: names in any case, ``__`` for nested keys, JSON for a
table, list or dict, text kept where a field may also be plain, and the environment
merged key by key over the file and under the arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import ConfigError, load_settings


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "taxireg.toml"
    path.write_text(
        '[database]\necho = true\n[web]\npublic_url = "https://file.example"\nport = 8081\n',
        encoding="utf-8",
    )
    return path


def test_nested_keys_merge_over_the_file_and_under_arguments(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("taxireg_Web__Port", "9090")  # any case
    monkeypatch.setenv("TAXIREG_WEB__CORS_ORIGINS", '["https://a.example"]')  # a list: JSON
    monkeypatch.setenv("TAXIREG_DATABASE__URL", "sqlite:////env.db")
    settings = load_settings(config, database={"url": "sqlite:////argument.db"})

    assert settings.web is not None
    assert (settings.web.public_url, settings.web.port) == ("https://file.example", 9090)
    assert settings.web.cors_origins == ["https://a.example"]
    assert settings.database.echo is True  # the file's, beside the argument's url
    assert settings.database.url == "sqlite:////argument.db"


def test_a_table_as_json_and_its_nested_keys_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAXIREG_LOGGING", '{"level": "DEBUG", "json": true}')
    monkeypatch.setenv("TAXIREG_LOGGING__LEVEL", "WARNING")  # the nested key wins
    settings = load_settings(None)

    assert (settings.logging.level, settings.logging.json) == ("WARNING", True)


def test_text_or_json_where_a_field_may_be_either(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAXIREG_VK__CALLBACK_CONFIRMATION", "abc123")
    assert load_settings(None).vk.callback_confirmation == "abc123"
    monkeypatch.setenv("TAXIREG_VK__CALLBACK_CONFIRMATION", '{"mos": "abc123"}')
    assert load_settings(None).vk.callback_confirmation == {"mos": "abc123"}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "TAXIREG_WEB__CORS_ORIGINS",
            "https://a.example",
            "config error: web: invalid JSON in environment variable TAXIREG_WEB",
        ),
        (
            "TAXIREG_DATABASE",
            "",
            "config error: database: invalid JSON in environment variable TAXIREG_DATABASE",
        ),
        (
            "TAXIREG_DATABASE__HOST",
            "db",
            "config error: database.host: unknown key (env TAXIREG_DATABASE__HOST)",
        ),
        (
            "TAXIREG_WEB",
            "yes",
            "config error: web: Input should be a valid dictionary or instance of "
            "WebSettings (env TAXIREG_WEB)",
        ),
    ],
)
def test_bad_values_are_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        load_settings(None)
    assert refused.value.message == message


def test_unknown_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAXIREG_NOT_A_SETTING", "1")
    assert load_settings(None).parks == []
