from __future__ import annotations

import hashlib
import hmac

import pytest

from core.domain.model import Channel
from core.domain.registration import (
    REPEAT_WINDOW,
    Conversation,
    Limits,
    OtpCheck,
    OtpSecretMissing,
    Step,
)
from tests.fakes.clock import FakeClock


def test_repeated_and_older_updates_are_seen() -> None:
    conv = Conversation(park="mos", channel=Channel.TELEGRAM, user_id="1")
    assert not conv.seen(500)
    assert conv.seen(500)
    assert conv.seen(499)
    assert not conv.seen(501)
    assert not conv.seen(None)


def test_update_ids_restarting_low_are_not_ignored() -> None:
    # Telegram picks a random update id after a week without updates.
    conv = Conversation(park="mos", channel=Channel.TELEGRAM, user_id="1")
    assert not conv.seen(900_000_000)
    assert not conv.seen(12_345)
    assert conv.last_event == 12_345
    assert conv.seen(12_345)
    assert not conv.seen(12_345 + REPEAT_WINDOW + 1)


# -- one-time SMS codes: an HMAC under the server secret -----------------------------------

SECRET = bytes(range(32))
LIMITS = Limits(otp_secret=SECRET)
PHONE = "+79161234567"


def otp_conversation(user_id: str = "1") -> Conversation:
    return Conversation(park="mos", channel=Channel.VK, user_id=user_id)


def test_the_right_code_is_accepted_once() -> None:
    clock, conv = FakeClock(), otp_conversation()
    code = conv.issue_otp(PHONE, clock.now(), LIMITS)
    assert len(code) == 6
    assert code.isdigit()
    assert conv.step is Step.OTP
    assert conv.otp_hash is not None
    assert code not in conv.otp_hash
    assert conv.check_otp(code, clock.now(), LIMITS) is OtpCheck.OK
    assert conv.otp_hash is None
    assert conv.check_otp(code, clock.now(), LIMITS) is OtpCheck.NONE


def test_a_wrong_expired_or_hammered_code_is_refused() -> None:
    clock, conv = FakeClock(), otp_conversation()
    code = conv.issue_otp(PHONE, clock.now(), LIMITS)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert conv.check_otp(wrong, clock.now(), LIMITS) is OtpCheck.WRONG
    assert conv.otp_attempts_left(LIMITS) == LIMITS.otp_max_attempts - 1
    assert conv.check_otp("\ud800\x00", clock.now(), LIMITS) is OtpCheck.WRONG  # never raises
    clock.advance(seconds=LIMITS.otp_ttl.total_seconds())
    assert conv.check_otp(code, clock.now(), LIMITS) is OtpCheck.EXPIRED

    conv = otp_conversation()
    code = conv.issue_otp(PHONE, clock.now(), LIMITS)
    for _ in range(LIMITS.otp_max_attempts):
        conv.check_otp(f"{(int(code) + 1) % 1_000_000:06d}", clock.now(), LIMITS)
    assert conv.check_otp(code, clock.now(), LIMITS) is OtpCheck.LOCKED


def test_the_hash_depends_on_the_secret() -> None:
    conv = otp_conversation()
    other = bytes(reversed(SECRET))
    assert conv.otp_digest(SECRET, "123456", PHONE) == conv.otp_digest(SECRET, "123456", PHONE)
    assert conv.otp_digest(SECRET, "123456", PHONE) != conv.otp_digest(other, "123456", PHONE)
    # Bound to the conversation and the number too: a copied digest matches nowhere else.
    assert conv.otp_digest(SECRET, "123456", PHONE) != otp_conversation("2").otp_digest(
        SECRET, "123456", PHONE
    )
    assert conv.otp_digest(SECRET, "123456", PHONE) != conv.otp_digest(
        SECRET, "123456", "+79167654321"
    )


def test_a_code_issued_under_one_secret_fails_under_another() -> None:
    clock, conv = FakeClock(), otp_conversation()
    code = conv.issue_otp(PHONE, clock.now(), LIMITS)
    rotated = Limits(otp_secret=b"another secret of 32 bytes......")
    assert conv.check_otp(code, clock.now(), rotated) is OtpCheck.WRONG


def test_the_stored_hash_cannot_be_recomputed_from_public_values() -> None:
    # The old key was "park:channel:user_id:phone": all of it readable from the same row, so
    # trying 10^6 codes revealed the code. Those digests no longer match anything stored.
    clock, conv = FakeClock(), otp_conversation()
    code = conv.issue_otp(PHONE, clock.now(), LIMITS)
    public_key = f"{conv.park}:{conv.channel}:{conv.user_id}:{PHONE}".encode()
    old_digest = hmac.new(public_key, code.encode(), hashlib.sha256).hexdigest()
    assert conv.otp_hash != old_digest
    assert conv.otp_hash == conv.otp_digest(SECRET, code, PHONE)


def test_no_secret_no_code() -> None:
    clock, conv = FakeClock(), otp_conversation()
    with pytest.raises(OtpSecretMissing):
        conv.issue_otp(PHONE, clock.now(), Limits())
    assert conv.otp_hash is None
    assert conv.step is Step.PHONE
    conv.issue_otp(PHONE, clock.now(), LIMITS)
    with pytest.raises(OtpSecretMissing):
        conv.check_otp("123456", clock.now(), Limits())


def test_a_short_secret_is_refused_and_the_secret_is_never_printed() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        Limits(otp_secret=b"short")
    assert SECRET.hex() not in repr(LIMITS)
    assert repr(SECRET) not in repr(LIMITS)
