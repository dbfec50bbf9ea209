"""Payout requests from «Мои бонусы» in the bots: what the buttons and commands do.

Called by the registration flow inside its own unit of work, with the same core functions
the partner API uses (``core.services.ledger.request_payout`` / ``move_payout``), so the
rules are one: at least the park's minimum, at most the available balance (one conditional
UPDATE, two requests at once never overdraw), and the requester cancels only while pending.

- «Вывести бонусы» (``/payout``) asks for the whole available balance.
- «Отменить заявку» (``/payout_cancel``) cancels the requester's newest pending request, or
  says why it cannot (a processing one is past cancelling).
"""

from __future__ import annotations

from datetime import datetime

from core.domain.bonus import Beneficiary, BonusProgram
from core.domain.bonus_payouts import Actor, Balance, PayoutRefusal, PayoutStatus
from core.domain.money import format_roubles
from core.ports import UnitOfWork
from core.replies import Action
from core.services.ledger import PayoutRefused, move_payout, request_payout

PAYOUT_ACTIONS = frozenset({Action.PAYOUT, Action.PAYOUT_CANCEL})
PAYOUT_COMMANDS = {"payout": Action.PAYOUT, "payout_cancel": Action.PAYOUT_CANCEL}

Said = tuple[str, dict[str, str | int]]  # a catalog key and its arguments


def payout_buttons(
    uow: UnitOfWork, program: BonusProgram, owner: Beneficiary, balance: Balance
) -> tuple[Action, ...]:
    """The payout buttons «Мои бонусы» offers now: request when the available balance
    reaches the minimum, cancel while a request is pending."""
    actions: list[Action] = []
    if balance.available >= program.payout_minimum_kopecks:
        actions.append(Action.PAYOUT)
    if uow.ledger.payouts(owner=owner, status=PayoutStatus.PENDING):
        actions.append(Action.PAYOUT_CANCEL)
    return tuple(actions)


def handle_payout(
    uow: UnitOfWork, program: BonusProgram, owner: Beneficiary, action: Action, now: datetime
) -> Said:
    if action is Action.PAYOUT:
        return _request(uow, program, owner, now)
    return _cancel(uow, owner, now)


def _request(uow: UnitOfWork, program: BonusProgram, owner: Beneficiary, now: datetime) -> Said:
    available = uow.ledger.balance(owner).available
    minimum = program.payout_minimum_kopecks
    try:
        payout = request_payout(uow.ledger, program, owner, available, now)
    except PayoutRefused as refused:
        if refused.reason is PayoutRefusal.INSUFFICIENT:  # taken meanwhile by another request
            return "payout-insufficient", {"available": format_roubles(available)}
        return "payout-below-minimum", {
            "available": format_roubles(max(available, 0)),
            "minimum": format_roubles(minimum),
        }
    return "payout-requested", {"id": payout.id, "amount": format_roubles(payout.amount_kopecks)}


def _cancel(uow: UnitOfWork, owner: Beneficiary, now: datetime) -> Said:
    mine = uow.ledger.payouts(owner=owner)
    pending = [p for p in mine if p.status is PayoutStatus.PENDING]
    if not pending:
        processing = [p for p in mine if p.status is PayoutStatus.PROCESSING]
        if processing:
            newest = processing[-1]
            return "payout-cancel-processing", {
                "id": newest.id,
                "amount": format_roubles(newest.amount_kopecks),
            }
        return "payout-none-pending", {}
    newest = pending[-1]
    try:
        # Answered here, so no notice in the outbox on top of this reply.
        move_payout(
            uow,
            newest.id,
            PayoutStatus.CANCELLED,
            Actor.REQUESTER,
            now,
            requester=owner,
            notify=False,
        )
    except PayoutRefused:  # an operator took it into processing a moment ago
        return "payout-cancel-processing", {
            "id": newest.id,
            "amount": format_roubles(newest.amount_kopecks),
        }
    return "payout-cancelled", {"id": newest.id, "amount": format_roubles(newest.amount_kopecks)}
