"""Registration from the park's app: the third channel, with exactly the bots' rules.

The app is ``Channel.APP`` and its identity is the phone number itself, so a repeated call
for one phone is the same conversation (its SMS pause, quotas, attempts and code cooldown).
Both calls run the registration flow's own steps (``RegistrationFlow``) inside one
``Database.run``: sending a code is the flow's ``send_otp``, confirming it is ``check_otp``
then the flow's ``phone_confirmed``, and the promo code goes through ``on_code_text`` like a
typed code.
The outcome is read from what the flow decided, so no rule is written twice.

One difference from a chat: an app call carries the SMS code and the promo code together,
so a refused promo code must not burn the SMS code. The code therefore stays valid until it
expires (attempts still count); a corrected promo code, or a repeated submit, can use it
again, and a repeat after success answers ``already_registered`` with the same code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from core.domain import limits
from core.domain.codes import normalize_code
from core.domain.landing import LandingLinks
from core.domain.model import Channel, OwnerKind, Park, Source
from core.domain.phones import InvalidPhone, mask_phone, normalize_phone
from core.domain.registration import Conversation, Limits, OtpCheck, Step
from core.domain.sms_limits import SmsWait
from core.domain.text import clean_name
from core.ports import StaleState, UnitOfWork
from core.replies import Answer
from core.services.landing import LandingService
from core.services.registration import RegistrationFlow, RegistrationService

log = logging.getLogger("taxireg.app")

_ATTEMPTS = 4  # optimistic-concurrency retries, as in the bots' flow


class AppOutcome(StrEnum):
    SMS_SENT = "sms_sent"
    SMS_FAILED = "sms_failed"  # the gateway did not take it; nothing is counted
    REGISTERED = "registered"
    ALREADY_REGISTERED = "already_registered"
    PHONE_INVALID = "phone_invalid"
    RATE_LIMITED = "rate_limited"
    SMS_WRONG = "sms_wrong"
    SMS_EXPIRED = "sms_expired"
    CODE_UNKNOWN = "code_unknown"
    CODE_INACTIVE = "code_inactive"
    CODE_OWN = "code_own"
    CODE_OTHER_PARK = "code_other_park"
    CODE_COOLDOWN = "code_cooldown"
    TRY_LATER = "try_later"


@dataclass(frozen=True)
class AppResult:
    outcome: AppOutcome
    # The driver's (or, for a partner's phone, the partner's) own code and links.
    code: str | None = None
    links: LandingLinks | None = None
    role: OwnerKind | None = None
    retry_after: int | None = None  # seconds, for rate_limited and code_cooldown
    attempts_left: int | None = None  # for sms_wrong
    other_park: Park | None = None  # for code_other_park
    args: dict[str, object] = field(default_factory=dict)


# What a refused promo code's first reply (the bots' text key) means for the app.
_REFUSALS = {
    "code-unknown": AppOutcome.CODE_UNKNOWN,
    "code-junk": AppOutcome.CODE_UNKNOWN,
    "code-inactive": AppOutcome.CODE_INACTIVE,
    "code-own": AppOutcome.CODE_OWN,
    "code-other-park": AppOutcome.CODE_OTHER_PARK,
    "code-other-park-nobot": AppOutcome.CODE_OTHER_PARK,
    "code-cooldown": AppOutcome.CODE_COOLDOWN,
}


class AppRegistrationService:
    def __init__(self, registration: RegistrationService, landing: LandingService) -> None:
        self._reg = registration
        self._landing = landing
        self.parks = registration.parks

    def park(self, slug: str) -> Park:
        return self._reg.park(slug)

    @property
    def limits(self) -> Limits:
        return self._reg.limits

    # -- POST /app/sms --------------------------------------------------------------------

    async def send_code(
        self, park_slug: str, raw_phone: str, lang: str | None = None
    ) -> AppResult:
        park = self.park(park_slug)
        phone = parse_phone(park, raw_phone)
        if phone is None:
            return AppResult(AppOutcome.PHONE_INVALID)
        return await self.send_otp(park, phone, phone, lang)

    async def send_otp(self, park: Park, phone: str, user_id: str, lang: str | None) -> AppResult:
        """A one-time code to ``phone`` for the app conversation ``user_id``, under the bots'
        limits (the partner cabinet's sign-in uses it too, with a user id of its own)."""
        for _ in range(_ATTEMPTS):
            try:
                flow, wait = await self._reg.db.run(
                    lambda uow: self._send(uow, park, phone, user_id, lang)
                )
            except StaleState:
                continue
            return await self._after_send(flow, wait)
        return AppResult(AppOutcome.TRY_LATER)

    def _send(
        self, uow: UnitOfWork, park: Park, phone: str, user_id: str, lang: str | None
    ) -> tuple[RegistrationFlow, SmsWait | None]:
        conv = self._conversation(uow, park, user_id, lang)
        flow = RegistrationFlow(self._reg, uow, park, conv)
        now = self._reg.clock.now()
        # The same rule the flow applies, read before it runs: the app is told the exact wait.
        wait = conv.sms_wait(
            now, flow.limits, uow.sms.sent_since(phone, now - flow.limits.sms_lookback)
        )
        flow.send_otp(phone)
        uow.conversations.save(conv)
        log.info(
            "app sms",
            extra={"park": park.slug, "outcome": flow.outcome, "phone": mask_phone(phone)},
        )
        return flow, wait

    async def _after_send(self, flow: RegistrationFlow, wait: SmsWait | None) -> AppResult:
        if flow.sms is None:
            seconds = wait.seconds if wait is not None else 1
            return AppResult(
                AppOutcome.RATE_LIMITED,
                retry_after=seconds,
                args={"limit": wait and wait.limit.value},
            )
        answer = await self._reg.send_after_commit(flow.conv, flow.sms, Answer(flow.conv.lang))
        if any(reply.key == "sms-failed" for reply in answer.replies):
            return AppResult(AppOutcome.SMS_FAILED)
        return AppResult(AppOutcome.SMS_SENT)

    # -- POST /app/registrations ------------------------------------------------------------

    async def register(
        self,
        park_slug: str,
        raw_phone: str,
        sms_code: str,
        promo_code: str | None = None,
        name: str | None = None,
    ) -> AppResult:
        park = self.park(park_slug)
        phone = parse_phone(park, raw_phone)
        if phone is None:
            return AppResult(AppOutcome.PHONE_INVALID)
        for _ in range(_ATTEMPTS):
            try:
                result = await self._reg.db.run(
                    lambda uow: self._register(uow, park, phone, sms_code, promo_code, name)
                )
            except StaleState:
                log.info("app registration raced, retrying", extra={"park": park.slug})
                continue
            if result.outcome is AppOutcome.REGISTERED:
                self._reg.telemetry.registered(park.slug, Channel.APP)
            return result
        return AppResult(AppOutcome.TRY_LATER)

    def _register(
        self,
        uow: UnitOfWork,
        park: Park,
        phone: str,
        sms_code: str,
        promo_code: str | None,
        name: str | None,
    ) -> AppResult:
        conv = uow.conversations.get(park.slug, Channel.APP, phone)
        if conv is None or conv.phone != phone:
            return AppResult(AppOutcome.SMS_EXPIRED)
        flow = RegistrationFlow(self._reg, uow, park, conv)
        result = self._judge(uow, flow, phone, sms_code, promo_code, name)
        uow.conversations.save(conv)
        log.info(
            "app registration",
            extra={
                "park": park.slug,
                "outcome": result.outcome.value,
                "flow": flow.outcome,
                "phone": mask_phone(phone),
            },
        )
        return result

    def _judge(
        self,
        uow: UnitOfWork,
        flow: RegistrationFlow,
        phone: str,
        sms_code: str,
        promo_code: str | None,
        name: str | None,
    ) -> AppResult:
        conv, park, now = flow.conv, flow.park, self._reg.clock.now()
        kept = (conv.otp_hash, conv.otp_expires_at)
        digits = sms_code.strip().replace(" ", "").replace("-", "")[:16]
        check = conv.check_otp(digits, now, flow.limits)
        if check is OtpCheck.WRONG:
            return AppResult(
                AppOutcome.SMS_WRONG, attempts_left=conv.otp_attempts_left(flow.limits)
            )
        if check is OtpCheck.LOCKED:
            return AppResult(
                AppOutcome.RATE_LIMITED, retry_after=_seconds(conv.otp_expires_at, now)
            )
        if check is not OtpCheck.OK:
            return AppResult(AppOutcome.SMS_EXPIRED)
        # Confirmed; the code stays usable until it expires (see the module docstring).
        conv.otp_hash, conv.otp_expires_at = kept
        if name and not conv.name:
            conv.name = clean_name(name, limits.PERSON_NAME)
        if conv.step is Step.OTP:
            # The app shows the park's policy beside its phone field: submitting the number
            # there is the consent, recorded like a bot's.
            if conv.consent_at is None:
                flow.give_consent()
            flow.phone_confirmed(phone)
            conv.otp_hash, conv.otp_expires_at = kept
        if conv.step in (Step.DONE, Step.PARTNER):
            return self._existing(uow, park, conv)
        # The phone is confirmed: now the promo code, by the bots' own rules.
        if promo_code is None or not promo_code.strip():
            flow.complete(None, Source.NONE)
        else:
            code = normalize_code(promo_code[: limits.URL])
            # Only a code goes to the flow: a chat's button label or "/command" is not one.
            replies = flow.on_code_text(code) if code is not None else []
            if conv.step is not Step.DONE:
                # Refused: back to waiting for the confirmed code, so a corrected promo code
                # can be sent with it again; failures and cooldown stay counted.
                conv.step = Step.OTP
                key = replies[0].key if replies else "code-unknown"
                outcome = _REFUSALS.get(key, AppOutcome.CODE_UNKNOWN)
                return self._refused(uow, outcome, conv, now, promo_code)
        conv.otp_hash, conv.otp_expires_at = kept
        if flow.outcome == "linked_driver":
            return self._existing(uow, park, conv)
        return self._existing(uow, park, conv, AppOutcome.REGISTERED)

    def _existing(
        self,
        uow: UnitOfWork,
        park: Park,
        conv: Conversation,
        outcome: AppOutcome = AppOutcome.ALREADY_REGISTERED,
    ) -> AppResult:
        if conv.step is Step.PARTNER and conv.partner_id is not None:
            partner = uow.partners.get(conv.partner_id)
            if partner is not None:
                links = self._landing.links(park, partner.code)
                return AppResult(outcome, partner.code, links, OwnerKind.PARTNER)
        driver = uow.drivers.get(conv.driver_id) if conv.driver_id is not None else None
        if driver is None:
            raise StaleState("the conversation's driver is gone")
        links = self._landing.links(park, driver.own_code)
        return AppResult(outcome, driver.own_code, links, OwnerKind.DRIVER)

    def _refused(
        self,
        uow: UnitOfWork,
        outcome: AppOutcome,
        conv: Conversation,
        now: datetime,
        promo_code: str,
    ) -> AppResult:
        if outcome is AppOutcome.CODE_COOLDOWN:
            return AppResult(outcome, retry_after=conv.cooldown_left(now))
        if outcome is AppOutcome.CODE_OTHER_PARK:
            code = normalize_code(promo_code)
            info = uow.codes.lookup(code) if code else None
            other = self.parks.get(info.park) if info is not None else None
            return AppResult(outcome, other_park=other)
        return AppResult(outcome)

    def _conversation(
        self, uow: UnitOfWork, park: Park, user_id: str, lang: str | None
    ) -> Conversation:
        conv = uow.conversations.get(park.slug, Channel.APP, user_id)
        if conv is None:
            conv = Conversation(park=park.slug, channel=Channel.APP, user_id=user_id)
            conv.lang = self._reg.catalog.pick(lang)
        return conv


def parse_phone(park: Park, raw: str) -> str | None:
    try:
        return normalize_phone(raw[: limits.PHONE * 4], park.phone_region)
    except InvalidPhone:
        return None


def _seconds(until: datetime | None, now: datetime) -> int:
    if until is None or until <= now:
        return 0
    return int((until - now).total_seconds() + 0.999)
