"""The run log: what every migrate, backup and restore run said, in ``.rfsetup/logs/``.

One rotating file (``runs.log``, 1 MiB, five older ones kept: stdlib logging's
RotatingFileHandler), 0600 in a 0700 folder, shared by the CLI and the terminal app's runner
child. Each line is masked at the source (``rfsetup.core.redact.scrub`` with the run's URL
secrets), before it reaches the file. The support bundle packs the last of these.

A run is logged by decorating its core function with ``@logged("migrate")``: its start (what,
on which database, masked), every progress line it reports (the elapsed-time ticks left out),
and its end (done, cancelled, or the error's message, cause and hint). A run inside another
(the backup a migration takes) is part of the outer run's log. Writing the log never fails a
run: a folder that cannot be written is said once, as a progress line.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import logging.handlers
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rfsetup.core import redact

if TYPE_CHECKING:
    from rfsetup.core.settings import Settings

LOG_NAME = "runs.log"
MAX_BYTES = 1024 * 1024
BACKUP_COUNT = 5
_LOGGER = "rfsetup.runs"
_local = threading.local()

F = TypeVar("F", bound=Callable[..., Any])


def logs_dir(settings: Settings) -> Path:
    """``.rfsetup/logs`` of the project."""
    return Path(settings.state_dir) / "logs"


def log_files(settings: Settings) -> list[Path]:
    """The run log and its rotated predecessors, oldest first."""
    folder = logs_dir(settings)
    found = [folder / f"{LOG_NAME}.{n}" for n in range(BACKUP_COUNT, 0, -1)]
    return [p for p in [*found, folder / LOG_NAME] if p.is_file()]


class _PrivateRotatingHandler(logging.handlers.RotatingFileHandler):
    """RotatingFileHandler whose every file (the first and each one after a rollover) is
    created 0600: the log names databases, hosts and revisions."""

    def _open(self):  # type: ignore[no-untyped-def]
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return os.fdopen(fd, "a", encoding=self.encoding or "utf-8", errors=self.errors)


def _handler(folder: Path) -> logging.Handler:
    """The run log's handler for one run (closed at its end: no descriptor outlives it)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    handler = _PrivateRotatingHandler(folder / LOG_NAME, maxBytes=MAX_BYTES,
                                      backupCount=BACKUP_COUNT, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


class RunLog:
    """One run's lines, masked, into the project's run log."""

    def __init__(self, settings: Settings, what: str, on_progress: Callable[[str], None] | None
                 ) -> None:
        self.what = what
        self.on_progress = on_progress
        self._secrets: list[Any] = [settings.database_url, settings.redis_url]
        self._record: logging.Logger | None = None
        self._handler: logging.Handler | None = None
        #: what the run returned (said at its end)
        self.result: Any = None
        self._tag = f"pid {os.getpid()}"
        try:
            self._handler = _handler(logs_dir(settings))
            logger = logging.Logger(_LOGGER)  # not in logging's registry: env.py's
            logger.addHandler(self._handler)  # fileConfig cannot disable or redirect it
            logger.propagate = False
            self._record = logger
        except OSError as exc:
            self._say(f"warning: the run log was not written ({logs_dir(settings)}: "
                      f"{exc.strerror or exc})")

    def _say(self, line: str) -> None:
        if self.on_progress is not None:
            self.on_progress(line)

    def write(self, line: str) -> None:
        """One line, masked, stamped with UTC time and the process."""
        if self._record is None:
            return
        masked = redact.printable(redact.scrub(str(line), *self._secrets))
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        try:
            self._record.info("%s %s [%s] %s", stamp, self._tag, self.what, masked)
        except Exception:  # a full disk: the run goes on, without its log
            self._record = None

    def close(self) -> None:
        """The run ended: its file is closed."""
        self._record = None
        if self._handler is not None:
            self._handler.close()
            self._handler = None

    def progress(self, line: str) -> None:
        """The run's own progress callback: logged (ticks aside), then passed on."""
        if type(line).__name__ != "ProgressTick":  # an elapsed-time update, not a line
            self.write(line)
        self._say(line)


@contextlib.contextmanager
def run_log(settings: Settings, what: str, on_progress: Callable[[str], None] | None
            ) -> Iterator[RunLog | None]:
    """Log a run (None when it is part of an outer run, which logs it): the RunLog's
    ``progress`` is the callback to hand the run; its ``result`` is said at the end."""
    if getattr(_local, "active", False):
        yield None
        return
    log = RunLog(settings, what, on_progress)
    _local.active = True
    try:
        try:
            database = settings.url().database
        except Exception:  # an unusable URL: the run itself says why
            database = "?"
        log.write(f"start: {what} on database {database} "
                  f"({redact.mask_url(settings.database_url or '')})")
        yield log
    except BaseException as exc:
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        log.write(f"failed: {message}")
        for label in ("cause", "hint"):
            value = getattr(exc, label, None)
            if value:
                log.write(f"  {label}: {value}")
        raise
    else:
        log.write(f"end{_summary(log.result)}")
    finally:
        _local.active = False
        log.close()


def _summary(result: Any) -> str:
    """``: at 0003_intel`` / ``: /path/to/file.dump``: what a run ended with."""
    if result is None:
        return ""
    if hasattr(result, "to_revisions"):
        where = ", ".join(result.to_revisions) or "base"
        return f": {'cancelled, ' if getattr(result, 'cancelled', False) else ''}at {where}"
    path = getattr(result, "path", None)
    return f": {path}" if path is not None else ""


def logged(action: str) -> Callable[[F], F]:
    """Decorate a run's core function ``fn(settings, *args, on_progress=None, ...)``: its
    run is logged as ``action`` plus its first positional arguments (``migrate up head``)."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(settings: Settings, *args: Any, **kwargs: Any) -> Any:
            words = [action, *(str(a) for a in args[:2] if isinstance(a, str | os.PathLike))]
            with run_log(settings, " ".join(words), kwargs.get("on_progress")) as log:
                if log is None:  # part of an outer run
                    return function(settings, *args, **kwargs)
                kwargs["on_progress"] = log.progress
                log.result = function(settings, *args, **kwargs)
                return log.result

        return wrapper  # type: ignore[return-value]

    return decorate
