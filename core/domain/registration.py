"""The registration conversation: one per park and channel identity, persisted between updates.

It is also the link between a channel identity and the driver or partner it belongs to, so a
restart, a second process or a second channel all see the same state.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from core.domain import sms_limits
from core.domain.model import Channel, Identity
from core.domain.sms_limits import PHONE_QUOTAS, Quota, SmsLimit, SmsWait

# How far below the last handled update id a repeated delivery can be: a crashed poller gets
# at most one batch again, and ids of all the bot's users lie in between.
REPEAT_WINDOW = 10_000
# The shortest server secret for SMS-code hashes: 128 bits cannot be guessed.
MIN_OTP_SECRET = 16


class OtpSecretMissing(RuntimeError):
    """No server secret for SMS codes: hashing them with public values only would let anyone
    who reads the database recover a code in 10^6 tries, so no code is issued at all."""


class Step(StrEnum):
    PHONE = "phone"  # waiting for the phone: a shared contact or a typed number
    OTP = "otp"  # waiting for the SMS code sent to ``phone``
    REFERRAL = "referral"  # phone confirmed, waiting for a referral code or the no-code button
    DONE = "done"  # a registered driver (``driver_id``)
    PARTNER = "partner"  # a partner of this park (``partner_id``)


# A registration that is started and not finished: what a reminder is for.
UNFINISHED = (Step.PHONE, Step.OTP, Step.REFERRAL)


@dataclass(frozen=True)
class DueReminder:
    """An unfinished registration just marked reminded: its reminder is to be queued."""

    conversation_id: int
    park: str
    step: Step


@dataclass(frozen=True)
class Limits:
    otp_ttl: timedelta = timedelta(minutes=5)
    otp_max_attempts: int = 5
    otp_resend: timedelta = timedelta(seconds=60)
    otp_max_per_hour: int = 5
    code_max_failures: int = 5
    code_failure_window: timedelta = timedelta(minutes=10)
    code_cooldown: timedelta = timedelta(minutes=10)
    # Codes to one number from all chats, channels and parks together.
    sms_per_phone: tuple[Quota, ...] = PHONE_QUOTAS
    # The HMAC key of SMS-code hashes; never printed (repr=False), never stored beside them.
    otp_secret: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.otp_secret is not None and len(self.otp_secret) < MIN_OTP_SECRET:
            raise ValueError(f"the SMS code secret needs at least {MIN_OTP_SECRET} bytes")

    @property
    def sms_lookback(self) -> timedelta:
        """How far back a number's send history must be read for ``sms_per_phone``."""
        return sms_limits.lookback(self.sms_per_phone)

    def require_otp_secret(self) -> bytes:
        if self.otp_secret is None:
            raise OtpSecretMissing("no [sms] code secret: SMS codes cannot be issued")
        return self.otp_secret


class OtpCheck(StrEnum):
    OK = "ok"
    WRONG = "wrong"
    EXPIRED = "expired"
    LOCKED = "locked"
    NONE = "none"


@dataclass
class Conversation:
    park: str
    channel: Channel
    user_id: str
    step: Step = Step.PHONE
    version: int = 0  # 0: not stored yet; every save bumps it (optimistic concurrency)
    id: int | None = None
    lang: str = "ru"
    name: str | None = None
    phone: str | None = None
    link_code: str | None = None
    link_tag: str | None = None
    otp_hash: str | None = None
    otp_expires_at: datetime | None = None
    otp_sent_at: datetime | None = None
    otp_attempts: int = 0
    otp_sends: int = 0
    otp_window_start: datetime | None = None
    code_failures: int = 0
    code_window_start: datetime | None = None
    cooldown_until: datetime | None = None
    driver_id: int | None = None
    partner_id: int | None = None
    last_event: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # Consent to personal-data processing, given by sending the phone (152-FZ).
    consent_at: datetime | None = None
    consent_url: str | None = None
    # The one reminder of an unfinished registration went out (``core.services.reminders``),
    # and /stop, after which no reminder (nor mailing) is ever sent.
    reminded_at: datetime | None = None
    stopped_at: datetime | None = None

    @property
    def identity(self) -> Identity:
        return Identity(self.channel, self.user_id)

    def snapshot(self) -> Conversation:
        return replace(self)

    # -- duplicate deliveries -------------------------------------------------------------

    def seen(self, event_id: int | None) -> bool:
        """True for an update that was already handled (channels number updates in order).

        Only ids a little below the last one count as repeats: Telegram restarts update ids
        at a random value after a week without updates, and such a user must not be ignored.
        """
        if event_id is None:
            return False
        last = self.last_event
        if last is not None and last - REPEAT_WINDOW <= event_id <= last:
            return True
        self.last_event = event_id
        return False

    # -- one-time SMS codes ---------------------------------------------------------------

    def issued_by(self, event_id: int | None) -> bool:
        """True if ``event_id`` is the last update applied and it left a fresh, untried code:
        the update that sent the SMS (a later update would have moved ``last_event``)."""
        return (
            event_id is not None
            and event_id == self.last_event
            and self.step is Step.OTP
            and self.otp_hash is not None
            and self.otp_attempts == 0
        )

    def resend_wait(self, now: datetime, limits: Limits) -> int:
        """Seconds until this chat may get another SMS, to any number; 0 if now."""
        return math.ceil(sms_limits.pause_wait(now, self.otp_sent_at, limits.otp_resend))

    def sms_quota_left(self, now: datetime, limits: Limits) -> bool:
        return self._chat_quota_wait(now, limits) == 0

    def sms_wait(
        self, now: datetime, limits: Limits, phone_sends: Iterable[datetime], pause: bool = True
    ) -> SmsWait | None:
        """None if a code may be sent now, else the limit that refuses it and how long to wait.

        ``phone_sends`` are the times codes went to the number asked for, from every chat and
        channel, at least ``limits.sms_lookback`` back. The chat's own pause and hourly quota
        come from this conversation and hold for any number, not only the last one.
        """
        return sms_limits.refusal(
            {
                SmsLimit.CHAT_PAUSE: (
                    sms_limits.pause_wait(now, self.otp_sent_at, limits.otp_resend)
                    if pause
                    else 0.0
                ),
                SmsLimit.CHAT_QUOTA: self._chat_quota_wait(now, limits),
                SmsLimit.PHONE_QUOTA: sms_limits.phone_wait(
                    now, phone_sends, limits.sms_per_phone
                ),
            }
        )

    def issue_otp(self, phone: str, now: datetime, limits: Limits) -> str:
        """A new 6-digit code for ``phone``; only its HMAC under the server secret is kept.

        Raises OtpSecretMissing when ``limits`` carries no secret.
        """
        secret = limits.require_otp_secret()
        code = f"{secrets.randbelow(1_000_000):06d}"
        window = sms_limits.CHAT_WINDOW
        if self.otp_window_start is None or now - self.otp_window_start >= window:
            self.otp_window_start, self.otp_sends = now, 0
        self.otp_sends += 1
        self.phone = phone
        self.otp_hash = self.otp_digest(secret, code, phone)
        self.otp_expires_at = now + limits.otp_ttl
        self.otp_sent_at = now
        self.otp_attempts = 0
        self.step = Step.OTP
        return code

    def check_otp(self, text: str, now: datetime, limits: Limits) -> OtpCheck:
        if self.otp_hash is None or self.phone is None:
            return OtpCheck.NONE
        if self.otp_attempts >= limits.otp_max_attempts:
            return OtpCheck.LOCKED
        if self.otp_expires_at is not None and now >= self.otp_expires_at:
            return OtpCheck.EXPIRED
        digest = self.otp_digest(limits.require_otp_secret(), text, self.phone)
        if hmac.compare_digest(digest, self.otp_hash):
            self.otp_hash = self.otp_expires_at = None
            self.otp_attempts = 0
            return OtpCheck.OK
        self.otp_attempts += 1
        return OtpCheck.LOCKED if self.otp_attempts >= limits.otp_max_attempts else OtpCheck.WRONG

    def otp_attempts_left(self, limits: Limits) -> int:
        return max(0, limits.otp_max_attempts - self.otp_attempts)

    def restart_phone(self) -> None:
        self.step = Step.PHONE
        self.phone = self.otp_hash = self.otp_expires_at = None
        self.otp_attempts = 0

    def _chat_quota_wait(self, now: datetime, limits: Limits) -> float:
        hourly = Quota(limits.otp_max_per_hour, sms_limits.CHAT_WINDOW)
        return sms_limits.window_wait(now, self.otp_window_start, self.otp_sends, hourly)

    def otp_digest(self, secret: bytes, code: str, phone: str) -> str:
        """HMAC-SHA256 under the server secret of the code, bound to this conversation and
        phone: without the secret the stored digest tells nothing, and a digest copied to
        another conversation or number does not match there."""
        # The unit separator cannot occur in a slug, a channel, a user id or an E.164 phone,
        # so distinct tuples never join to the same message.
        message = "\x1f".join((self.park, str(self.channel), self.user_id, phone, code))
        # surrogatepass: the typed text is checked as is and must not raise.
        data = message.encode("utf-8", "surrogatepass")
        return hmac.new(secret, data, hashlib.sha256).hexdigest()

    # -- referral-code brute-force guard --------------------------------------------------

    def cooldown_left(self, now: datetime) -> int:
        if self.cooldown_until is None or now >= self.cooldown_until:
            return 0
        return int((self.cooldown_until - now).total_seconds() + 0.999)

    def code_failed(self, now: datetime, limits: Limits) -> bool:
        """Count a wrong code; True when this one starts the cooldown."""
        if (
            self.code_window_start is None
            or now - self.code_window_start > limits.code_failure_window
        ):
            self.code_window_start, self.code_failures = now, 0
        self.code_failures += 1
        if self.code_failures >= limits.code_max_failures:
            self.cooldown_until = now + limits.code_cooldown
            self.code_failures, self.code_window_start = 0, None
            return True
        return False

    # -- outcomes -------------------------------------------------------------------------

    def phone_confirmed(self, phone: str) -> None:
        self.phone = phone
        self.step = Step.REFERRAL
        self.otp_hash = self.otp_expires_at = None

    def registered(self, driver_id: int) -> None:
        self.driver_id = driver_id
        self.step = Step.DONE
        self.link_code = None

    def partner_linked(self, partner_id: int) -> None:
        self.partner_id = partner_id
        self.step = Step.PARTNER
