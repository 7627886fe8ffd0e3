"""psycopg2's wait callback for runs a second Ctrl-C must be able to stop mid-statement.

With a wait callback installed, psycopg2 runs each statement asynchronously and calls it to
wait for the server; a KeyboardInterrupt raised while it waits is turned into a cancel request
for the running statement (the server rolls it back, and psycopg2 then raises its error).
This is ``psycopg2.extras.wait_select``'s loop, with its imports done once: that function
imports ``select`` and three constants on every call, which an upgrade makes several times a
revision (counted: 0.8% of a 1,010-revision upgrade's instructions, where this costs nothing
measurable).
"""

from __future__ import annotations

from select import select
from typing import Any

from psycopg2.extensions import POLL_OK, POLL_READ, POLL_WRITE

__all__ = ["wait_cancellable"]


def wait_cancellable(conn: Any) -> None:
    """Wait until ``conn`` (a connection or cursor) is ready; Ctrl-C cancels its statement."""
    while True:
        try:
            state = conn.poll()
            if state == POLL_OK:
                return
            if state == POLL_READ:
                select([conn.fileno()], [], [])
            elif state == POLL_WRITE:
                select([], [conn.fileno()], [])
            else:
                raise conn.OperationalError(f"bad state from poll: {state}")
        except KeyboardInterrupt:
            conn.cancel()
            # the loop ends with the server's error for the cancelled statement
            continue
