"""Ctrl-C, SIGTERM and SIGHUP for the long commands (migrate up/down/stamp, backup create and
restore): one mechanism.

The first signal asks the work to stop at its next safe point by setting ``cancel``: the next
revision boundary, or the running pg tool stopped. A second one raises KeyboardInterrupt in the
main thread: the psycopg2 wait callback installed here (``core.pgwait``) turns that into a cancel
request for the statement running on the server, which rolls back; a running pg tool is killed.
Either way the command reports where the database is and exits 130.

SIGTERM (a supervisor, ``kill``, a CI timeout) and SIGHUP (the terminal went away) would
otherwise end Python at once, without a word: the database would be left to the server's own
discovery of a dead client and nobody told which revision it is at.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator

#: the signals that mean "stop, please" (SIGHUP does not exist on Windows)
STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    s for s in (getattr(signal, name, None) for name in ("SIGINT", "SIGTERM", "SIGHUP"))
    if s is not None)


def _tell(text: str) -> None:
    # a handler runs between two bytecodes of the main thread, which may itself be writing to
    # stderr (reentrant write), or whose terminal is gone (SIGHUP): never fail for a message
    with contextlib.suppress(OSError, RuntimeError, ValueError):
        print(text, file=sys.stderr, flush=True)


@contextlib.contextmanager
def stop_signals_cancel(cancel: threading.Event, *, stopping: str, again: str,
                        before_message: Callable[[], None] | None = None,
                        cancel_statements: bool = False) -> Iterator[None]:
    """While inside: the first SIGINT/SIGTERM/SIGHUP sets ``cancel`` and says ``stopping``
    (e.g. "stopping after the current revision"); a second raises KeyboardInterrupt (``again``
    says what that does). ``before_message``: clear a progress line first.
    ``cancel_statements``: let that KeyboardInterrupt cancel a running psycopg2 statement on
    the server. Outside the main thread (the TUI's workers) it does nothing: the caller owns
    ``cancel`` there.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: object) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        if before_message is not None:
            with contextlib.suppress(OSError, RuntimeError, ValueError):
                before_message()
        if signum == signal.SIGINT:
            _tell(f"interrupt: {stopping} (Ctrl-C again {again})")
        else:
            name = signal.Signals(signum).name
            _tell(f"{name}: {stopping} (a second {name} or Ctrl-C {again})")

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    previous_wait = None
    if cancel_statements:
        import psycopg2.extensions

        from rfsetup.core.pgwait import wait_cancellable

        previous_wait = psycopg2.extensions.get_wait_callback()
        psycopg2.extensions.set_wait_callback(wait_cancellable)
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
        if cancel_statements:
            import psycopg2.extensions

            psycopg2.extensions.set_wait_callback(previous_wait)
