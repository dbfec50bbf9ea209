"""The Telegram offset: it never passes an update that is not handled yet."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from bots.telegram.window import UpdateWindow


def test_offset_waits_for_the_oldest_update_in_hand() -> None:
    window = UpdateWindow()
    assert window.offset is None
    for update_id in (10, 11, 12):
        assert window.add(update_id)
    window.finish(11)
    window.finish(12)
    assert window.offset == 10  # 11 and 12 are done, but 10 is not: Telegram keeps all
    assert window.busy == 1
    window.finish(10)
    assert (window.offset, len(window), window.busy) == (13, 0, 0)


def test_an_update_still_in_hand_is_not_taken_twice() -> None:
    window = UpdateWindow()
    assert window.add(5)
    assert window.add(6)
    window.finish(6)
    assert not window.add(5)  # redelivered while being handled
    assert not window.add(6)  # redelivered because 5 holds the offset back
    window.finish(5)
    assert window.offset == 7


def test_an_update_brought_back_by_a_poll_sent_before_it_finished_is_not_taken() -> None:
    window = UpdateWindow()
    window.add(7)
    in_flight_poll = window.offset  # a poll goes out while 7 is being handled
    window.finish(7)
    assert not window.add(7)  # that poll's answer still carries 7
    window.confirmed(in_flight_poll)
    assert not window.add(7)  # it confirmed nothing: 7 may come once more
    window.confirmed(window.offset)  # the next poll (offset 8) confirms it
    assert window.add(9)
    assert window.offset == 9


def test_ids_after_a_restart_of_telegrams_numbering_are_taken() -> None:
    window = UpdateWindow()
    window.add(900)
    window.finish(900)
    assert window.add(3)  # Telegram's random new start after a quiet week
    window.finish(3)
    assert window.offset == 4


@given(st.lists(st.integers(1, 60), unique=True, min_size=1), st.randoms())
def test_offset_never_passes_an_unfinished_update(ids: list[int], rnd: object) -> None:
    ids.sort()
    window = UpdateWindow()
    for update_id in ids:
        window.add(update_id)
    order = list(ids)
    rnd.shuffle(order)  # type: ignore[attr-defined]
    finished: set[int] = set()
    for update_id in order:
        window.finish(update_id)
        finished.add(update_id)
        unfinished = [i for i in ids if i not in finished]
        offset = window.offset
        assert offset is not None
        # Everything Telegram may forget (below the offset) is finished...
        assert all(i in finished for i in ids if i < offset)
        # ...and the offset is as far as it can be.
        assert offset == (min(unfinished) if unfinished else ids[-1] + 1)


async def test_settled_waits_for_the_updates_in_hand() -> None:
    window = UpdateWindow()
    window.add(1)
    assert not await window.settled(0.01)
    asyncio.get_running_loop().call_later(0.01, window.finish, 1)
    assert await window.settled(5)
