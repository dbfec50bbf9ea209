"""What the running parts count for operators (``/metrics``): bounded label values.

Every label is an enum member or a park slug, so the number of time series stays bounded
whatever users type or send.
"""

from __future__ import annotations

from enum import StrEnum


class UpdateOutcome(StrEnum):
    """How one chat update ended."""

    ANSWERED = "answered"  # handled and answered (any step but a completed registration)
    REGISTERED = "registered"  # the update completed a registration
    DUPLICATE = "duplicate"  # a redelivered update, answered again and applied once
    CONFLICT = "conflict"  # concurrent updates kept winning; the user was asked to retry
    FAILED = "failed"  # an unexpected error; nothing was applied


class DeliveryOutcome(StrEnum):
    """What one attempt to send an alert or a webhook ended in."""

    SENT = "sent"
    RETRIED = "retried"  # not delivered now, tried again later
    FAILED = "failed"  # given up (dead, unreachable, refused)
