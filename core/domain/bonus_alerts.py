"""What the ledger tells people: batched accrual alerts, payout status notices, and the
``bonus.accrued`` webhook event.

- **Accrual alerts** are batched per beneficiary: an import only adds its net accrual to
  the beneficiary's pending sum (``balances.alert_kopecks``, in the import's transaction);
  the alert job turns a positive pending sum into *one* outbox row, at most once per the
  park's ``alert_interval_minutes``, and clears it in the same transaction. Never one
  message per order. The outbox then delivers it at least once, across restarts.
- **Payout notices**: every status change of a payout request writes an outbox row for the
  requester in the transaction that makes the change.
- **``bonus.accrued``** (webhook): one event per import batch per beneficiary whose balance
  the batch changed, with the batch's net amount and the orders counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.domain.bonus import Beneficiary
from core.domain.bonus_payouts import Payout
from core.domain.model import Notification
from core.domain.webhooks import WebhookEvent, event

BONUS_ACCRUED = "bonus_accrued"  # outbox kind: the batched accrual alert
PAYOUT_STATUS = "payout_status"  # outbox kind: a payout request changed status
BONUS_ACCRUED_EVENT = "bonus.accrued"  # webhook kind


@dataclass(frozen=True)
class DueAlert:
    """A beneficiary whose pending accruals are due to be announced."""

    owner: Beneficiary
    amount_kopecks: int  # net accrued since the last alert (> 0)
    balance_kopecks: int  # accrued minus paid, after it
    available_kopecks: int


def accrual_alert(park: str, due: DueAlert, now: datetime) -> Notification:
    owner = due.owner
    return Notification(
        park=park,
        recipient_kind=owner.kind,
        recipient_id=owner.id,
        kind=BONUS_ACCRUED,
        payload={
            "amount_kopecks": due.amount_kopecks,
            "balance_kopecks": due.balance_kopecks,
            "available_kopecks": due.available_kopecks,
        },
        # One alert per beneficiary per moment the job took it: the job clears the pending
        # sum in the same transaction, so a second run cannot take the same money again.
        key=f"{BONUS_ACCRUED}:{park}:{owner.kind.value}:{owner.id}:{now.isoformat()}",
    )


def payout_notice(payout: Payout) -> Notification:
    owner = payout.owner
    payload: dict[str, object] = {
        "payout_id": payout.id,
        "status": payout.status.value,
        "amount_kopecks": payout.amount_kopecks,
    }
    if payout.note:
        payload["note"] = payout.note
    return Notification(
        park=payout.park,
        recipient_kind=owner.kind,
        recipient_id=owner.id,
        kind=PAYOUT_STATUS,
        payload=payload,
        key=f"{PAYOUT_STATUS}:{payout.id}:{payout.status.value}",
    )


def accrued_event(
    park: str, owner: Beneficiary, amount_kopecks: int, orders: int, at: datetime
) -> WebhookEvent:
    return event(
        park,
        BONUS_ACCRUED_EVENT,
        {
            "beneficiary_kind": owner.kind.value,
            "beneficiary_id": owner.id,
            "amount_kopecks": amount_kopecks,
            "orders": orders,
        },
        at,
    )
