"""The registration flow: one incoming event in, one transaction, replies out.

Each update is a single unit of work: read the conversation (one query), decide, write what
changed (one versioned UPDATE, or the completion inserts) and commit. A lost race on the
conversation version is retried from a fresh read, so concurrent updates never both apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from core.domain.bonus import Beneficiary, BonusProgram
from core.domain.codes import normalize_code, normalize_payload
from core.domain.delivery import DRIVER_REGISTERED
from core.domain.model import (
    Alerts,
    Channel,
    CodeInfo,
    Driver,
    Notification,
    OwnerKind,
    Park,
    Profile,
    Source,
)
from core.domain.money import format_roubles
from core.domain.phones import InvalidPhone, mask_phone, normalize_phone
from core.domain.referral import Refusal, refusal
from core.domain.registration import Conversation, Limits, OtpCheck, Step
from core.domain.telemetry import UpdateOutcome
from core.events import (
    Command,
    ContactShared,
    Event,
    Incoming,
    Pressed,
    Start,
    Text,
    Unsupported,
)
from core.ports import (
    Clock,
    Database,
    NoTelemetry,
    SmsError,
    SmsSender,
    StaleState,
    Telemetry,
    UnitOfWork,
)
from core.replies import Action, Answer, Button, Link, Reply
from core.services.bonus_bot import PAYOUT_ACTIONS, PAYOUT_COMMANDS, handle_payout, payout_buttons
from core.services.codes import CodeIssuer
from core.services.ledger import read_statement
from core.services.parks import require_park
from core.texts import Catalog

log = logging.getLogger("taxireg.flow")

# Unsupported(kind) a front end sends for a button whose keyboard is gone.
STALE_BUTTON = "stale_button"
_ATTEMPTS = 4  # optimistic-concurrency retries before asking the user to try again
_MAX_NAME = 128


class RegistrationService:
    def __init__(
        self,
        db: Database,
        parks: Mapping[str, Park],
        clock: Clock,
        sms: SmsSender,
        catalog: Catalog,
        limits: Limits | None = None,
        issuer: CodeIssuer | None = None,
    ) -> None:
        self.db = db
        self.parks = dict(parks)
        self.clock = clock
        self.sms_sender = sms
        self.catalog = catalog
        self.limits = limits or Limits()
        self.issuer = issuer or CodeIssuer()
        # Called in the transaction that creates a driver (outgoing webhooks' outbox rows).
        self.on_registered: list[Callable[[UnitOfWork, Driver], None]] = []
        # Updates and registrations counted for /metrics; ``app`` installs the real one.
        self.telemetry: Telemetry = NoTelemetry()
        # Each park's bonus program (payout minimum); ``app`` shares the ledger's mapping.
        self.bonus_programs: Mapping[str, BonusProgram] = {}

    def park(self, slug: str) -> Park:
        return require_park(self.parks, slug)

    async def handle(self, incoming: Incoming) -> Answer:
        park = self.park(incoming.park)
        channel = incoming.who.channel
        try:
            for _ in range(_ATTEMPTS):
                try:
                    return await self._handle_once(park, incoming)
                except StaleState:
                    log.info(
                        "conversation changed concurrently, retrying", extra={"park": park.slug}
                    )
        except Exception:
            self.telemetry.update_handled(park.slug, channel, UpdateOutcome.FAILED)
            raise
        self.telemetry.update_handled(park.slug, channel, UpdateOutcome.CONFLICT)
        return Answer(self.catalog.default, (Reply("try-later"),))

    async def _handle_once(self, park: Park, incoming: Incoming) -> Answer:
        flow, answer = await self.db.run(lambda uow: self._decide(uow, park, incoming))
        # Committed: what happened is a fact now, to count and to log. Logged here, not in
        # the unit of work: a line for an update that was then rolled back would be false,
        # and the database thread (SQLite's) is not held up by writing it.
        self._count(flow)
        conv = flow.conv
        log.info(
            "update handled",
            extra={
                "park": park.slug,
                "channel": conv.channel.value,
                "step": conv.step.value,
                "outcome": flow.outcome,
                "phone": mask_phone(conv.phone),
            },
        )
        if flow.sms is not None:
            return await self.send_after_commit(flow.conv, flow.sms, answer)
        return answer

    def _decide(
        self, uow: UnitOfWork, park: Park, incoming: Incoming
    ) -> tuple[RegistrationFlow, Answer]:
        """The whole update as one transaction, run where the database lives."""
        who = incoming.who
        conv = uow.conversations.get(park.slug, who.channel, who.user_id)
        if conv is None:
            conv = Conversation(park=park.slug, channel=who.channel, user_id=who.user_id)
            conv.lang = self.catalog.pick(incoming.profile and incoming.profile.language)
        flow = RegistrationFlow(self, uow, park, conv)
        before = conv.snapshot()
        if conv.seen(incoming.event_id):
            # A channel redelivers an update whose reply a crash may have cut off after the
            # commit: answer with where the chat stands, and apply nothing a second time.
            if conv.issued_by(incoming.event_id):
                # A crash may also have cut off the SMS, which leaves after the commit: the
                # code is re-issued, or the driver would wait out the pause for nothing.
                replies = flow.send_otp(conv.phone or "", pause=False)
                uow.conversations.save(conv)
                return flow, Answer(conv.lang, tuple(replies))
            done = conv.step in (Step.DONE, Step.PARTNER)
            replies = flow.my_code() if done else flow.prompt()
            flow.outcome = "duplicate"
            return flow, Answer(conv.lang, tuple(replies))
        _apply_profile(conv, incoming.profile, self.catalog)
        if conv.version == 0 and not isinstance(incoming.event, Start):
            replies = flow.first_contact(incoming.event)
        else:
            replies = flow.dispatch(incoming.event)
        before.last_event = conv.last_event
        if conv != before or conv.version == 0:
            uow.conversations.save(conv)
        return flow, Answer(conv.lang, tuple(replies))

    def _count(self, flow: RegistrationFlow) -> None:
        park, channel = flow.park.slug, flow.conv.channel
        if flow.registered:
            self.telemetry.registered(park, channel)
            outcome = UpdateOutcome.REGISTERED
        elif flow.outcome == "duplicate":
            outcome = UpdateOutcome.DUPLICATE
        else:
            outcome = UpdateOutcome.ANSWERED
        self.telemetry.update_handled(park, channel, outcome)

    async def send_after_commit(
        self, conv: Conversation, sms: tuple[str, str], answer: Answer
    ) -> Answer:
        if await self.send_sms(*sms):
            return answer
        # The code never left: take the step back so the driver can try again, unless they
        # already moved on in another update.
        sent_hash = conv.otp_hash

        def take_back(uow: UnitOfWork) -> None:
            current = uow.conversations.get(conv.park, conv.channel, conv.user_id)
            if current is not None and current.otp_hash == sent_hash:
                current.restart_phone()
                uow.conversations.save(current)

        with contextlib.suppress(StaleState):
            await self.db.run(take_back)
        return Answer(conv.lang, (Reply("sms-failed", keyboard=()),))

    async def send_sms(self, phone: str, text: str) -> bool:
        """Send through the gateway; one retry, because gateways drop single requests."""
        for attempt in (1, 2):
            try:
                await self.sms_sender.send(phone, text)
                return True
            except SmsError as exc:
                log.warning(
                    "sms gateway error",
                    extra={"phone": mask_phone(phone), "attempt": attempt, "error": str(exc)},
                )
                if attempt == 1:
                    await asyncio.sleep(0.2)
        return False


def _apply_profile(conv: Conversation, profile: Profile | None, catalog: Catalog) -> None:
    if profile is None:
        return
    if profile.name and not conv.name:
        conv.name = profile.name.strip()[:_MAX_NAME] or None
    if profile.language:
        conv.lang = catalog.pick(profile.language)


@dataclass
class RegistrationFlow:
    """The decisions for one update; lives for one transaction.

    Public for the other channels' use cases (``core.services.app_registration``), which run
    the same steps inside their own unit of work, so that no rule is written twice."""

    service: RegistrationService
    uow: UnitOfWork
    park: Park
    conv: Conversation
    outcome: str = "prompt"
    sms: tuple[str, str] | None = None  # (phone, text) to send once the state is stored
    registered: bool = False  # this update created the driver

    @property
    def limits(self) -> Limits:
        return self.service.limits

    def dispatch(self, event: Event) -> list[Reply]:
        match event:
            case Start(payload, tag):
                return self.on_start(payload, tag)
            case ContactShared(phone, own):
                return self.on_contact(phone, own)
            case Text(text):
                return self.on_text(text)
            case Pressed(action):
                return self.on_action(action)
            case Command(name):
                return self.on_command(name)
            case Unsupported(kind) if kind == STALE_BUTTON:
                self.outcome = STALE_BUTTON
                return [Reply("stale-button"), *self.prompt()]
            case Unsupported():
                self.outcome = "unsupported"
                return [Reply("unsupported"), *self.prompt()]
        raise TypeError(f"unknown event {event!r}")

    def first_contact(self, event: Event) -> list[Reply]:
        """Someone writes before /start (common in VK): greet them, then take a phone if that
        is what they wrote, else say what comes first."""
        welcome = Reply("welcome", {"park": self.park.name})
        if isinstance(event, ContactShared):
            return self.dispatch(event)  # a contact button of a keyboard shown earlier
        # With a policy to show, a phone typed before seeing it is not consent: ask first.
        typed_phone_ok = self.park.privacy_url is None
        if (
            isinstance(event, Text)
            and typed_phone_ok
            and not self.conv.channel.confirms_phone_by_contact
        ):
            try:
                normalize_phone(event.text, self.park.phone_region)
            except InvalidPhone:
                pass
            else:
                return [welcome, *self.dispatch(event)]
        self.outcome = "first_contact"
        return [welcome, *self.prompt()]

    # -- events ---------------------------------------------------------------------------

    def on_start(self, payload: str | None, tag: str | None) -> list[Reply]:
        conv = self.conv
        welcome = Reply("welcome", {"park": self.park.name})
        if conv.step in (Step.DONE, Step.PARTNER):
            partner_id = conv.partner_id if conv.step is Step.PARTNER else None
            if partner_id is not None and conv.channel is Channel.TELEGRAM:
                # /start is what Telegram sends when a user unblocks a bot: the chat works
                # again, so re-link it (clears ``unreachable``; held alerts resume).
                self.uow.partners.link_telegram(partner_id, int(conv.user_id))
            return [welcome, *self.my_code()]
        code, payload_tag = normalize_payload(payload) if payload else (None, None)
        info = self.uow.codes.lookup(code) if code else None
        if info is None or not info.active:
            return [welcome, *self.prompt()]
        if info.park != self.park.slug:
            self.outcome = "other_park_link"
            return [welcome, self.redirect(info), *self.prompt()]
        conv.link_code, conv.link_tag = info.code, (tag or payload_tag)
        if conv.step is Step.REFERRAL:
            return self.use_code(info, Source.DEEP_LINK)
        self.outcome = "link_code"
        return [welcome, Reply("welcome-with-code", {"code": info.code}), *self.prompt()]

    def on_contact(self, phone: str, own: bool) -> list[Reply]:
        if self.conv.step is not Step.PHONE or not self.conv.channel.confirms_phone_by_contact:
            return self.prompt()
        if not own:
            self.outcome = "foreign_contact"
            return [Reply("phone-not-own", keyboard=(Button.contact(),))]
        try:
            normalized = normalize_phone(phone, self.park.phone_region)
        except InvalidPhone:
            self.outcome = "phone_foreign"
            return [Reply("phone-foreign", keyboard=(Button.contact(),))]
        self.give_consent()
        return self.phone_confirmed(normalized)

    def on_text(self, text: str) -> list[Reply]:
        action = self.service.catalog.action_for(text)
        if action is not None:
            return self.on_action(action)
        if text.startswith("/"):
            words = text[1:].split(maxsplit=1)
            return self.on_command(words[0].split("@")[0].lower() if words else "")
        match self.conv.step:
            case Step.PHONE:
                return self.on_phone_text(text)
            case Step.OTP:
                return self.on_otp_text(text)
            case Step.REFERRAL:
                return self.on_code_text(text)
        return self.prompt()

    def on_action(self, action: Action) -> list[Reply]:
        step = self.conv.step
        if action is Action.MY_CODE:
            return self.my_code()
        if action is Action.MY_BONUS:
            return self.my_bonus()
        if action in PAYOUT_ACTIONS:
            return self.payout(action)
        if action is Action.NO_CODE and step is Step.REFERRAL:
            return self.complete(None, Source.NONE)
        if action is Action.RESEND_SMS and step is Step.OTP:
            return self.send_otp(self.conv.phone or "")
        if action is Action.CHANGE_PHONE and step is Step.OTP:
            self.conv.restart_phone()
            return self.prompt()
        if action in SETTINGS_ACTIONS and step is Step.PARTNER:
            return self.change_settings(action)
        if action is Action.CONTINUE:
            # The reminder's button: pick up where they stopped (the step's own question).
            self.outcome = "continue"
            return self.prompt()
        # A button from an old keyboard: say what is expected now.
        self.outcome = STALE_BUTTON
        return [Reply("stale-button"), *self.prompt()]

    def on_command(self, name: str) -> list[Reply]:
        if name == "start":
            return self.on_start(None, None)
        if name == "code":
            return self.my_code()
        if name == "bonus":
            return self.my_bonus()
        if name in PAYOUT_COMMANDS:
            return self.payout(PAYOUT_COMMANDS[name])
        if name == "settings":
            return self.show_settings()
        if name == "news" and self.conv.step is Step.DONE:
            return self.set_mailing(True)
        if name == "stop":
            return self.set_mailing(False)
        if name == "help":
            return [Reply("help", {"park": self.park.name}), *self.prompt()]
        self.outcome = "unknown_command"
        return self.prompt()

    # -- phone ----------------------------------------------------------------------------

    def on_phone_text(self, text: str) -> list[Reply]:
        try:
            phone = normalize_phone(text, self.park.phone_region)
        except InvalidPhone:
            self.outcome = "phone_invalid"
            if self.conv.channel.confirms_phone_by_contact:
                return [Reply("phone-use-button", keyboard=(Button.contact(),))]
            return [Reply("phone-invalid", keyboard=())]
        if self.conv.channel.confirms_phone_by_contact:
            # A typed number proves nothing in Telegram: only a shared contact does.
            self.outcome = "phone_typed"
            return [Reply("phone-use-button", keyboard=(Button.contact(),))]
        self.give_consent()
        return self.send_otp(phone)

    def give_consent(self) -> None:
        """Sending the phone after the policy was shown is the consent (152-FZ): record it."""
        self.conv.consent_at = self.service.clock.now()
        self.conv.consent_url = self.park.privacy_url

    def send_otp(self, phone: str, pause: bool = True) -> list[Reply]:
        conv, now, sms_log = self.conv, self.service.clock.now(), self.uow.sms
        # Limits hold per chat (any number) and per number (every chat, channel and park).
        sent = sms_log.sent_since(phone, now - self.limits.sms_lookback)
        wait = conv.sms_wait(now, self.limits, sent, pause=pause)
        if wait is not None:
            self.outcome = f"sms_{wait.limit.value}"
            keyboard = _otp_keyboard() if conv.phone else ()
            return [Reply(wait.text_key, wait.args, keyboard=keyboard)]
        code = conv.issue_otp(phone, now, self.limits)
        sms_log.record(phone, self.park.slug, conv.channel, now)
        text = self.service.catalog.text(
            conv.lang, "sms-text", {"park": self.park.name, "code": code}
        )
        # Sent after the commit (RegistrationService._send_after_commit): no transaction or
        # pooled connection waits on the SMS gateway.
        self.sms = (phone, text)
        self.outcome = "otp_sent"
        return [Reply("otp-sent", {"phone": phone}, keyboard=_otp_keyboard())]

    def on_otp_text(self, text: str) -> list[Reply]:
        digits = text.strip().replace(" ", "").replace("-", "")
        if not (len(digits) == 6 and digits.isdigit()):
            try:
                phone = normalize_phone(text, self.park.phone_region)
            except InvalidPhone:
                self.outcome = "otp_junk"
                return [Reply("otp-not-digits", keyboard=_otp_keyboard())]
            return self.send_otp(phone)
        result = self.conv.check_otp(digits, self.service.clock.now(), self.limits)
        self.outcome = f"otp_{result.value}"
        match result:
            case OtpCheck.OK:
                return self.phone_confirmed(self.conv.phone or "")
            case OtpCheck.WRONG:
                left = self.conv.otp_attempts_left(self.limits)
                return [Reply("otp-wrong", {"left": left}, keyboard=_otp_keyboard())]
            case OtpCheck.EXPIRED | OtpCheck.NONE:
                # NONE: the clean-up job already removed an expired code.
                return [Reply("otp-expired", keyboard=_otp_keyboard())]
        return [Reply("otp-locked", keyboard=_otp_keyboard())]

    def phone_confirmed(self, phone: str) -> list[Reply]:
        conv, uow = self.conv, self.uow
        owners = uow.codes.owners_of_phone(self.park.slug, phone)
        driver = next((o for o in owners if o.kind is OwnerKind.DRIVER), None)
        if driver is not None:
            self.outcome = "linked_driver"
            conv.phone = phone
            conv.registered(driver.id)
            return [
                Reply("already-registered", {"park": self.park.name}),
                self.code_reply(driver.code),
            ]
        partners = [o for o in owners if o.kind is OwnerKind.PARTNER]
        mine = next((p for p in partners if p.park == self.park.slug), None)
        if mine is not None:
            return self.link_partner(phone, mine.id, mine.code)
        replies: list[Reply] = [self.partner_elsewhere(p.park) for p in partners]
        conv.phone_confirmed(phone)
        if conv.link_code:
            info = uow.codes.lookup(conv.link_code)
            refusal = self.judge(info)
            if refusal is None and info is not None:
                return [*replies, *self.complete(info, Source.DEEP_LINK)]
            conv.link_code = None
            replies.extend(refusal or [])
        self.outcome = "phone_confirmed"
        return [*replies, *self.prompt()]

    def link_partner(self, phone: str, partner_id: int, code: str) -> list[Reply]:
        self.outcome = "linked_partner"
        self.conv.phone = phone
        self.conv.partner_linked(partner_id)
        if self.conv.channel is Channel.TELEGRAM:
            self.uow.partners.link_telegram(partner_id, int(self.conv.user_id))
            intro = Reply("partner-linked", {"park": self.park.name})
        elif self.park.telegram_username:
            bot = self.park.telegram_username
            intro = Reply(
                "partner-linked-elsewhere",
                {"park": self.park.name, "bot": bot},
                links=(_bot_link(bot),),
            )
        else:
            intro = Reply("partner-linked", {"park": self.park.name})
        return [intro, self.code_reply(code)]

    def partner_elsewhere(self, slug: str) -> Reply:
        other = self.service.parks.get(slug)
        bot = other.telegram_username if other else None
        if other is None or bot is None:
            return Reply("partner-other-park-nobot", {"park": other.name if other else slug})
        return Reply(
            "partner-other-park", {"park": other.name, "bot": bot}, links=(_bot_link(bot),)
        )

    # -- referral code --------------------------------------------------------------------

    def on_code_text(self, text: str) -> list[Reply]:
        conv, now = self.conv, self.service.clock.now()
        keyboard = (Button.of(Action.NO_CODE),)
        left = conv.cooldown_left(now)
        if left:
            self.outcome = "code_cooldown"
            return [Reply("code-cooldown", {"minutes": _minutes(left)}, keyboard=keyboard)]
        code = normalize_code(text)
        if code is None:
            self.outcome = "code_junk"
            return [Reply("code-junk", keyboard=keyboard)]
        info = self.uow.codes.lookup(code)
        refusal = self.judge(info)
        if refusal is None and info is not None:
            return self.use_code(info, Source.TYPED)
        if (info is None or not info.active) and conv.code_failed(now, self.limits):
            self.outcome = "code_cooldown"
            minutes = _minutes(conv.cooldown_left(now))
            return [Reply("code-cooldown", {"minutes": minutes}, keyboard=keyboard)]
        self.outcome = "code_refused"
        return refusal or []

    def judge(self, info: CodeInfo | None) -> list[Reply] | None:
        """None if the code can be used here, else the replies that explain why not."""
        keyboard = (Button.of(Action.NO_CODE),)
        match refusal(info, self.park.slug, self.conv.phone):
            case None:
                return None
            case Refusal.OTHER_PARK if info is not None:
                return [self.redirect(info)]
            case reason:
                return [Reply(_REFUSAL_TEXTS[reason], keyboard=keyboard)]

    def redirect(self, info: CodeInfo) -> Reply:
        other = self.service.parks.get(info.park)
        if other is None or other.telegram_username is None:
            name = other.name if other else info.park
            links = (Link("link-open-vk", other.vk_link),) if other and other.vk_link else ()
            return Reply("code-other-park-nobot", {"park": name}, links=links)
        links = [_bot_link(other.telegram_username)]
        if self.conv.channel is Channel.VK and other.vk_link:
            links.append(Link("link-open-vk", other.vk_link))
        return Reply("code-other-park", {"bot": other.telegram_username}, links=tuple(links))

    def use_code(self, info: CodeInfo, source: Source) -> list[Reply]:
        refusal = self.judge(info)
        if refusal is not None:
            return refusal
        accepted = Reply("code-accepted", {"code": info.code})
        return [accepted, *self.complete(info, source)]

    # -- completion -----------------------------------------------------------------------

    def complete(self, referral: CodeInfo | None, source: Source) -> list[Reply]:
        conv, uow, now = self.conv, self.uow, self.service.clock.now()
        phone = conv.phone or ""
        if conv.consent_at is None:
            # No recorded consent (a conversation from before consent was recorded): no
            # driver is stored without it, so the phone is asked again with the policy.
            self.outcome = "consent_missing"
            conv.restart_phone()
            return self.prompt()
        code = self.service.issuer.issue(uow.codes, self.park.slug, OwnerKind.DRIVER)
        driver = Driver(
            park=self.park.slug,
            phone=phone,
            own_code=code,
            channel=conv.channel,
            source=source,
            name=conv.name,
            entered_code=referral.code if referral else None,
            referrer_kind=referral.owner_kind if referral else None,
            referrer_id=referral.owner_id if referral else None,
            source_tag=conv.link_tag if source is Source.DEEP_LINK else None,
            created_at=now,
            updated_at=now,
            consent_at=conv.consent_at,
            consent_channel=conv.channel,
            consent_url=conv.consent_url,
        )
        stored = uow.drivers.add(driver)
        if stored is None or stored.id is None:
            # Someone registered this phone a moment ago (another channel or process):
            # link to that driver instead of creating a second one.
            uow.codes.release(code)
            existing = uow.drivers.by_phone(self.park.slug, phone)
            if existing is None or existing.id is None:
                raise StaleState("driver vanished after a phone conflict")
            self.outcome = "linked_driver"
            conv.registered(existing.id)
            return [
                Reply("already-registered", {"park": self.park.name}),
                self.code_reply(existing.own_code),
            ]
        conv.registered(stored.id)
        self.registered = True
        if referral is not None:
            uow.outbox.add(_registered_notification(stored, referral, now))
        for hook in self.service.on_registered:
            hook(uow, stored)
        self.outcome = f"registered_{source.value}"
        return [Reply("registered"), self.code_reply(code)]

    # -- mailing consent ------------------------------------------------------------------

    def set_mailing(self, on: bool) -> list[Reply]:
        """The separate opt-in to mailings (a button after registration); /stop withdraws."""
        conv = self.conv
        if conv.step is Step.DONE and conv.driver_id is not None:
            if on:
                now = self.service.clock.now()
                self.uow.drivers.set_mailing(
                    conv.driver_id, now, conv.channel, self.park.privacy_url
                )
            else:
                self.uow.drivers.set_mailing(conv.driver_id, None, None, None)
        if not on and conv.stopped_at is None:
            conv.stopped_at = self.service.clock.now()  # no registration reminder either
        self.outcome = "mailing_on" if on else "mailing_off"
        return [Reply("mailing-on" if on else "mailing-off", keyboard=(_MY_CODE,))]

    # -- partner alert settings -----------------------------------------------------------

    def show_settings(self, saved: bool = False) -> list[Reply]:
        partner = None
        if self.conv.step is Step.PARTNER and self.conv.partner_id is not None:
            partner = self.uow.partners.get(self.conv.partner_id)
        if partner is None:
            self.outcome = "settings_refused"
            return [Reply("settings-partners-only"), *self.prompt()]
        quiet = f"{partner.quiet_from}–{partner.quiet_to}" if partner.quiet_from else None
        args: dict[str, str | int] = {"alerts": partner.alerts, "quiet": quiet or "none"}
        replies = [Reply("settings-saved")] if saved else []
        keyboard = (*(Button.of(a) for a in SETTINGS_ACTIONS), Button.of(Action.MY_CODE))
        return [*replies, Reply("settings-current", args, keyboard=keyboard)]

    def change_settings(self, action: Action) -> list[Reply]:
        partner_id = self.conv.partner_id
        partner = self.uow.partners.get(partner_id) if partner_id is not None else None
        if partner is None or partner.id is None:
            return self.show_settings()
        alerts, quiet_from, quiet_to = partner.alerts, partner.quiet_from, partner.quiet_to
        match action:
            case Action.ALERTS_INSTANT | Action.ALERTS_DIGEST:
                alerts = Alerts.INSTANT if action is Action.ALERTS_INSTANT else Alerts.DIGEST
            case Action.QUIET_NIGHT:
                quiet_from, quiet_to = QUIET_NIGHT
            case Action.QUIET_OFF:
                quiet_from = quiet_to = None
        self.uow.partners.update_settings(
            partner.id, alerts=alerts, quiet_from=quiet_from, quiet_to=quiet_to
        )
        self.outcome = f"settings_{action.value}"
        return self.show_settings(saved=True)

    # -- what to show ---------------------------------------------------------------------

    def code_reply(self, code: str) -> Reply:
        return Reply(
            "driver-code",
            {"code": code, "url": self.park.referral_link(code)},
            keyboard=_MENU,
        )

    def my_bonus(self) -> list[Reply]:
        """«Мои бонусы»: balance, this month's accruals, referrals and the last accruals,
        read by the ledger in this same unit of work."""
        conv = self.conv
        owner = self.bonus_owner()
        if owner is None:
            self.outcome = "not_registered"
            return [Reply("not-registered"), *self.prompt()]
        now = self.service.clock.now()
        month = now.astimezone(ZoneInfo(self.park.timezone)).strftime("%Y-%m")
        statement = read_statement(self.uow.ledger, owner, month)
        catalog, lang = self.service.catalog, conv.lang
        recent = "\n".join(
            catalog.text(
                lang,
                "bonus-entry",
                {
                    "amount": format_roubles(row.accrual.amount_kopecks),
                    "order": row.accrual.order_external_id,
                    "level": row.accrual.level,
                },
            )
            for row in statement.recent
        )
        self.outcome = "my_bonus"
        args: dict[str, str | int] = {
            "balance": format_roubles(statement.balance.accrued - statement.balance.paid),
            "available": format_roubles(statement.balance.available),
            "month": format_roubles(statement.month_kopecks),
            "referrals": statement.referrals,
            "recent": recent or catalog.text(lang, "bonus-none"),
        }
        offered = payout_buttons(self.uow, self.bonus_program(), owner, statement.balance)
        return [Reply("my-bonus", args, keyboard=_MENU + tuple(map(Button.of, offered)))]

    def bonus_owner(self) -> Beneficiary | None:
        """The registered driver or partner of this conversation, as a ledger owner."""
        conv = self.conv
        if conv.step is Step.DONE and conv.driver_id is not None:
            return Beneficiary(OwnerKind.DRIVER, conv.driver_id)
        if conv.step is Step.PARTNER and conv.partner_id is not None:
            return Beneficiary(OwnerKind.PARTNER, conv.partner_id)
        return None

    def bonus_program(self) -> BonusProgram:
        program = self.service.bonus_programs.get(self.park.slug)
        return program or BonusProgram(self.park.slug, timezone=self.park.timezone)

    def payout(self, action: Action) -> list[Reply]:
        """«Вывести бонусы» / «Отменить заявку» (core.services.bonus_bot), in this unit of
        work; the answer keeps the menu with the payout buttons that apply now."""
        owner = self.bonus_owner()
        if owner is None:
            self.outcome = "not_registered"
            return [Reply("not-registered"), *self.prompt()]
        program = self.bonus_program()
        now = self.service.clock.now()
        key, args = handle_payout(self.uow, program, owner, action, now)
        self.outcome = key.replace("-", "_")
        balance = self.uow.ledger.balance(owner)
        offered = payout_buttons(self.uow, program, owner, balance)
        return [Reply(key, args, keyboard=_MENU + tuple(map(Button.of, offered)))]

    def my_code(self) -> list[Reply]:
        conv = self.conv
        if conv.step is Step.DONE and conv.driver_id is not None:
            driver = self.uow.drivers.get(conv.driver_id)
            if driver is not None:
                self.outcome = "my_code"
                return [self.code_reply(driver.own_code)]
        if conv.step is Step.PARTNER and conv.partner_id is not None:
            partner = self.uow.partners.get(conv.partner_id)
            if partner is not None:
                self.outcome = "my_code"
                return [self.code_reply(partner.code)]
        self.outcome = "not_registered"
        return [Reply("not-registered"), *self.prompt()]

    def consent(self) -> list[Reply]:
        """The policy shown with every phone prompt: sending the number agrees to it."""
        url = self.park.privacy_url
        return [Reply("consent-phone", {"url": url})] if url else []

    def prompt(self) -> list[Reply]:
        """What the current step asks for, with its keyboard."""
        conv = self.conv
        match conv.step:
            case Step.PHONE if conv.channel.confirms_phone_by_contact:
                return [Reply("phone-ask-contact", keyboard=(Button.contact(),)), *self.consent()]
            case Step.PHONE:
                return [Reply("phone-ask-typed", keyboard=()), *self.consent()]
            case Step.OTP:
                return [Reply("otp-sent", {"phone": conv.phone or ""}, keyboard=_otp_keyboard())]
            case Step.REFERRAL:
                return [Reply("ask-referral-code", keyboard=(Button.of(Action.NO_CODE),))]
        return [Reply("menu", keyboard=_MENU)]


_REFUSAL_TEXTS = {
    Refusal.UNKNOWN: "code-unknown",
    Refusal.INACTIVE: "code-inactive",
    Refusal.OWN: "code-own",
}

SETTINGS_ACTIONS = (
    Action.ALERTS_INSTANT,
    Action.ALERTS_DIGEST,
    Action.QUIET_NIGHT,
    Action.QUIET_OFF,
)
# Quiet hours offered in the bot; the CLI sets any range.
QUIET_NIGHT = ("23:00", "08:00")


_MY_CODE = Button.of(Action.MY_CODE)
# What a registered driver or partner may always ask for.
_MENU = (_MY_CODE, Button.of(Action.MY_BONUS))


def _otp_keyboard() -> tuple[Button, ...]:
    return (Button.of(Action.RESEND_SMS), Button.of(Action.CHANGE_PHONE))


def _bot_link(username: str) -> Link:
    return Link("link-open-bot", f"https://t.me/{username}", {"bot": username})


def _minutes(seconds: int) -> int:
    return max(1, (seconds + 59) // 60)


def _registered_notification(driver: Driver, referral: CodeInfo, now: datetime) -> Notification:
    return Notification(
        park=driver.park,
        recipient_kind=referral.owner_kind,
        recipient_id=referral.owner_id,
        kind=DRIVER_REGISTERED,
        payload={
            "driver_id": driver.id,
            "name": driver.name,
            "phone": driver.phone,
            "channel": driver.channel.value,
            "source": driver.source.value,
            "source_tag": driver.source_tag,
            "code": referral.code,
            "registered_at": driver.created_at.isoformat() if driver.created_at else None,
        },
        key=f"{DRIVER_REGISTERED}:{driver.id}",
        # Due from the service clock's "now", the same clock the relay claims by.
        not_before=now,
    )
