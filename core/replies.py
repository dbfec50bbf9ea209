"""Channel-neutral answers. Core says *what* to show; front ends decide *how*.

A reply names a catalog message (``key`` + ``args``) instead of carrying text, so each front
end renders it in the user's language with its own markup and escaping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Action(StrEnum):
    """What a quick-reply button means, whatever its label in any language."""

    NO_CODE = "no_code"
    MY_CODE = "my_code"
    MY_BONUS = "my_bonus"
    RESEND_SMS = "resend_sms"
    CHANGE_PHONE = "change_phone"
    ALERTS_INSTANT = "alerts_instant"
    ALERTS_DIGEST = "alerts_digest"
    QUIET_NIGHT = "quiet_night"
    QUIET_OFF = "quiet_off"
    CONTINUE = "continue"  # a reminder's button: ask the current step's question again
    PAYOUT = "payout"  # «Мои бонусы»: request a payout of the available balance
    PAYOUT_CANCEL = "payout_cancel"  # «Мои бонусы»: cancel the pending payout request


class ButtonKind(StrEnum):
    CONTACT = "contact"  # share my phone (Telegram)
    ACTION = "action"  # a quick reply that core understands


@dataclass(frozen=True)
class Button:
    kind: ButtonKind
    label: str  # catalog key
    action: Action | None = None

    @classmethod
    def contact(cls) -> Button:
        return cls(ButtonKind.CONTACT, "btn-share-phone")

    @classmethod
    def of(cls, action: Action) -> Button:
        return cls(ButtonKind.ACTION, ACTION_LABELS[action], action)


@dataclass(frozen=True)
class Link:
    """A URL button under the message."""

    label: str  # catalog key
    url: str
    args: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    key: str
    args: Mapping[str, str | int] = field(default_factory=dict)
    # None leaves the current keyboard as it is; () removes it when its step is over.
    keyboard: tuple[Button, ...] | None = None
    links: tuple[Link, ...] = ()

    def __post_init__(self) -> None:
        # One message carries one markup in Telegram: URL buttons or a reply keyboard.
        if self.links and self.keyboard is not None:
            raise ValueError("a reply carries either links or a keyboard, not both")


@dataclass(frozen=True)
class Answer:
    lang: str
    replies: tuple[Reply, ...] = ()


ACTION_LABELS: dict[Action, str] = {
    Action.NO_CODE: "btn-no-code",
    Action.MY_CODE: "btn-my-code",
    Action.MY_BONUS: "btn-my-bonus",
    Action.RESEND_SMS: "btn-resend-sms",
    Action.CHANGE_PHONE: "btn-change-phone",
    Action.ALERTS_INSTANT: "btn-alerts-instant",
    Action.ALERTS_DIGEST: "btn-alerts-digest",
    Action.QUIET_NIGHT: "btn-quiet-night",
    Action.QUIET_OFF: "btn-quiet-off",
    Action.CONTINUE: "btn-continue",
    Action.PAYOUT: "btn-payout",
    Action.PAYOUT_CANCEL: "btn-payout-cancel",
}
