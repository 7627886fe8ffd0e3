"""The run log: what every migrate, backup and restore run said, in ``.rfsetup/logs/``.

One rotating file (``runs.log``, 1 MiB, five older ones kept as ``runs.log.1`` … ``.5``, the
names stdlib logging's RotatingFileHandler uses), 0600 in a 0700 folder, shared by the CLI and
the terminal app's runner child. Each line is masked at the source (``redact.scrub_with`` the
run's URL secrets, worked out once), before it reaches the file, and is one ``write`` to a
descriptor opened ``O_APPEND``: a line of a run killed a moment later is on disk, and two
processes' lines do not interleave. (This was stdlib logging: its record, formatter and
rollover checks came to 28 µs a line, 4 µs now, about 3% of a long upgrade.) A path that is
not a regular file (a FIFO, a directory) is never opened for writing nor waited on. The
support bundle packs the last of these.

A run is logged by decorating its core function with ``@logged("migrate")``: its start (what,
on which database, masked), every progress line it reports (the elapsed-time ticks left out),
and its end (done, cancelled, or the error's message, cause and hint). A run inside another
(the backup a migration takes) is part of the outer run's log. Writing the log never fails a
run: a folder that cannot be written is said once, as a progress line.
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rfsetup.core import redact

if TYPE_CHECKING:
    from rfsetup.core.settings import Settings

LOG_NAME = "runs.log"
#: beside the log (``files.locked``'s name for it): held by the one writer rolling it over
LOCK_NAME = "runs.log.lock"
#: how long a rollover waits for another writer's (a few renames take microseconds)
_ROLLOVER_WAIT = 2.0
MAX_BYTES = 1024 * 1024
BACKUP_COUNT = 5
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
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


class _LogFile:
    """``runs.log`` for appending: created 0600, one ``os.write`` per line, rolled over to
    ``runs.log.1`` (and the older ones up) when a line would take it past MAX_BYTES."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = folder / LOG_NAME
        self.fd, self.size = self._open()

    def _open(self) -> tuple[int, int]:
        # non-blocking: a FIFO put where the log goes is refused (ENXIO without a reader),
        # never waited on; then anything that is not a regular file is refused too
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _O_NONBLOCK, 0o600)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise OSError(f"{self.path} is not a regular file")
        return fd, st.st_size

    def write(self, line: str) -> None:
        data = (line + "\n").encode("utf-8", "backslashreplace")
        if self.size + len(data) > MAX_BYTES and self.size > 0:
            self._roll_over(len(data))
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        self.size += len(data)

    def _roll_over(self, needed: int) -> None:
        """Roll the file over as RotatingFileHandler would, after a look at the disk: the size
        counted here is this process's own estimate, and another process sharing the log may
        have rolled it over already (then the new file is opened, nothing renamed).

        The look and the renames are done under the lock every rfsetup file write takes
        (``files.locked``: ``runs.log.lock``): two writers that both found the file full would
        otherwise both rename it (a file pushed out of the five kept), or one would find it
        gone mid-rename and its run's log would end there (measured: two 400-line writers lost
        lines in 1 run of 10, in 7 of 10 at ~40 rollovers a run). A lock that cannot be had
        (a folder in its place, a writer stuck past the wait) leaves the rollover unlocked, as
        before: the log never fails a run.
        """
        from rfsetup.core import files  # here: a rollover is once a MiB, every run logs
        from rfsetup.core.errors import RfsetupError

        with contextlib.ExitStack() as stack:
            with contextlib.suppress(RfsetupError, OSError):
                stack.enter_context(files.locked(self.path, timeout=_ROLLOVER_WAIT))
            self._roll_over_locked(needed)

    def _roll_over_locked(self, needed: int) -> None:
        try:
            mine = os.fstat(self.fd)
            on_disk: os.stat_result | None = os.stat(self.path)
        except FileNotFoundError:
            mine, on_disk = os.fstat(self.fd), None
        same = on_disk is not None and (on_disk.st_ino, on_disk.st_dev) == \
            (mine.st_ino, mine.st_dev)
        if same and (mine.st_size == 0 or mine.st_size + needed <= MAX_BYTES):
            self.size = mine.st_size
            return
        if same:
            for n in range(BACKUP_COUNT - 1, 0, -1):
                older = self.path.with_name(f"{LOG_NAME}.{n}")
                if older.exists():
                    os.replace(older, self.path.with_name(f"{LOG_NAME}.{n + 1}"))
            os.replace(self.path, self.path.with_name(f"{LOG_NAME}.1"))
        os.close(self.fd)
        self.fd, self.size = self._open()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class RunLog:
    """One run's lines, masked, into the project's run log."""

    def __init__(self, settings: Settings, what: str, on_progress: Callable[[str], None] | None
                 ) -> None:
        self.what = what
        self.on_progress = on_progress
        self._secrets = redact.secrets_of(settings.database_url, settings.redis_url)
        self._file: _LogFile | None = None
        #: what the run returned (said at its end)
        self.result: Any = None
        self._tag = f"pid {os.getpid()}"
        try:
            self._file = _LogFile(logs_dir(settings))
        except OSError as exc:
            self._say(f"warning: the run log was not written ({logs_dir(settings)}: "
                      f"{exc.strerror or exc})")

    def _say(self, line: str) -> None:
        if self.on_progress is not None:
            self.on_progress(line)

    def write(self, line: str) -> None:
        """One line, masked, stamped with UTC time and the process."""
        if self._file is None:
            return
        masked = redact.printable(redact.scrub_with(str(line), self._secrets))
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        try:
            self._file.write(f"{stamp} {self._tag} [{self.what}] {masked}")
        except Exception:  # a full disk: the run goes on, without its log
            self.close()

    def close(self) -> None:
        """The run ended: its file is closed."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

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
