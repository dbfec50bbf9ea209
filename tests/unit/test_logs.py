"""Logging: structured extras in both formats, secrets never in the output."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import logs
from app.logs import NOISY_LOGGERS, redact, setup_logging
from app.settings import LoggingSettings

TOKEN = "123456789:AAH-very-secret-telegram-token-value-xyz"
VK_TOKEN = "vk1.a.secret-community-token"


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in NOISY_LOGGERS}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


def capture(json_lines: bool, level: str = "INFO") -> io.StringIO:
    stream = io.StringIO()
    setup_logging(LoggingSettings(level=level, json=json_lines), stream=stream)
    return stream


def test_redact_masks_bot_tokens_and_access_tokens() -> None:
    url = f"https://api.telegram.org/bot{TOKEN}/getUpdates?offset=1"
    assert redact(url) == "https://api.telegram.org/bot***/getUpdates?offset=1"
    vk = f"POST https://api.vk.com/method/messages.send?access_token={VK_TOKEN}&v=5.199"
    assert redact(vk) == "POST https://api.vk.com/method/messages.send?access_token=***&v=5.199"
    assert redact("{'access_token': 'abc'}") == "{'access_token': '***'}"
    assert redact("phone +7 *** ***-45-67 at 12:30") == "phone +7 *** ***-45-67 at 12:30"


@pytest.mark.usefixtures("restore_root")
def test_plain_lines_carry_extras_and_hide_secrets() -> None:
    stream = capture(json_lines=False)
    log = logging.getLogger("taxireg.test")
    log.info(
        "update handled",
        extra={"park": "mos", "channel": "vk", "outcome": "otp_sent", "phone": "+7 *** ***-45-67"},
    )
    log.warning("request to %s failed", f"https://api.telegram.org/bot{TOKEN}/sendMessage")
    log.debug("not shown at INFO")
    logging.getLogger("apscheduler.executors.default").info("Running job ... every 3 s")
    out = stream.getvalue()
    assert 'update handled park=mos channel=vk outcome=otp_sent phone="+7 *** ***-45-67"' in out
    assert "bot***/sendMessage" in out
    assert TOKEN not in out
    assert "not shown" not in out
    assert "Running job" not in out


@pytest.mark.usefixtures("restore_root")
def test_json_lines_and_redacted_tracebacks() -> None:
    stream = capture(json_lines=True, level="debug")
    log = logging.getLogger("aiohttp.client")
    try:
        raise ConnectionError(f"cannot reach https://api.vk.com/method/x?access_token={VK_TOKEN}")
    except ConnectionError:
        log.exception("polling failed", extra={"park": "spb", "step": "otp"})
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 1
    record = lines[0]
    assert record["level"] == "ERROR"
    assert record["logger"] == "aiohttp.client"
    assert record["msg"] == "polling failed"
    assert (record["park"], record["step"]) == ("spb", "otp")
    assert "ConnectionError" in record["exc"]
    assert "access_token=***" in record["exc"]
    assert VK_TOKEN not in stream.getvalue()


@pytest.mark.usefixtures("restore_root")
def test_setup_twice_keeps_one_handler() -> None:
    capture(json_lines=False)
    stream = capture(json_lines=True)
    logging.getLogger("taxireg.test").warning("once")
    assert len(stream.getvalue().splitlines()) == 1
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_taxireg_handler", False)]
    assert len(ours) == 1


def test_full_phones_are_masked_but_ids_are_not() -> None:
    from app.logs import redact

    assert redact("params ('+79161234567', 'mos')") == "params ('+7 *** ***-45-67', 'mos')"
    assert redact("typed 89161234567") == "typed 8 *** ***-45-67"
    assert redact("update 987654321 chat -1001234567890") == "update 987654321 chat -1001234567890"


_SECRETISH = st.sampled_from(
    [TOKEN, "access_token=abc", "ACCESS_TOKEN: 'x'", "+79161234567", "89161234567", "7", "+"]
)


@given(
    st.lists(st.one_of(st.text(max_size=30), _SECRETISH, st.from_regex(r"\d{5,12}")), max_size=6)
)
def test_the_quick_check_skips_only_texts_with_nothing_to_redact(parts: list[str]) -> None:
    # The three substitutions, always: what redact must still produce for every text.
    text = "".join(parts)
    expected = logs._BOT_TOKEN.sub(logs.REDACTED, text)
    expected = logs._ACCESS_TOKEN.sub(lambda m: m.group(1) + logs.REDACTED, expected)
    expected = logs._PHONE.sub(logs._mask_phone_match, expected)

    assert redact(text) == expected
