"""Run a pure, CPU-bound function in a separate process, so the UI process keeps its GIL.

Highlighting a long preview (thousands of SQL lines through pygments) took about a second of
CPU in a worker thread of the UI process, and every key and frame meanwhile waited for the GIL
(issue 11: the UI loop's gaps while migrating). ``in_process`` runs it in a fresh interpreter
and returns its pickled result; cancelling terminates it. A plain child over pipes, not
multiprocessing: its spawn hands the child the fd of ``sys.stderr``, which Textual has
replaced while the app runs (``bad value(s) in fds_to_keep``). If no process can be started,
or it dies without an answer, the work is done here, in the calling thread: slower for the
UI, never lost.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

#: how often the caller checks ``cancelled`` while the process works (seconds)
POLL = 0.05
#: the child: reads (fn, args, kwargs) pickled on stdin, writes (ok, value) pickled on stdout
_CHILD = "from rfsetup.tui.offload import _serve; _serve()"


def _serve() -> None:
    job = pickle.load(sys.stdin.buffer)
    fn, args, kwargs = job
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the answer
    try:
        result: tuple[bool, Any] = (True, fn(*args, **kwargs))
    except BaseException as exc:  # handed to the caller, raised there
        result = (False, exc)
    pickle.dump(result, out, protocol=pickle.HIGHEST_PROTOCOL)
    out.flush()


def in_process(fn: Callable[..., T], *args: Any, cancelled: Callable[[], bool] = lambda: False,
               **kwargs: Any) -> T | None:
    """``fn(*args, **kwargs)`` computed in a child process (``fn`` and its arguments must
    pickle); None when ``cancelled`` became true first. Exceptions ``fn`` raises are raised
    here."""
    job = pickle.dumps((fn, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [package_root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    try:
        child = subprocess.Popen([sys.executable, "-c", _CHILD], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    except (OSError, ValueError):  # no process to be had (limits)
        return fn(*args, **kwargs)
    answer: list[bytes] = []

    def talk() -> None:
        with contextlib.suppress(OSError, ValueError):  # killed by cancel meanwhile
            answer.append(child.communicate(job)[0])

    talker = threading.Thread(target=talk, name="rfsetup-offload", daemon=True)
    talker.start()
    try:
        while talker.is_alive():
            talker.join(POLL)
            if cancelled():
                return None
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
    try:
        ok, value = pickle.loads(answer[0]) if answer and child.returncode == 0 else (None, None)
    except (pickle.UnpicklingError, EOFError, ValueError):
        ok = None
    if ok is None:  # the process failed, not ``fn``: the work is still done, here (it is pure)
        return fn(*args, **kwargs)
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]
