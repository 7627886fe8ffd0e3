"""Run a pure, CPU-bound function in a separate process, so the UI process keeps its GIL.

Highlighting a long preview (thousands of SQL lines through pygments) took about a second of
CPU in a worker thread of the UI process, and every key and frame meanwhile waited for the GIL
(issue 11: the UI loop's gaps while migrating). ``in_process`` runs it in a fresh interpreter
(spawned: forking a threaded process is unsafe) and returns its pickled result; cancelling
terminates it. If no process can be started, or it dies without an answer, the work is done
here, in the calling thread: slower for the UI, never lost.
"""

from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

T = TypeVar("T")

#: how often the caller checks ``cancelled`` while the process works (seconds)
POLL = 0.05


def _serve(conn: Connection, fn: Callable[..., Any], args: tuple[Any, ...],
           kwargs: dict[str, Any]) -> None:
    try:
        result: tuple[bool, Any] = (True, fn(*args, **kwargs))
    except BaseException as exc:  # handed to the caller, raised there
        result = (False, exc)
    try:
        conn.send(result)
    finally:
        conn.close()


def in_process(fn: Callable[..., T], *args: Any, cancelled: Callable[[], bool] = lambda: False,
               **kwargs: Any) -> T | None:
    """``fn(*args, **kwargs)`` computed in a child process (``fn`` and its arguments must
    pickle); None when ``cancelled`` became true first. Exceptions are raised here."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    try:
        process = context.Process(target=_serve, args=(sender, fn, args, kwargs), daemon=True,
                                  name="rfsetup-offload")
        process.start()
    except OSError:  # no process to be had (limits): the work is still done, only here
        receiver.close()
        sender.close()
        return fn(*args, **kwargs)
    sender.close()
    try:
        while not receiver.poll(POLL):
            if cancelled():
                return None
            if not process.is_alive() and not receiver.poll(0):
                break  # it died (killed, out of memory) before answering
        else:
            ok, value = receiver.recv()
            if not ok:
                raise value
            return value  # type: ignore[no-any-return]
    except (EOFError, OSError, pickle.UnpicklingError):
        pass  # no answer came back whole
    finally:
        receiver.close()
        if process.is_alive():
            process.terminate()
        process.join(5)
    # the process failed, not ``fn``: the work is still done, here (it is pure)
    return fn(*args, **kwargs)
