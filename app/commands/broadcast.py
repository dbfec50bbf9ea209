"""``taxireg broadcast``: a message to a park's partners or drivers, through the outbox.

    taxireg broadcast --park SLUG --to partners|drivers [--filter K=V ...] --text FILE
                      [--dry-run] [--yes] [--key KEY] [--wait]
    taxireg broadcast status ID [--wait]
    taxireg broadcast list [--park SLUG]
    taxireg broadcast cancel ID [--yes]

The command queues the messages (a progress bar over the batches) and returns; the alert
relay of a running ``taxireg run`` sends them with the alerts' pacing, retries and 403
handling. ``--wait`` (or ``status ID --wait``) follows the sending with a progress bar until
nothing is pending, then prints how many were sent, failed, unreachable and skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.commands.context import Context
from app.commands.output import add_json_flag

if TYPE_CHECKING:
    from core.domain.broadcast import Progress

AUDIENCES = ("partners", "drivers")  # core.domain.broadcast.Audience
_POLL_S = 1.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "broadcast",
        help="send a message to a park's partners or consenting drivers",
        description="Queue a message to every partner of the park with a Telegram chat "
        "(--to partners) or every driver who opted in to mailings with /news and did not "
        "/stop (--to drivers); `taxireg run` sends it through the park's Telegram bot at the "
        "alerts' pace. Drivers without a Telegram chat (VK registrations) are skipped. The "
        "same command run twice sends once: its key (--key, else a hash of park, audience, "
        "filter and text) is stored. Subcommands: status ID, list, cancel ID.",
    )
    parser.set_defaults(handler=send_handler, help_parser=parser)
    parser.add_argument("--park", metavar="SLUG")
    parser.add_argument("--to", choices=AUDIENCES, dest="audience")
    parser.add_argument(
        "--filter",
        action="append",
        metavar="KEY=VALUE",
        help="narrow the audience (repeatable): since=YYYY-MM-DD, until=YYYY-MM-DD "
        "(registered or added, park-local days); drivers only: code=CODE (entered at "
        "registration), source=deep_link|typed|none, channel=telegram|vk|app|terminal",
    )
    parser.add_argument(
        "--text", metavar="FILE", type=Path, help="the message (UTF-8), - for stdin"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show how many it reaches and the message"
    )
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument(
        "--key",
        metavar="KEY",
        help="idempotency key (default: hash of park, audience, filter, text)",
    )
    parser.add_argument(
        "--wait", action="store_true", help="follow the sending until nothing is pending"
    )
    parser.add_argument("--actor", metavar="NAME", help="who sends (default: $USER, else 'cli')")
    add_json_flag(parser)
    commands = parser.add_subparsers(dest="broadcast_command", metavar="SUBCOMMAND")

    status = commands.add_parser("status", help="a broadcast's progress and final counts")
    status.add_argument("id", type=_positive, metavar="ID")
    status.add_argument("--wait", action="store_true", help="follow it until nothing is pending")
    add_json_flag(status)
    status.set_defaults(handler=status_handler)

    listing = commands.add_parser("list", help="broadcasts, newest first")
    listing.add_argument("--park", metavar="SLUG")
    add_json_flag(listing)
    listing.set_defaults(handler=list_handler)

    cancel = commands.add_parser("cancel", help="cancel a broadcast's unsent messages")
    cancel.add_argument("id", type=_positive, metavar="ID")
    cancel.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    cancel.add_argument("--actor", metavar="NAME", help="who cancels (default: $USER)")
    add_json_flag(cancel)
    cancel.set_defaults(handler=cancel_handler)


def _positive(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError("must be a positive number")
    return number


def _actor(args: argparse.Namespace) -> str:
    from app.commands.driver import default_actor

    return args.actor or default_actor()


def _confirmed(question: str) -> bool:
    """Ask on the terminal; anything but yes (or no terminal at all) is a no."""
    if not sys.stdin.isatty():
        return False
    try:
        answer = input(question)
    except EOFError:
        return False
    return answer.strip().lower() in ("yes", "y", "да")


def _read_text(path: Path) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    return path.read_text(encoding="utf-8")


async def send_handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.commands.output import emit_json, fields
    from core.domain.broadcast import Audience, BroadcastFilter

    if args.park is None or args.audience is None or args.text is None:
        print("error: give --park, --to and --text (or a subcommand)", file=sys.stderr)
        return 2
    text = _read_text(args.text)
    audience = Audience(args.audience)
    flt = BroadcastFilter.parse(args.filter)
    app = await ctx.container()
    service = app.broadcasts
    plan = await service.plan(args.park, audience, flt, text, args.key)
    sample = plan.text
    if args.dry_run:
        data = {
            "park": plan.park.slug,
            "audience": audience.value,
            "filter": flt.canonical(),
            "key": plan.key,
            "recipients": plan.audit.reachable,
            "skipped": plan.audit.skipped,
            "sample": sample,
            "already_sent_as": plan.existing.id if plan.existing else None,
        }
        if args.json:
            emit_json(data)
            return 0
        fields(
            "broadcast (dry run: nothing is queued)",
            (
                ("park", plan.park.slug),
                ("to", audience.value),
                ("filter", flt.canonical() or "-"),
                ("recipients", plan.audit.reachable),
                ("skipped (no Telegram chat)", plan.audit.skipped),
                ("key", plan.key),
                ("already made as", f"broadcast {plan.existing.id}" if plan.existing else "-"),
            ),
        )
        print("\nThe message as each recipient gets it:\n")
        print(sample)
        return 0
    if plan.existing is not None and plan.existing.state.value != "queueing":
        # The same broadcast again: nothing is queued or sent a second time.
        progress = await service.get(plan.existing.id)
        if args.json:
            emit_json({**progress.as_dict(), "created": False})
        else:
            print(
                f"broadcast {plan.existing.id} was already made with this key "
                f"({plan.existing.created_at:%Y-%m-%d %H:%M} UTC); nothing new is queued"
            )
            _summary(progress)
        return 0
    if not args.yes and not _confirmed(
        f"Send to {plan.audit.reachable} {audience.value} of park {plan.park.slug} "
        f"({plan.audit.skipped} skipped)? Type yes to send: "
    ):
        print("error: not confirmed (give --yes to send without asking)", file=sys.stderr)
        return 1
    broadcast, created = await _create(service, plan, _actor(args), quiet=args.json)
    progress = await service.get(broadcast.id)
    if args.wait:
        progress = await _follow(service, broadcast.id, quiet=args.json)
    if args.json:
        emit_json({**progress.as_dict(), "created": created})
        return 0
    print(
        f"broadcast {broadcast.id}: {broadcast.queued} queued, {broadcast.skipped} skipped "
        "(no Telegram chat)"
    )
    if not args.wait:
        print(
            "`taxireg run` sends them; follow with "
            f"`taxireg broadcast status {broadcast.id} --wait`, stop with "
            f"`taxireg broadcast cancel {broadcast.id}`"
        )
    _summary(progress)
    return 0


async def _create(service: Any, plan: Any, actor: str, *, quiet: bool) -> Any:
    from rich.progress import Progress as Bar

    total = plan.audit.reachable + plan.audit.skipped
    with Bar(transient=True, disable=quiet or not sys.stderr.isatty()) as bar:
        task = bar.add_task("queueing", total=total or None)
        result = await service.create(plan, actor, lambda n: bar.advance(task, n))
    return result


async def _follow(service: Any, broadcast_id: int, *, quiet: bool) -> Progress:
    from rich.progress import Progress as Bar

    progress = await service.get(broadcast_id)
    with Bar(disable=quiet) as bar:
        task = bar.add_task(f"broadcast {broadcast_id}", total=progress.broadcast.queued or None)
        while True:
            done = progress.broadcast.queued - progress.pending
            bar.update(task, completed=done, total=progress.broadcast.queued or None)
            if progress.finished:
                return progress  # type: ignore[no-any-return]
            await asyncio.sleep(_POLL_S)
            progress = await service.get(broadcast_id)


def _summary(progress: Progress) -> None:
    from app.commands.output import fields, when

    b = progress.broadcast
    fields(
        f"broadcast {b.id}",
        (
            ("park", b.park),
            ("to", b.audience.value),
            ("filter", b.filter or "-"),
            ("state", b.state.value + (" (sending done)" if progress.finished else "")),
            ("created", f"{when(b.created_at)} by {b.created_by}"),
            ("recipients", b.queued),
            ("pending", progress.pending),
            ("sent", progress.sent),
            ("failed", progress.failed),
            ("unreachable (blocked the bot)", progress.unreachable),
            ("cancelled", progress.cancelled),
            ("skipped (no Telegram chat)", b.skipped),
        ),
    )


async def status_handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.commands.output import emit_json

    app = await ctx.container()
    service = app.broadcasts
    progress = await service.get(args.id)
    if progress.broadcast.state.value == "queueing":
        progress = await service.resume(args.id)  # a queueing cut short is finished now
    if args.wait:
        progress = await _follow(service, args.id, quiet=args.json)
    if args.json:
        emit_json(progress.as_dict())
    else:
        _summary(progress)
    return 0


async def list_handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.commands.output import emit_json, table, when

    app = await ctx.container()
    found = await app.broadcasts.list(args.park)
    if args.json:
        emit_json([p.as_dict() for p in found])
        return 0
    table(
        "Broadcasts",
        ("id", "park", "to", "state", "created", "recipients", "sent", "failed", "unreachable"),
        (
            (
                p.broadcast.id,
                p.broadcast.park,
                p.broadcast.audience.value,
                p.broadcast.state.value,
                when(p.broadcast.created_at),
                p.broadcast.queued,
                p.sent,
                p.failed,
                p.unreachable,
            )
            for p in found
        ),
    )
    return 0


async def cancel_handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.commands.output import emit_json

    app = await ctx.container()
    service = app.broadcasts
    progress = await service.get(args.id)
    if not args.yes and not _confirmed(
        f"Cancel broadcast {args.id} ({progress.pending} not sent yet)? Type yes to cancel: "
    ):
        print("error: not confirmed (give --yes to cancel without asking)", file=sys.stderr)
        return 1
    progress, cancelled = await service.cancel(args.id, _actor(args))
    if args.json:
        emit_json({**progress.as_dict(), "cancelled_now": cancelled})
        return 0
    print(f"broadcast {args.id} cancelled: {cancelled} unsent message(s) will not be sent")
    _summary(progress)
    return 0
