"""``taxireg driver show|list|set-ref-code|forget``: a driver's card, the park's drivers, the
code entered at registration, and erasure of a driver's personal data on request.

Two codes appear on the card and must not be confused: the driver's own code ("Реферальный
код партнёра", which they hand out; read-only) and the code they entered when registering
("Реферальный код при регистрации", which decides who referred them; operators may fix it,
and every change is audited).
"""

from __future__ import annotations

import argparse
import getpass
import os
from typing import TYPE_CHECKING, Any

from app.commands.context import Context
from app.commands.output import add_json_flag

if TYPE_CHECKING:
    from datetime import datetime

    from core.domain.model import Channel, DriverCard

OWN_CODE_LABEL = "Реферальный код партнёра"
ENTERED_CODE_LABEL = "Реферальный код при регистрации"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("driver", help="show a driver, fix their entered code")
    parser.set_defaults(help_parser=parser)
    commands = parser.add_subparsers(dest="driver_command", metavar="SUBCOMMAND")

    show = commands.add_parser(
        "show", help="show a driver's card", description="Show a driver's card and audit trail."
    )
    show.add_argument("phone", metavar="PHONE")
    show.add_argument("--park", required=True, metavar="SLUG")
    add_json_flag(show)
    show.set_defaults(handler=show_handler)

    setter = commands.add_parser(
        "set-ref-code",
        help="set, change or clear the code a driver entered at registration",
        description="Set, change or clear the referral code the driver entered at "
        "registration (and so their referrer). The same rules as in the bots apply: the "
        "code must exist, be active, belong to this park and not be the driver's own. "
        "Every change is recorded with who and when.",
    )
    setter.add_argument("phone", metavar="PHONE")
    setter.add_argument("--park", required=True, metavar="SLUG")
    which = setter.add_mutually_exclusive_group(required=True)
    which.add_argument("--code", metavar="CODE", help="the code to record")
    which.add_argument("--clear", action="store_true", help="remove the entered code")
    setter.add_argument(
        "--actor", metavar="NAME", help="who makes the change (default: $USER, else 'cli')"
    )
    add_json_flag(setter)
    setter.set_defaults(handler=set_handler)

    forget = commands.add_parser(
        "forget",
        help="erase a driver's personal data on their request (cannot be undone)",
        description="Erase the driver's phone, name, chats, conversation and SMS log (152-FZ). "
        "An anonymous record stays, so referral counts and bonuses still add up; the "
        "partner sees «удалён». The erasure is audited with who and when. It cannot be "
        "undone; the same number may register again as a new driver.",
    )
    forget.add_argument("phone", metavar="PHONE")
    forget.add_argument("--park", required=True, metavar="SLUG")
    forget.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    forget.add_argument("--actor", metavar="NAME", help="who erases (default: $USER, else 'cli')")
    add_json_flag(forget)
    forget.set_defaults(handler=forget_handler)

    from app.commands.driver_list import register_list  # the streamed listing

    register_list(commands)


def default_actor() -> str:
    try:
        return os.environ.get("USER") or getpass.getuser() or "cli"
    except Exception:  # no passwd entry (containers): still record something
        return "cli"


def card_json(card: DriverCard) -> dict[str, Any]:
    d = card.driver
    referrer = None
    if d.referrer_kind is not None:
        referrer = {
            "kind": d.referrer_kind.value,
            "id": d.referrer_id,
            "name": card.referrer_name,
            "phone": card.referrer_phone,
        }
    return {
        "id": d.id,
        "park": d.park,
        "phone": d.phone,
        "name": d.name,
        "own_code": d.own_code,
        "entered_code": d.entered_code,
        "referrer": referrer,
        "channel": d.channel.value,
        "source": d.source.value,
        "source_tag": d.source_tag,
        "identities": [
            {"channel": i.channel.value, "user_id": i.user_id} for i in card.identities
        ],
        "created_at": d.created_at,
        "updated_at": d.updated_at,
        "consent": consent_json(d.consent_at, d.consent_channel, d.consent_url),
        "mailing": consent_json(d.mailing_at, d.mailing_channel, d.mailing_url),
        "forgotten_at": d.forgotten_at,
        "audit": [
            {"field": a.field, "old": a.old, "new": a.new, "actor": a.actor, "at": a.at}
            for a in card.audit
        ],
    }


def consent_json(at: datetime | None, channel: Channel | None, url: str | None) -> Any:
    """A consent as recorded (when, where, which policy), or None if none is in force."""
    if at is None:
        return None
    return {"at": at, "channel": channel.value if channel else None, "policy_url": url}


def consent_line(at: datetime | None, channel: Channel | None, url: str | None) -> str:
    from app.commands.output import when

    if at is None:
        return "-"
    where = f" via {channel.value}" if channel else ""
    policy = f", policy {url}" if url else ", no policy URL shown"
    return f"{when(at)}{where}{policy}"


def print_card(card: DriverCard) -> None:
    from app.commands.output import fields, table, text, when

    d = card.driver
    referrer = "-"
    if d.referrer_kind is not None:
        referrer = (
            f"{d.referrer_kind.value} {text(card.referrer_name)} {text(card.referrer_phone)}"
        )
    identities = ", ".join(f"{i.channel.value}:{i.user_id}" for i in card.identities)
    source = d.source.value + (f" (tag {d.source_tag})" if d.source_tag else "")
    fields(
        f"Driver {d.phone} in park {d.park}",
        (
            ("phone", d.phone),
            ("name", d.name),
            (f"{OWN_CODE_LABEL} (own code, read-only)", d.own_code),
            (f"{ENTERED_CODE_LABEL} (entered code)", d.entered_code),
            ("referrer", referrer),
            ("registered via", d.channel.value),
            ("code source", source),
            ("chats", identities),
            ("registered at", when(d.created_at)),
            ("updated at", when(d.updated_at)),
            (
                "consent (personal data)",
                consent_line(d.consent_at, d.consent_channel, d.consent_url),
            ),
            ("consent (mailings)", consent_line(d.mailing_at, d.mailing_channel, d.mailing_url)),
        ),
    )
    if card.audit:
        table(
            "Changes of the entered code",
            ("when", "who", "old", "new"),
            ((when(a.at), a.actor, a.old, a.new) for a in card.audit),
        )
    else:
        print("entered code never changed by an operator")


async def show_handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.commands.output import emit_json

    admin = await ctx.admin()
    card = await admin.driver_card(args.park, args.phone)
    if args.json:
        emit_json(card_json(card))
    else:
        print_card(card)
    return 0


async def set_handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.commands.output import emit_json

    admin = await ctx.admin()
    code = None if args.clear else args.code
    actor = (args.actor or "").strip() or default_actor()
    card = await admin.set_entered_code(args.park, args.phone, code, actor)
    if args.json:
        emit_json(card_json(card))
    else:
        print_card(card)
    return 0


async def forget_handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.commands.output import emit_json, when
    from core.domain.phones import mask_phone

    admin = await ctx.admin()
    actor = (args.actor or "").strip() or default_actor()
    card = await admin.driver_card(args.park, args.phone)  # refuses unknown ones
    shown = mask_phone(card.driver.phone)
    if not args.yes and not confirmed(
        f"Erase the personal data of driver {shown} (id {card.driver.id}) in park "
        f"{card.driver.park}? This cannot be undone. Type yes to erase: "
    ):
        print("nothing erased")
        return 1
    done = await admin.forget_driver(args.park, args.phone, actor)
    if args.json:
        emit_json({"driver_id": done.driver_id, "park": done.park, "forgotten_at": done.at})
    else:
        print(
            f"driver {shown} erased in park {done.park} at {when(done.at)}; "
            f"the anonymous record id {done.driver_id} stays for counts and bonuses"
        )
    return 0


def confirmed(question: str) -> bool:
    """Ask on the terminal; anything but "yes" (or no answer at all) is a no."""
    import sys

    print(question, end="", file=sys.stderr, flush=True)
    try:
        answer = sys.stdin.readline()
    except (OSError, ValueError):
        return False
    return answer.strip().lower() in ("yes", "y", "да")
