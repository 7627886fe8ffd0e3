"""The garbage collector's full passes, held off while a migration runs.

A full pass walks every object the collector tracks, and in the UI process that is what is on
screen: the log's lines, the history's rows, Textual's caches. Mid-migration the log grows by
thousands of lines and the collector ran a full pass every second or so, each 30-140 ms of the
UI's time (issue 11: the UI loop stalled, a key press waited). Nothing of a run needs a full
pass to be freed (reference counting frees it; the young generations still collect the rare
cycle), so while a migration runs full passes wait, and the usual thresholds come back when it
ends. Holds nest (a restore and a migration), and are taken from any thread.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

#: the third threshold while held: never reached by a run (full passes are counted in
#: passes of the middle generation, a few per second at most)
HELD = 1 << 30

_lock = threading.Lock()
_holds = 0
_saved: int | None = None


def hold_full_passes() -> None:
    """Postpone the collector's full passes until the matching ``release_full_passes``."""
    global _holds, _saved
    with _lock:
        _holds += 1
        if _holds == 1:
            first, second, _saved = gc.get_threshold()
            gc.set_threshold(first, second, HELD)


def release_full_passes() -> None:
    """Undo one ``hold_full_passes``; the last one puts the usual threshold back."""
    global _holds, _saved
    with _lock:
        if _holds == 0:
            return
        _holds -= 1
        if _holds == 0 and _saved is not None:
            first, second, _ = gc.get_threshold()
            gc.set_threshold(first, second, _saved)
            _saved = None


@contextlib.contextmanager
def full_passes_held() -> Iterator[None]:
    """``hold_full_passes`` for the block's duration."""
    hold_full_passes()
    try:
        yield
    finally:
        release_full_passes()
