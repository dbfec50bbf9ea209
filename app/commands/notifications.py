"""``taxireg notifications list|retry`` and ``taxireg partner settings``: the alert outbox.

Like every command module this imports only argparse at load time; the handlers use core's
outbox port through the container's database (``uow.outbox``), never the scheduler or a bot
framework.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import TYPE_CHECKING, Any

from app.commands.context import Context
from app.commands.output import add_json_flag

if TYPE_CHECKING:
    from app.bootstrap import Container
    from core.domain.delivery import OutboxRow
    from core.domain.model import Partner
    from core.ports import UnitOfWork

# core.domain.delivery.Status, spelled out so that parsing the command line imports nothing.
STATUSES = ("pending", "sent", "failed", "dead", "undeliverable", "expired", "cancelled")
ALERTS = ("instant", "digest")  # core.domain.model.Alerts
_HH_MM = r"([01]?\d|2[0-3]):([0-5]\d)"
_QUIET = re.compile(rf"^{_HH_MM}\s*[-–]\s*{_HH_MM}$")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "notifications", help="list partner alerts in the outbox and retry failed ones"
    )
    parser.set_defaults(help_parser=parser)
    commands = parser.add_subparsers(dest="notifications_command", metavar="SUBCOMMAND")

    listing = commands.add_parser(
        "list",
        help="list notifications, newest first",
        description="List outbox notifications, newest first. Driver phone numbers in the "
        "alerts are not shown.",
    )
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--partner", metavar="PHONE", help="only alerts to this partner")
    listing.add_argument("--park", metavar="SLUG", help="only this park")
    listing.add_argument(
        "--limit", type=_positive, default=100, metavar="N", help="at most N rows (100)"
    )
    add_json_flag(listing)
    listing.set_defaults(handler=list_handler)

    retry = commands.add_parser(
        "retry",
        help="send a notification again",
        description="Put a failed, dead, undeliverable or expired notification back in the "
        "queue, due now, with its attempt counter reset (the last error is kept).",
    )
    retry.add_argument("id", type=_positive, metavar="ID")
    add_json_flag(retry)
    retry.set_defaults(handler=retry_handler)


def register_partner_settings(partner_commands: Any) -> None:
    """``taxireg partner settings``: added to the ``partner`` command by its module."""
    settings = partner_commands.add_parser(
        "settings",
        help="show or change a partner's alert settings",
        description="Show a partner's alert settings, or change them: --alerts instant "
        "(every new driver at once) or digest (one daily summary); --quiet FROM-TO in the "
        "park's time zone (alerts then arrive when it ends) or off.",
    )
    settings.add_argument("phone", metavar="PHONE")
    settings.add_argument("--park", required=True, metavar="SLUG")
    settings.add_argument("--alerts", choices=ALERTS)
    settings.add_argument("--quiet", type=_quiet, metavar="HH:MM-HH:MM|off")
    add_json_flag(settings)
    settings.set_defaults(handler=partner_settings_handler)


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value!r}")
    return number


def _quiet(value: str) -> tuple[str | None, str | None]:
    # "off" is (None, None), so that args.quiet is None only when --quiet was not given.
    if value.strip().lower() == "off":
        return None, None
    match = _QUIET.match(value.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"expected HH:MM-HH:MM or off, got {value!r}")
    start = f"{int(match[1]):02d}:{match[2]}"
    end = f"{int(match[3]):02d}:{match[4]}"
    if start == end:
        raise argparse.ArgumentTypeError("quiet hours must start and end at different times")
    return start, end


# --------------------------------------------------------------------------- list


def row_json(row: OutboxRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "park": row.park,
        "recipient_kind": row.recipient_kind,
        "recipient_id": row.recipient_id,
        "kind": row.kind,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at,
        "hold": row.hold,
        "claimed_by": row.claimed_by,
        "claimed_until": row.claimed_until,
        "last_error": row.last_error,
        "created_at": row.created_at,
        "sent_at": row.sent_at,
        "sent_as": row.sent_as,
    }


async def _partner_ids(container: Container, raw_phone: str, park: str | None) -> list[int]:
    from core.domain.errors import DomainError

    slugs = [park] if park else list(container.parks) or ["-"]
    phones = set()
    for slug in slugs:
        # A phone is read with the park's region; without --park any park's reading counts.
        try:
            phones.add(container.admin.phone(container.admin.park(slug), raw_phone))
        except DomainError:
            if park:
                raise
    if not phones:
        from core.domain.errors import InvalidPhoneError

        raise InvalidPhoneError(raw_phone, "RU")

    def work(uow: UnitOfWork) -> list[int]:
        return [
            p.id
            for phone in sorted(phones)
            for p in uow.partners.by_phone(phone)
            if p.id is not None and (park is None or p.park == park)
        ]

    return await container.db.read(work)


async def list_handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.commands.output import emit_json, table, when
    from core.domain.delivery import Status

    container = await ctx.container()
    if args.park is not None:
        container.admin.park(args.park)  # unknown park: one-line error
    partner_ids = None
    if args.partner is not None:
        partner_ids = await _partner_ids(container, args.partner, args.park)
        if not partner_ids:
            print(f"error: no partner with phone {args.partner!r}", file=sys.stderr)
            return 1
    status = Status(args.status) if args.status else None
    rows = await container.db.read(
        lambda uow: uow.outbox.list(
            status=status, park=args.park, partner_ids=partner_ids, limit=args.limit
        )
    )
    if args.json:
        emit_json([row_json(r) for r in rows])
        return 0
    if not rows:
        print("no notifications")
        return 0
    table(
        "Notifications",
        ("id", "park", "to", "kind", "status", "tries", "next try", "sent", "last error"),
        (
            (
                r.id,
                r.park,
                f"{r.recipient_kind} {r.recipient_id}",
                r.kind,
                r.status + (f" ({r.hold})" if r.hold else "") + _as(r),
                r.attempts,
                when(r.next_attempt_at) if r.status is Status.PENDING else "-",
                when(r.sent_at),
                r.last_error,
            )
            for r in rows
        ),
    )
    return 0


def _as(row: OutboxRow) -> str:
    return " as digest" if row.sent_as == "digest" else ""  # SentAs.DIGEST


# --------------------------------------------------------------------------- retry


async def retry_handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.commands.output import emit_json
    from core.domain.model import OwnerKind

    container = await ctx.container()
    now = container.clock.now()

    def work(uow: UnitOfWork) -> tuple[OutboxRow | None, OutboxRow | None, Partner | None]:
        before = uow.outbox.get(args.id)
        row = uow.outbox.requeue(args.id, now) if before is not None else None
        partner = None
        if row is not None and row.recipient_kind is OwnerKind.PARTNER:
            partner = uow.partners.get(row.recipient_id)
        return before, row, partner

    before, row, partner = await container.db.run(work)
    if before is None:
        print(f"error: no notification {args.id}", file=sys.stderr)
        return 1
    if row is None:  # requeue leaves sent rows alone
        print(f"error: notification {args.id} was already sent", file=sys.stderr)
        return 1
    warning = None
    if partner is not None and partner.unreachable:
        warning = (
            "the partner is marked unreachable (they blocked the bot): the alert will "
            "wait until they open the bot again"
        )
    if args.json:
        emit_json({**row_json(row), "was": before.status, "warning": warning})
        return 0
    print(f"notification {row.id}: {before.status} -> pending, due now (attempts reset)")
    if warning:
        print(f"note: {warning}")
    return 0


# --------------------------------------------------------------------------- partner settings


def settings_json(partner: Partner) -> dict[str, Any]:
    return {
        "id": partner.id,
        "park": partner.park,
        "phone": partner.phone,
        "alerts": partner.alerts,
        "quiet_from": partner.quiet_from,
        "quiet_to": partner.quiet_to,
        "telegram_linked": partner.telegram_chat_id is not None,
        "unreachable": partner.unreachable,
    }


async def partner_settings_handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.commands.output import emit_json, fields

    container = await ctx.container()
    from core.domain.model import Alerts

    park = container.admin.park(args.park)
    phone = container.admin.phone(park, args.phone)
    changed = args.alerts is not None or args.quiet is not None

    def work(uow: UnitOfWork) -> Partner | None:
        mine = [p for p in uow.partners.by_phone(phone) if p.park == park.slug]
        partner = mine[0] if mine else None
        if partner is None or partner.id is None or not changed:
            return partner
        quiet_from, quiet_to = args.quiet or (partner.quiet_from, partner.quiet_to)
        uow.partners.update_settings(
            partner.id,
            alerts=Alerts(args.alerts) if args.alerts else partner.alerts,
            quiet_from=quiet_from,
            quiet_to=quiet_to,
        )
        return uow.partners.get(partner.id) or partner

    partner = await container.db.run(work)
    if partner is None:
        print(f"error: no partner with phone {phone} in park {park.slug}", file=sys.stderr)
        return 1
    if args.json:
        emit_json(settings_json(partner))
        return 0
    quiet = f"{partner.quiet_from}-{partner.quiet_to}" if partner.quiet_from else "off"
    fields(
        f"Partner {partner.phone} in {park.slug}" + (" (saved)" if changed else ""),
        (
            ("alerts", partner.alerts),
            ("quiet hours", f"{quiet} ({park.timezone})" if partner.quiet_from else quiet),
            ("telegram", _telegram(partner)),
        ),
    )
    return 0


def _telegram(partner: Partner) -> str:
    if partner.telegram_chat_id is None:
        return "not linked (alerts wait until they open the bot)"
    return "unreachable (blocked the bot)" if partner.unreachable else "linked"
