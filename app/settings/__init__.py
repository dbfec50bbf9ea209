"""taxireg configuration: one TOML file plus ``TAXIREG_*`` environment overrides.

Sources, highest priority first:

1. keyword arguments (``Settings(...)`` / ``load_settings(path, **overrides)``),
2. environment: ``TAXIREG_<KEY>``, ``__`` between nested keys
   (``TAXIREG_DATABASE__URL``, ``TAXIREG_SMS__SENDER``); complex values such as the
   park list are JSON (``TAXIREG_PARKS='[{"slug": "...", ...}]'``),
3. the TOML file named by ``--config`` or ``TAXIREG_CONFIG``,
4. the defaults, so a zero-config ``taxireg demo`` runs.

A secret ``x`` may instead come from the file named by ``x_file`` (``telegram_token_file``,
``[sms] url_file``; see ``secret_files``).

``.env`` files and secret directories are deliberately not read: a stray ``.env`` in
the working directory silently changing a production bot is worse than typing
``export``.

This package is imported by the CLI before anything else, so it must stay light:
no aiogram, vkbottle or SQLAlchemy here (``phonenumbers`` is imported lazily too).

Modules: ``sections`` (the ``[section]`` models), ``parks`` (``[[parks]]``), ``root``
(``Settings``), ``sources`` and ``loading`` (TOML + environment, one-line errors),
``checks`` and ``secret_files`` (shared validation), ``masking`` (secrets out of output).
"""

from __future__ import annotations

from app.settings.errors import ConfigError, UnknownPark
from app.settings.loading import load_settings
from app.settings.masking import REDACTED
from app.settings.parks import ParkSettings
from app.settings.root import Settings, default_data_dir
from app.settings.sections import (
    DatabaseSettings,
    LoggingSettings,
    NotificationSettings,
    RegistrationSettings,
    SmsSettings,
    TelegramSettings,
    VkSettings,
    WebSettings,
)
from app.settings.sources import CONFIG_ENV_VAR, ENV_PREFIX

__all__ = [
    "CONFIG_ENV_VAR",
    "ENV_PREFIX",
    "REDACTED",
    "ConfigError",
    "DatabaseSettings",
    "LoggingSettings",
    "NotificationSettings",
    "ParkSettings",
    "RegistrationSettings",
    "Settings",
    "SmsSettings",
    "TelegramSettings",
    "UnknownPark",
    "VkSettings",
    "WebSettings",
    "default_data_dir",
    "load_settings",
]
