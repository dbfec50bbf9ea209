"""SMS abuse limits: per number across every chat, per chat across numbers, with a wait."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.domain.model import Channel
from core.domain.registration import Conversation, Limits
from core.domain.sms_limits import (
    PHONE_QUOTAS,
    TEXT_KEYS,
    Quota,
    SmsLimit,
    SmsWait,
    phone_wait,
    refusal,
)
from core.texts import Catalog
from tests.fakes.clock import FakeClock

SECRET = b"s" * 32
LIMITS = Limits(otp_secret=SECRET)
PHONE_A, PHONE_B = "+79161234567", "+79167654321"


def conversation(user_id: str = "1", channel: Channel = Channel.VK) -> Conversation:
    return Conversation(park="mos", channel=channel, user_id=user_id)


def test_a_quota_is_a_sliding_window() -> None:
    clock = FakeClock()
    quota = Quota(3, timedelta(minutes=10))
    sends = []
    for _ in range(3):
        assert quota.wait(clock.now(), sends) == 0
        sends.append(clock.now())
        clock.advance(minutes=2)
    # Three sends at 0, 2 and 4 minutes; at 6 minutes the first leaves the window at 10.
    assert quota.wait(clock.now(), sends) == 4 * 60
    clock.advance(minutes=4)
    assert quota.wait(clock.now(), sends) == 0
    # Sends older than the window do not count at all.
    assert quota.wait(clock.now() + timedelta(hours=1), sends * 5) == 0


def test_a_send_stamped_ahead_of_this_clock_counts() -> None:
    # Another process's clock may run a little ahead; its send still counts here.
    now = FakeClock().now()
    assert Quota(1, timedelta(minutes=1)).wait(now, [now + timedelta(seconds=5)]) == 65


def test_quotas_must_allow_something() -> None:
    with pytest.raises(ValueError, match="quota"):
        Quota(0, timedelta(minutes=1))
    with pytest.raises(ValueError, match="quota"):
        Quota(1, timedelta(0))


def test_one_number_gets_three_codes_per_ten_minutes_and_ten_a_day_from_all_chats() -> None:
    # 20 VK accounts used to send 100 codes to one number: now every chat's sends count.
    clock, sent = FakeClock(), []
    granted = 0
    for hour in range(24):
        for account in range(20):
            conv = conversation(user_id=f"{hour}-{account}")
            if conv.sms_wait(clock.now(), LIMITS, sent) is None:
                conv.issue_otp(PHONE_A, clock.now(), LIMITS)
                sent.append(clock.now())
                granted += 1
            clock.advance(seconds=30)
        clock.advance(minutes=50)
    assert granted == 10
    assert all(
        len([t for t in sent if start <= t < start + timedelta(minutes=10)]) <= 3 for start in sent
    )


def test_the_phone_refusal_says_how_long_to_wait() -> None:
    clock = FakeClock()
    sent = [clock.now(), clock.now() + timedelta(minutes=1), clock.now() + timedelta(minutes=2)]
    clock.advance(minutes=3)
    wait = conversation().sms_wait(clock.now(), LIMITS, sent)
    assert wait == SmsWait(SmsLimit.PHONE_QUOTA, 7 * 60)
    assert wait.text_key == "sms-limit-phone"
    assert wait.args == {"unit": "minutes", "amount": 7}
    clock.advance(seconds=wait.seconds)
    assert conversation().sms_wait(clock.now(), LIMITS, sent) is None


def test_the_daily_quota_counts_from_the_oldest_send_of_the_day() -> None:
    clock = FakeClock()
    start = clock.now()
    sent = [start + timedelta(hours=hour) for hour in range(10)]
    clock.current = start + timedelta(hours=10)
    wait = phone_wait(clock.now(), sent, PHONE_QUOTAS)
    assert wait == timedelta(hours=14).total_seconds()
    refused = conversation().sms_wait(clock.now(), LIMITS, sent)
    assert refused is not None
    assert refused.args == {"unit": "hours", "amount": 14}


def test_the_resend_pause_holds_for_any_number() -> None:
    # One account used to reach 5 numbers back to back: the pause was per number.
    clock, conv = FakeClock(), conversation()
    conv.issue_otp(PHONE_A, clock.now(), LIMITS)
    clock.advance(seconds=15)
    wait = conv.sms_wait(clock.now(), LIMITS, [])  # PHONE_B: nothing sent to it yet
    assert wait == SmsWait(SmsLimit.CHAT_PAUSE, 45)
    assert wait.args == {"unit": "seconds", "amount": 45}
    assert conv.resend_wait(clock.now(), LIMITS) == 45
    clock.advance(seconds=45)
    assert conv.sms_wait(clock.now(), LIMITS, []) is None
    conv.issue_otp(PHONE_B, clock.now(), LIMITS)
    assert conv.phone == PHONE_B


def test_one_chat_gets_a_few_codes_an_hour_whatever_the_numbers() -> None:
    clock, conv = FakeClock(), conversation()
    start = clock.now()
    phones = [f"+7916123456{i}" for i in range(10)]
    issued = []
    for phone in phones:
        if conv.sms_wait(clock.now(), LIMITS, []) is None:
            conv.issue_otp(phone, clock.now(), LIMITS)
            issued.append(phone)
        clock.advance(minutes=2)
    assert len(issued) == LIMITS.otp_max_per_hour
    wait = conv.sms_wait(clock.now(), LIMITS, [])
    assert wait is not None
    assert wait.limit is SmsLimit.CHAT_QUOTA
    assert wait.seconds == (start + timedelta(hours=1) - clock.now()).total_seconds()
    assert not conv.sms_quota_left(clock.now(), LIMITS)
    clock.current = start + timedelta(hours=1)
    assert conv.sms_wait(clock.now(), LIMITS, []) is None


def test_configured_quotas_replace_the_defaults() -> None:
    clock = FakeClock()
    limits = Limits(otp_secret=SECRET, sms_per_phone=(Quota(1, timedelta(hours=2)),))
    assert limits.sms_lookback == timedelta(hours=2)
    assert Limits().sms_lookback == timedelta(days=1)
    wait = conversation().sms_wait(clock.now(), limits, [clock.now()])
    assert wait == SmsWait(SmsLimit.PHONE_QUOTA, 2 * 3600)
    assert wait.args == {"unit": "hours", "amount": 2}


def test_the_longest_wait_is_the_one_reported() -> None:
    assert refusal({}) is None
    assert refusal({SmsLimit.CHAT_PAUSE: 0, SmsLimit.PHONE_QUOTA: 0}) is None
    assert refusal({SmsLimit.CHAT_PAUSE: 30, SmsLimit.PHONE_QUOTA: 0.2}) == SmsWait(
        SmsLimit.CHAT_PAUSE, 30
    )
    # Rounded up: told "1 s", the driver must not be refused again after 1 s.
    assert refusal({SmsLimit.CHAT_PAUSE: 0.2, SmsLimit.PHONE_QUOTA: 61.1}) == SmsWait(
        SmsLimit.PHONE_QUOTA, 62
    )
    assert SmsWait(SmsLimit.PHONE_QUOTA, 61).args == {"unit": "minutes", "amount": 2}
    assert SmsWait(SmsLimit.PHONE_QUOTA, 7200).args == {"unit": "hours", "amount": 2}


@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("limit", list(SmsLimit))
def test_every_refusal_has_a_polite_text_saying_when(lang: str, limit: SmsLimit) -> None:
    catalog = Catalog()
    for seconds, shown in ((45, "45"), (7 * 60, "7"), (14 * 3600, "14")):
        wait = SmsWait(limit, seconds)
        text = catalog.text(lang, wait.text_key, wait.args)
        assert shown in text
        assert "{" not in text
        assert "$" not in text
    assert set(TEXT_KEYS) == set(SmsLimit)


def test_refusal_texts_read_as_written() -> None:
    catalog = Catalog()
    wait = SmsWait(SmsLimit.PHONE_QUOTA, 7 * 60)
    assert catalog.text("ru", wait.text_key, wait.args) == (
        "Извините, на этот номер уже отправлено слишком много кодов. Попробуйте снова через 7 мин."
    )
    pause = SmsWait(SmsLimit.CHAT_PAUSE, 45)
    assert catalog.text("en", pause.text_key, pause.args) == (
        "You can request a new code in 45 s."
    )
