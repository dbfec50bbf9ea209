"""The registration conversation: one per park and channel identity, persisted between updates.

It is also the link between a channel identity and the driver or partner it belongs to, so a
restart, a second process or a second channel all see the same state.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from core.domain.model import Channel, Identity

# How far below the last handled update id a repeated delivery can be: a crashed poller gets
# at most one batch again, and ids of all the bot's users lie in between.
REPEAT_WINDOW = 10_000


class Step(StrEnum):
    PHONE = "phone"  # waiting for the phone: a shared contact or a typed number
    OTP = "otp"  # waiting for the SMS code sent to ``phone``
    REFERRAL = "referral"  # phone confirmed, waiting for a referral code or the no-code button
    DONE = "done"  # a registered driver (``driver_id``)
    PARTNER = "partner"  # a partner of this park (``partner_id``)


@dataclass(frozen=True)
class Limits:
    otp_ttl: timedelta = timedelta(minutes=5)
    otp_max_attempts: int = 5
    otp_resend: timedelta = timedelta(seconds=60)
    otp_max_per_hour: int = 5
    code_max_failures: int = 5
    code_failure_window: timedelta = timedelta(minutes=10)
    code_cooldown: timedelta = timedelta(minutes=10)


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

    def resend_wait(self, now: datetime, limits: Limits) -> int:
        """Seconds until another SMS may be sent, 0 if now."""
        if self.otp_sent_at is None:
            return 0
        left = (self.otp_sent_at + limits.otp_resend - now).total_seconds()
        return max(0, int(left + 0.999))

    def sms_quota_left(self, now: datetime, limits: Limits) -> bool:
        if self.otp_window_start is None or now - self.otp_window_start >= timedelta(hours=1):
            return True
        return self.otp_sends < limits.otp_max_per_hour

    def issue_otp(self, phone: str, now: datetime, limits: Limits) -> str:
        code = f"{secrets.randbelow(1_000_000):06d}"
        if self.otp_window_start is None or now - self.otp_window_start >= timedelta(hours=1):
            self.otp_window_start, self.otp_sends = now, 0
        self.otp_sends += 1
        self.phone = phone
        self.otp_hash = self._otp_digest(code, phone)
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
        if hmac.compare_digest(self._otp_digest(text, self.phone), self.otp_hash):
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

    def _otp_digest(self, code: str, phone: str) -> str:
        # The key binds the code to this conversation and phone; only the digest is stored.
        key = f"{self.park}:{self.channel}:{self.user_id}:{phone}".encode()
        return hmac.new(key, code.encode(), hashlib.sha256).hexdigest()

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
