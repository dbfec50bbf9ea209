"""VK misbehaving: send errors, long-poll failures, start-up failures, wrong tokens."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.bots.vk_harness import MOS, SPB, TOKENS, VkWorld, texts, vk_world
from tests.fakes.clock import FakeClock
from tests.fakes.sms import RecordingSms
from tests.fakes.vk_server import LONG_POLL, FakeVK

pytest_plugins = ("tests.bots.vk_fixtures",)
pytestmark = pytest.mark.timeout(30)

WRONG_TOKEN = "vk1.a.wrong-token-0123456789abcdef"


def t(vk: VkWorld, key: str, **args: object) -> str:
    return vk.container.catalog.text("ru", key, args)


def vk_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    # Start-up happens in fixtures: their records are kept apart from the test's.
    records = caplog.get_records("setup") + caplog.records
    return [r for r in records if r.name.startswith(("taxireg.vk", "vkbottle"))]


def assert_no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    assert [r.getMessage() for r in vk_records(caplog) if r.exc_info] == []


async def test_user_who_blocked_the_bot_is_dropped_quietly(
    vk: VkWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    user = vk.user(801)
    fault = vk.fake.inject("messages.send", peer_id=user.peer_id, error_code=901)

    await user.start(expect=0)  # the welcome fails with 901: the rest is not even tried
    [answer] = await user.say("abc")  # the user allowed messages again

    assert answer.message == t(vk, "phone-invalid")
    assert fault.hits == 1
    [line] = [r for r in vk_records(caplog) if "unreachable" in r.getMessage()]
    assert (line.levelno, getattr(line, "park", None), getattr(line, "vk_error", None)) == (
        logging.INFO,
        "mos",
        901,
    )
    assert_no_tracebacks(caplog)


async def test_flood_control_is_retried_once(
    vk: VkWorld, caplog: pytest.LogCaptureFixture
) -> None:
    user = vk.user(802)
    fault = vk.fake.inject("messages.send", peer_id=user.peer_id, error_code=9)

    sent = await user.start()

    assert texts(sent) == [t(vk, "welcome", park="Мос ГорТакси"), t(vk, "phone-ask-typed")]
    assert fault.hits == 1
    assert all(s.random_id != 0 for s in sent)
    assert_no_tracebacks(caplog)


async def test_flood_control_twice_drops_that_reply_only(
    vk: VkWorld, caplog: pytest.LogCaptureFixture
) -> None:
    user = vk.user(803)
    fault = vk.fake.inject("messages.send", peer_id=user.peer_id, error_code=9, times=2)

    [prompt] = await user.start(expect=1)

    assert prompt.message == t(vk, "phone-ask-typed")  # the welcome was dropped
    assert fault.hits == 2
    [line] = [r for r in vk_records(caplog) if "after a retry" in r.getMessage()]
    assert line.levelno == logging.WARNING
    assert "mos" in line.getMessage()
    [answer] = await user.say("abc")
    assert answer.message == t(vk, "phone-invalid")
    assert_no_tracebacks(caplog)


async def test_send_5xx_is_retried_without_vkbottle_sleeping(
    vk: VkWorld, caplog: pytest.LogCaptureFixture
) -> None:
    user = vk.user(804)
    fault = vk.fake.inject("messages.send", peer_id=user.peer_id, http_status=502)

    sent = await user.start()

    assert texts(sent) == [t(vk, "welcome", park="Мос ГорТакси"), t(vk, "phone-ask-typed")]
    assert fault.hits == 1
    assert_no_tracebacks(caplog)


async def test_long_poll_500_is_survived(vk: VkWorld, caplog: pytest.LogCaptureFixture) -> None:
    user = vk.user(805)
    await user.start()
    # The parked poll is past the fault check already: the next two polls fail.
    fault = vk.fake.inject(LONG_POLL, group_id=MOS, http_status=500, times=2)
    await user.say("abc")
    [answer] = await user.say("89161234567")

    assert answer.message == t(vk, "otp-sent", phone="+79161234567")
    assert fault.hits == 2
    assert any("long poll error" in r.getMessage() for r in vk_records(caplog))
    assert_no_tracebacks(caplog)


@pytest.fixture
def world_args(
    database_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingSms, cwd: Path
) -> tuple[str, Path, FakeClock, RecordingSms]:
    return database_url, tmp_path, clock, sms


@pytest.mark.parametrize(
    "failure", [{"error_code": 10}, {"http_status": 503}], ids=["vk-error-10", "http-503"]
)
async def test_start_up_failure_restarts_polling(
    world_args: tuple[str, Path, FakeClock, RecordingSms],
    failure: dict[str, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # vkbottle lets an error in the first getLongPollServer end run_polling(); the front
    # end must start it again.
    faults = []

    def fail_first_server(fake: FakeVK) -> None:
        faults.append(fake.inject("groups.getLongPollServer", group_id=MOS, **failure))

    async with vk_world(*world_args, before_start=fail_first_server) as vk:
        sent = await vk.user(806).start()
        assert texts(sent)[0] == t(vk, "welcome", park="Мос ГорТакси")
        assert faults[0].hits == 1
        assert vk.front.status() == {"mos": "running", "spb": "running"}
    restarts = [r for r in vk_records(caplog) if "restarting" in r.getMessage()]
    assert [getattr(r, "park", None) for r in restarts] == ["mos"]
    assert_no_tracebacks(caplog)


@pytest.fixture
async def spb_with_wrong_token(
    world_args: tuple[str, Path, FakeClock, RecordingSms],
) -> AsyncIterator[VkWorld]:
    tokens = {"mos": TOKENS["mos"], "spb": WRONG_TOKEN}
    async with vk_world(*world_args, tokens=tokens) as world:
        yield world


async def test_wrong_token_is_reported_once_and_the_other_park_works(
    spb_with_wrong_token: VkWorld, caplog: pytest.LogCaptureFixture
) -> None:
    vk = spb_with_wrong_token
    sent = await vk.user(807).start()

    assert texts(sent)[0] == t(vk, "welcome", park="Мос ГорТакси")
    assert vk.front.status() == {"mos": "running", "spb": "auth_failed"}
    errors = [r for r in vk_records(caplog) if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "spb" in errors[0].getMessage()
    assert "token" in errors[0].getMessage()
    records = caplog.get_records("setup") + caplog.records
    everything = "\n".join(r.getMessage() + repr(r.__dict__) for r in records)
    assert WRONG_TOKEN not in everything
    assert TOKENS["mos"] not in everything
    assert vk.fake.calls_to("groups.getLongPollServer", SPB) == []


async def test_token_of_another_community_is_refused(
    world_args: tuple[str, Path, FakeClock, RecordingSms], caplog: pytest.LogCaptureFixture
) -> None:
    tokens = {"mos": TOKENS["mos"], "spb": TOKENS["mos"]}
    async with vk_world(*world_args, tokens=tokens) as vk:
        assert vk.front.status() == {"mos": "running", "spb": "misconfigured"}
        [error] = [r for r in vk_records(caplog) if r.levelno >= logging.ERROR]
        assert "spb" in error.getMessage()
        assert str(MOS) in error.getMessage()


async def test_api_url_without_slash_and_api_version_are_used(
    world_args: tuple[str, Path, FakeClock, RecordingSms],
) -> None:
    def options(fake: FakeVK) -> dict[str, str]:
        return {"api_url": fake.api_url.rstrip("/"), "api_version": "5.131"}

    async with vk_world(*world_args, vk_options=options) as vk:
        await vk.user(808).start()
        [first, *_] = vk.fake.calls_to("messages.send", MOS)
        assert first.params["v"] == "5.131"


def test_importing_the_front_end_leaves_logging_and_warnings_alone() -> None:
    # A fresh interpreter: vkbottle changes these at import time, once per process.
    code = (
        "import logging, warnings\n"
        "before = warnings.showwarning\n"
        "import bots.vk.app\n"
        "assert warnings.showwarning is before, warnings.showwarning\n"
        "assert logging.getLogger('vkbottle').handlers == []\n"
        "assert logging.getLogger('vkbottle').getEffectiveLevel() >= logging.INFO\n"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
