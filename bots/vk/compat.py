"""Importing vkbottle without letting it take over the process's logging and warnings.

``import vkbottle`` replaces ``warnings.showwarning`` (every warning of every library then
goes through vkbottle's logger) and puts its own coloured StreamHandler on the ``vkbottle``
logger, which prints each record a second time next to our handlers. Import vkbottle only
through this module so our logging configuration rules.
"""

from __future__ import annotations

import logging
import warnings

_before = warnings.showwarning

import vkbottle  # noqa: E402  (the point is to wrap this import)

VKBOTTLE_LOGGER = "vkbottle"


def tame_vkbottle() -> None:
    """Undo vkbottle's import-time changes to logging and warnings; safe to call again."""
    if getattr(warnings.showwarning, "__module__", "") == "vkbottle.modules":
        # vkbottle may have been imported before this module (e.g. by a test); then the
        # stdlib's original is the best we can restore.
        original = _before if _before.__module__ != "vkbottle.modules" else None
        warnings.showwarning = original or warnings._showwarning_orig  # type: ignore[attr-defined]
    logger = logging.getLogger(VKBOTTLE_LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.propagate = True
    # vkbottle logs request data and whole updates at DEBUG: message texts with phone
    # numbers. Keep those out of our logs even when the app runs at DEBUG.
    if logger.level == logging.NOTSET or logger.level < logging.INFO:
        logger.setLevel(logging.INFO)


tame_vkbottle()

__all__ = ["VKBOTTLE_LOGGER", "tame_vkbottle", "vkbottle"]
