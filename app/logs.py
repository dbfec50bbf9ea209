"""Logging for every taxireg process: one handler on stderr, plain or JSON lines, secrets redacted.

Callers attach context as ``extra={"park": ..., "channel": ..., "step": ..., "outcome": ...,
"phone": mask_phone(...)}``; both formats print every such extra, so a log line can be
filtered by park or outcome without parsing the message.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import IO, Any

from app.settings import LoggingSettings

# A Telegram bot token (``123456789:AA...``), wherever it appears: aiogram, aiohttp and
# tracebacks put request URLs (``/bot<token>/getUpdates``) into messages.
_BOT_TOKEN = re.compile(r"\d{6,}:[A-Za-z0-9_-]{30,}")
# VK (and most OAuth-style APIs) pass the token as a query or form parameter.
_ACCESS_TOKEN = re.compile(r"(access_token[\"']?\s*[=:]\s*[\"']?)[^\s&\"',;)}\]]+", re.I)
REDACTED = "***"
# Full phone numbers that slip into messages (SQL parameters at DEBUG, exception texts):
# E.164 (+79161234567) and Russian national forms (89161234567). Masked like mask_phone.
_PHONE = re.compile(r"(?<![\w+])(\+\d{1,3}|8|7)(\d{6})(\d{4})(?!\d)")
# What each of the three needs at least: six digits in a row, or the parameter's name. Most
# texts (a park's slug, a step, a masked phone) have neither: one search instead of three
# substitutions for each of them, in a line a bot logs per update.
_SUSPECT = re.compile(r"\d{6}|access_token", re.I)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName"}
)
_HANDLER_MARK = "_taxireg_handler"
NOISY_LOGGERS = ("alembic", "apscheduler", "aiogram.event")


def redact(text: str) -> str:
    """Mask bot tokens, ``access_token=...`` values and full phone numbers in any text."""
    if not text or _SUSPECT.search(text) is None:
        return text
    text = _BOT_TOKEN.sub(REDACTED, text)
    text = _ACCESS_TOKEN.sub(lambda m: m.group(1) + REDACTED, text)
    return _PHONE.sub(_mask_phone_match, text)


def _mask_phone_match(match: re.Match[str]) -> str:
    last4 = match.group(3)
    return f"{match.group(1)} *** ***-{last4[:2]}-{last4[2:]}"


class RedactingFilter(logging.Filter):
    """Rewrites each record so no formatter or later handler can see a secret.

    The message is rendered here (``msg % args``) because a token may hide in an argument;
    the traceback is rendered and redacted too, since exception messages carry URLs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in extras(record).items():
            if isinstance(value, str):
                setattr(record, key, redact(value))
        return True


def extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _plain_value(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if (not text or " " in text) else text


class PlainFormatter(logging.Formatter):
    """``2026-11-23 09:00:00 INFO taxireg.flow update handled park=mos step=otp ...``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s", "%Y-%m-%d %H:%M:%S")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging API)
        line = super().formatMessage(record)
        context = " ".join(f"{k}={_plain_value(v)}" for k, v in extras(record).items())
        return f"{line} {context}" if context else line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, every extra, exc when present."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in extras(record).items():
            data.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exc"] = record.exc_text
        if record.stack_info:
            data["stack"] = record.stack_info
        return json.dumps(data, ensure_ascii=False, default=str)


def setup_logging(config: LoggingSettings, stream: IO[str] | None = None) -> logging.Handler:
    """Install taxireg's handler on the root logger (replacing one installed earlier)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(JsonFormatter() if config.json else PlainFormatter())
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(config.level_number)
    # These libraries log routine work at INFO: alembic its context on every start-up,
    # APScheduler every job run (every few seconds), aiogram every update (our flow already
    # logs one line per update). Only a debugging operator wants that.
    quiet = logging.DEBUG if config.level_number <= logging.DEBUG else logging.WARNING
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(quiet)
    return handler
