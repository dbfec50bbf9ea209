"""``taxireg payouts list|process|confirm|fail|cancel``: an admin moves payout requests.

pending -> processing -> confirmed, or error; an admin may also cancel a pending or
processing request. Each move is checked by the domain (``core.domain.bonus_payouts``) and a
refused one is one line with its reason and changes nothing.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from app.commands.context import Context
from app.commands.output import add_json_flag

if TYPE_CHECKING:
    from core.domain.bonus_payouts import Payout
    from core.services.ledger import LedgerService

# subcommand -> the status it moves a request to
MOVES = {"process": "processing", "confirm": "confirmed", "fail": "error", "cancel": "cancelled"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("payouts", help="list and settle bonus payout requests")
    parser.set_defaults(help_parser=parser)
    commands = parser.add_subparsers(dest="payouts_command", metavar="SUBCOMMAND")
    listing = commands.add_parser("list", help="payout requests, newest first")
    listing.add_argument("--park", metavar="SLUG")
    listing.add_argument(
        "--status", choices=["pending", "processing", "confirmed", "cancelled", "error"]
    )
    add_json_flag(listing)
    listing.set_defaults(handler=list_handler)
    for name, target in MOVES.items():
        move = commands.add_parser(name, help=f"move a request to {target}")
        move.add_argument("payout_id", metavar="ID", type=int)
        move.add_argument("--note", help="why (kept with the request, shown to nobody else)")
        add_json_flag(move)
        move.set_defaults(handler=move_handler, target=target)


def payout_json(p: Payout) -> dict[str, Any]:
    return {
        "id": p.id,
        "park": p.park,
        "owner_kind": str(p.owner.kind),
        "owner_id": p.owner.id,
        "amount_kopecks": p.amount_kopecks,
        "status": str(p.status),
        "requested_at": p.requested_at.isoformat(),
        "updated_at": p.updated_at.isoformat(),
        "note": p.note,
    }


async def list_handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.commands.output import emit_json, table
    from core.domain.bonus_payouts import PayoutStatus
    from core.domain.errors import UnknownPark
    from core.domain.money import format_roubles

    container = await ctx.container()
    if args.park is not None and args.park not in container.parks:
        raise UnknownPark(args.park)
    status = PayoutStatus(args.status) if args.status else None
    rows = await _ledger(container).payouts(park=args.park, status=status)
    if args.json:
        emit_json([payout_json(p) for p in rows])
        return 0
    table(
        f"{len(rows)} payout requests",
        ["id", "park", "owner", "amount", "status", "requested", "note"],
        [
            (
                p.id,
                p.park,
                f"{p.owner.kind} {p.owner.id}",
                format_roubles(p.amount_kopecks),
                p.status,
                p.requested_at.isoformat(timespec="minutes"),
                p.note or "",
            )
            for p in rows
        ],
    )
    return 0


async def move_handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.commands.output import emit_json
    from core.domain.bonus_payouts import Actor, PayoutStatus
    from core.domain.money import format_roubles

    container = await ctx.container()
    payout = await _ledger(container).move_payout(
        args.payout_id, PayoutStatus(args.target), Actor.ADMIN, note=args.note
    )
    if args.json:
        emit_json(payout_json(payout))
    else:
        print(
            f"payout {payout.id} ({format_roubles(payout.amount_kopecks)}, "
            f"{payout.owner.kind} {payout.owner.id}) is now {payout.status}"
        )
    return 0


def _ledger(container: Any) -> LedgerService:
    from core.domain.errors import DomainError

    service = getattr(container, "ledger", None)
    if service is None:  # the composition root wires it (app.bootstrap)
        raise DomainError("the bonus ledger is not set up in this build")
    return service
