"""``taxireg webhooks list|retry|send``: the outgoing webhooks' outbox, beside
``taxireg notifications`` (the partner alerts' outbox)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.commands.context import Context

STATUSES = ("pending", "sent", "failed")  # core.domain.webhooks.WebhookStatus


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "webhooks", help="list signed webhooks to the parks' systems and retry failed ones"
    )
    parser.set_defaults(help_parser=parser)
    commands = parser.add_subparsers(dest="webhooks_command", metavar="SUBCOMMAND")
    listing = commands.add_parser("list", help="list webhook events, newest first")
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--limit", type=int, default=100, metavar="N")
    listing.set_defaults(handler=list_handler)
    retry = commands.add_parser("retry", help="queue a pending or failed event again, due now")
    retry.add_argument("id", type=int, metavar="ID")
    retry.set_defaults(handler=retry_handler)
    send = commands.add_parser("send", help="deliver every due event once, now")
    send.set_defaults(handler=send_handler)


async def list_handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.wiring_webhooks import install_webhooks
    from core.domain.webhooks import WebhookStatus

    relay = install_webhooks(await ctx.container())
    status = WebhookStatus(args.status) if args.status else None
    rows = await relay.list(status)
    for row in rows[: max(1, args.limit)]:
        print(
            f"{row.id}\t{row.status.value}\t{row.park}\t{row.kind}\t{row.event_id}\t"
            f"attempts={row.attempts}\tnext={row.next_attempt_at.isoformat()}\t"
            f"{row.last_error or ''}"
        )
    if not rows:
        print("no webhook events", file=sys.stderr)
    return 0


async def retry_handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.wiring_webhooks import install_webhooks

    relay = install_webhooks(await ctx.container())
    if await relay.retry(args.id):
        print(f"webhook {args.id} queued again")
        return 0
    print(f"no pending or failed webhook with id {args.id}", file=sys.stderr)
    return 1


async def send_handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.wiring_webhooks import install_webhooks

    report = await install_webhooks(await ctx.container()).run()
    print(f"sent {report.sent}, to retry {report.retried}, failed {report.failed}")
    return 0
