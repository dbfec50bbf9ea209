"""Lengths the database stores, stated once: storage sizes its columns from these, and every
edge (bots, web, CLI, config) checks or cuts input to them, the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

SLUG = 32
PARK_NAME = 200
URL = 500
USERNAME = 64  # a Telegram bot username or a VK screen name
TIMEZONE = 64
PHONE = 20
CODE = 16
PERSON_NAME = 200
USER_ID = 64  # a channel's user id, as text
SOURCE_TAG = 64  # the SubID a link carries (``src``, ``ref_source``)
ACTOR = 200
AUDIT_VALUE = 200
