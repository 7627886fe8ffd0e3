"""Migrations (and long previews) in a child process of rfsetup's own runner.

The TUI runs a move here instead of in a thread of its own process: the UI process keeps the
GIL for key presses, and what env.py does to a process (``logging.fileConfig``, prints to
stdout, ``sys.path`` edits, module state) stays out of the app. The child is
``python -m rfsetup.core.alembic.child``; it reads one request (pickled, from its stdin: the
Settings carry the password, which must reach neither argv nor the environment) and writes
JSON lines on stdout:

* ``{"event": "ready"}`` — its signal handlers are in place (the parent signals only after);
* ``{"event": "log", "line": ...}`` — a progress line (``"tick": true``: an elapsed-time update
  of the previous line, e.g. while pg_dump runs);
* ``{"event": "step", "index": i, "total": n, "revision": r}`` — revision i of n started;
* ``{"event": "result", "data": ...}`` or ``{"event": "error", "error": {...}}`` — the end
  (the result pickled and base64-encoded: it is one of rfsetup's own classes).

Cancel is a signal: SIGINT (or SIGTERM) stops at the next revision boundary (as Ctrl-C in the
CLI); a second one, or SIGUSR1, cancels the running statement. The child dies with its parent
(Linux: SIGTERM on the parent's death, which stops it at the next boundary too).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pickle
import selectors
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rfsetup.core.errors import ExitCode, RfsetupError

Progress = Callable[[str], None]
#: the parent's "interrupt the statement" (a second SIGINT would coalesce with the first)
_INTERRUPT = getattr(signal, "SIGUSR1", signal.SIGINT)
Step = Callable[[int, int, str], None]

#: what the child may be asked to do (functions of rfsetup.core.alembic; rehearse is
#: rfsetup.core.rehearse's, which runs this runner on a copy)
OPERATIONS = ("upgrade", "downgrade", "stamp", "preview", "stamp_preview", "rehearse")


@dataclass
class Request:
    operation: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


def run_in_child(operation: str, *args: Any, on_progress: Progress | None = None,
                 on_step: Step | None = None, cancel: Any = None, interrupt: Any = None,
                 **kwargs: Any) -> Any:
    """``rfsetup.core.alembic.<operation>(*args, **kwargs)`` in a child process: progress and
    steps reported as they happen, ``cancel`` (anything with ``is_set()``) turned into SIGINT
    (stop at the next revision boundary) and ``interrupt`` into a second one (cancel the running
    statement: its revision is rolled back), the result returned and an error raised as the
    RfsetupError the child raised."""
    if operation not in OPERATIONS:
        raise ValueError(f"not a child operation: {operation}")
    from rfsetup.core.pgtools import tied

    proc = subprocess.Popen(
        tied([sys.executable, "-m", "rfsetup.core.alembic.child"], signal.SIGTERM),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_child_env())
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(pickle.dumps(Request(operation, args, kwargs)))
        proc.stdin.close()
        return _follow(proc, on_progress, on_step, cancel, interrupt)
    finally:
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(Exception):
            proc.wait(timeout=10)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _follow(proc: subprocess.Popen[bytes], on_progress: Progress | None,
            on_step: Step | None, cancel: Any, interrupt: Any) -> Any:
    """Read the child's events until its result, signalling it when ``cancel`` is set."""
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    buffer = b""
    signalled = 0
    ready: list[bool] = []
    while True:
        # a signal before the child's handlers are installed would kill it: wait for "ready"
        wanted = 2 if interrupt is not None and interrupt.is_set() else \
            1 if cancel is not None and cancel.is_set() else 0
        while ready and signalled < wanted:
            # two SIGINTs sent at once would be handled once: the interrupt is its own signal
            with contextlib.suppress(OSError):
                proc.send_signal(signal.SIGINT if signalled == 0 and wanted == 1
                                 else _INTERRUPT)
            signalled = wanted if wanted == 2 else signalled + 1
        if not selector.select(timeout=0.1):
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for raw in lines:
            if raw == b'{"event": "ready"}':
                ready.append(True)
                continue
            outcome = _event(raw, on_progress, on_step)
            if outcome is not None:
                return outcome()
    selector.close()
    code = proc.wait()
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    raise RfsetupError(f"rfsetup's migration runner ended without a result (exit {code})",
                       cause=stderr.strip().splitlines()[-1] if stderr.strip() else None,
                       hint="run the same move with the CLI to see more "
                            "(rfsetup migrate … ; RFSETUP_DEBUG=1)", kind="runner_died")


def _event(raw: bytes, on_progress: Progress | None, on_step: Step | None
           ) -> Callable[[], Any] | None:
    """Dispatch one event line; for the last one, a function giving the result (or raising)."""
    try:
        event = json.loads(raw)
    except ValueError:  # a print from env.py on the child's stdout: shown as a log line
        if on_progress is not None and raw.strip():
            on_progress(raw.decode(errors="replace"))
        return None
    kind = event.get("event")
    if kind == "log" and on_progress is not None:
        line = str(event.get("line", ""))
        if event.get("tick"):
            from rfsetup.core.progress import ProgressTick

            line = ProgressTick(line)
        on_progress(line)
    elif kind == "step" and on_step is not None:
        on_step(int(event["index"]), int(event["total"]), str(event["revision"]))
    elif kind == "result":
        value = pickle.loads(base64.b64decode(event["data"]))
        return lambda: value
    elif kind == "error":
        doc = event["error"]
        error = RfsetupError(str(doc.get("message")), cause=doc.get("cause"),
                             hint=doc.get("hint"), kind=str(doc.get("error", "failed")),
                             exit_code=ExitCode(int(doc.get("exit_code", 1))))

        def fail() -> Any:
            raise error

        return fail
    return None


# -- the child's side ---------------------------------------------------------------------------
def _emit(doc: dict[str, Any], lock: threading.Lock, out: Any) -> None:
    with lock:
        out.write(json.dumps(doc) + "\n")
        out.flush()


def main() -> int:
    """Run one request from stdin; events on stdout (the real one: env.py's prints go to
    stderr meanwhile, so they cannot break the protocol)."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    lock = threading.Lock()
    request: Request = pickle.loads(sys.stdin.buffer.read())
    cancel = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if cancel.is_set() or signum == _INTERRUPT:
            cancel.set()
            raise KeyboardInterrupt
        cancel.set()

    for sig in (signal.SIGINT, signal.SIGTERM, _INTERRUPT):
        signal.signal(sig, on_signal)
    _emit({"event": "ready"}, lock, out)

    def progress(line: str) -> None:
        from rfsetup.core.progress import ProgressTick

        _emit({"event": "log", "line": str(line), "tick": isinstance(line, ProgressTick)},
              lock, out)

    def step(index: int, total: int, revision: str) -> None:
        _emit({"event": "step", "index": index, "total": total, "revision": revision}, lock, out)

    from rfsetup.core import alembic as migrations

    kwargs = dict(request.kwargs)
    function = getattr(migrations, request.operation, None)
    if request.operation in ("upgrade", "downgrade"):
        kwargs.update(on_progress=progress, on_step=step, cancel=cancel)
    elif request.operation == "stamp":
        kwargs.update(on_progress=progress)
    elif request.operation == "rehearse":
        from rfsetup.core.rehearse import rehearse as function

        kwargs.update(on_progress=progress, cancel=cancel)
    try:
        if request.operation in ("upgrade", "downgrade", "rehearse"):
            import psycopg2.extensions

            from rfsetup.core.pgwait import wait_cancellable

            # a second SIGINT then cancels a running statement on the server
            psycopg2.extensions.set_wait_callback(wait_cancellable)
        value = function(*request.args, **kwargs)
    except RfsetupError as exc:
        _emit({"event": "error", "error": exc.to_dict()}, lock, out)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        _emit({"event": "error", "error": RfsetupError(
            "interrupted before the run could report where it stopped",
            hint="see where the database is: rfsetup status", kind="interrupted",
            exit_code=ExitCode.INTERRUPTED).to_dict()}, lock, out)
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:  # unforeseen: one value, scrubbed, as the CLI reports it
        from rfsetup.core.errors import unexpected

        err = unexpected(request.operation, exc, _secrets(request))
        _emit({"event": "error", "error": err.to_dict()}, lock, out)
        return int(err.exit_code)
    _emit({"event": "result", "data": base64.b64encode(pickle.dumps(value)).decode()},
          lock, out)
    return 0


def _secrets(request: Request) -> list[str]:
    from rfsetup.core.redact import url_secrets

    found: list[str] = []
    for arg in request.args:
        with contextlib.suppress(Exception):
            found += url_secrets(arg.url())
    return found


if __name__ == "__main__":  # pragma: no cover - run as a child process
    raise SystemExit(main())
