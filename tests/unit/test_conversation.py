from __future__ import annotations

from core.domain.model import Channel
from core.domain.registration import REPEAT_WINDOW, Conversation


def test_repeated_and_older_updates_are_seen() -> None:
    conv = Conversation(park="mos", channel=Channel.TELEGRAM, user_id="1")
    assert not conv.seen(500)
    assert conv.seen(500)
    assert conv.seen(499)
    assert not conv.seen(501)
    assert not conv.seen(None)


def test_update_ids_restarting_low_are_not_ignored() -> None:
    # Telegram picks a random update id after a week without updates.
    conv = Conversation(park="mos", channel=Channel.TELEGRAM, user_id="1")
    assert not conv.seen(900_000_000)
    assert not conv.seen(12_345)
    assert conv.last_event == 12_345
    assert conv.seen(12_345)
    assert not conv.seen(12_345 + REPEAT_WINDOW + 1)
