"""``taxireg run`` keeps start-up's objects out of the collector's full collections."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from app.runner import freeze_startup_objects


class _Node:
    other: _Node | None = None


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test process collects as usual


@pytest.mark.usefixtures("unfrozen")
def test_startup_objects_are_frozen_and_startup_garbage_is_collected_first() -> None:
    kept = _Node()
    cycle = _Node()
    cycle.other = cycle  # garbage only a collection frees
    gone = weakref.ref(cycle)
    del cycle

    freeze_startup_objects()

    assert gone() is None  # collected before the freeze, not kept for the process's life
    assert gc.get_freeze_count() > 0
    assert not any(o is kept for o in gc.get_objects())  # frozen: full collections skip it
    made_after = _Node()
    assert any(o is made_after for o in gc.get_objects())  # what updates make is collected
