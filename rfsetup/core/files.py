"""The one place rfsetup reads and writes a user's file (the .env; sidecars and caches later).

Reading: regular files only (a symlink to one is followed), checked with ``os.stat`` before
they are opened and opened non-blocking, so a FIFO, a device, a socket or a directory is bad
input (exit 2) that is never read, and never waited on; at most ``MAX_BYTES`` (1 MiB).

Writing (``update``, ``write``): under an exclusive lock on ``<file>.lock`` beside the file
(``fasteners.InterProcessLock`` plus a thread lock, since POSIX record locks do not exclude
threads of one process), the file is read again, edited, and written through a temp file in
the same directory: fsync, rename, fsync of the directory. The new file keeps the old one's
owner, group and permission bits exactly (new files are 0600): a 0640 file stays 0640, a
0644 one stays 0644 (rfsetup never loosens, nor silently changes, what the owner chose). When
the owner cannot be kept (not root, another user's file) nothing is written. A file without
the owner's write bit (e.g. 0400) is refused unless ``allow_readonly``. The previous content
is kept as ``<file>.bak`` with the same owner and mode. The lock file stays (empty, same owner
as the file): removing it would let two writers lock two different files.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rfsetup.core.errors import ExitCode, RfsetupError, bad_input

#: the largest file read (a .env is a few KiB; /dev/zero or a log given by mistake is not)
MAX_BYTES = 1 << 20
#: seconds a writer waits for another one to finish
LOCK_WAIT = 10.0
NEW_FILE_MODE = 0o600

_THREAD_LOCK = threading.RLock()
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)


@dataclass(frozen=True)
class Written:
    """What a write did: the file written (a symlink's target) and the backup, if any."""

    path: Path
    backup: Path | None
    mode: int


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _os_error(action: str, path: Path | str, exc: OSError) -> RfsetupError:
    """An OS failure as an error naming the path (and, for a full disk, what to do)."""
    hints = {
        errno.ENOSPC: "the disk is full: free some space and try again",
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "check the permissions of the file and its directory",
        errno.EPERM: "check the permissions of the file and its directory",
        errno.ENOTDIR: "a component of the path is a file, not a directory",
    }
    where = exc.filename if isinstance(exc.filename, str) and exc.filename else str(path)
    return RfsetupError(f"cannot {action} {where}", cause=exc.strerror or str(exc),
                        hint=hints.get(exc.errno or 0, "check the path and its permissions"),
                        exit_code=ExitCode.FAILED, kind="file_io")


def target_of(path: str | os.PathLike[str]) -> Path:
    """The file a write to ``path`` changes: a symlink's final target, else ``path``."""
    return Path(os.path.realpath(path))


def _stat(path: Path, what: str = "a regular file") -> os.stat_result | None:
    """``os.stat`` (following symlinks); None when there is no file; bad input when it is not
    a regular file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _os_error("read", path, exc) from None
    if not stat.S_ISREG(st.st_mode):
        raise bad_input(f"{path} is {_kind(st.st_mode)}, not {what}; nothing was read or "
                        "written", hint="pass the file itself, e.g. --env-file backend/.env")
    return st


def read_bytes(path: str | os.PathLike[str], *, limit: int = MAX_BYTES,
               what: str = "a regular file") -> bytes | None:
    """The file's bytes; None when it does not exist.

    Refused (exit 2) without blocking: anything but a regular file, and a file over ``limit``.
    ``what`` names the file in messages (e.g. "a .env file").
    """
    path = Path(path)
    st = _stat(path, what)
    if st is None:
        return None
    _check_size(path, st.st_size, limit)
    try:
        fd = os.open(path, os.O_RDONLY | _O_NONBLOCK | _O_BINARY)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _os_error("read", path, exc) from None
    with os.fdopen(fd, "rb") as handle:
        # checked again on what was opened: the path may have been replaced since the stat
        st = os.fstat(handle.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise bad_input(f"{path} is {_kind(st.st_mode)}, not {what}")
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise _os_error("read", path, exc) from None
    _check_size(path, len(data), limit)
    return data


def read_text(path: str | os.PathLike[str], *, limit: int = MAX_BYTES,
              what: str = "a regular file") -> str | None:
    """``read_bytes`` as UTF-8 text, line endings untranslated; a byte that is not UTF-8 is
    kept as a lone surrogate (``surrogateescape``), so it is written back exactly."""
    data = read_bytes(path, limit=limit, what=what)
    return None if data is None else data.decode("utf-8", errors="surrogateescape")


def _check_size(path: Path, size: int, limit: int) -> None:
    if size > limit:
        raise bad_input(f"{path} is larger than {limit // 1024} KiB; nothing was read or "
                        "written", hint="is this really the .env file? (--env-file PATH)")


@contextlib.contextmanager
def locked(path: str | os.PathLike[str], *, timeout: float = LOCK_WAIT) -> Iterator[Path]:
    """Hold the exclusive writer lock of ``path`` (``<target>.lock``); yields the target."""
    import fasteners

    target = target_of(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise bad_input(f"{target.parent} is not a directory; nothing was written") from None
    except OSError as exc:
        raise _os_error("create the directory", target.parent, exc) from None
    lock_path = target.with_name(target.name + ".lock")
    _prepare_lock_file(lock_path, target)
    with _THREAD_LOCK:
        lock = fasteners.InterProcessLock(str(lock_path))
        try:
            acquired = lock.acquire(timeout=timeout)
        except (OSError, threading.ThreadError) as exc:
            error = exc if isinstance(exc, OSError) else OSError(errno.EIO, str(exc))
            raise _os_error("lock", lock_path, error) from None
        if not acquired:
            raise RfsetupError(f"another rfsetup is writing {target} (waited {timeout:.0f} s)",
                               hint="try again when it has finished; nothing was written",
                               kind="file_locked")
        try:
            yield target
        finally:
            lock.release()


def _prepare_lock_file(lock_path: Path, target: Path) -> None:
    """Create the lock file (never through a symlink, never blocking on a FIFO) owned like the
    file it guards, so that the owner can still take the lock after root has."""
    try:
        fd = os.open(lock_path, os.O_WRONLY | os.O_CREAT | _O_NOFOLLOW | _O_NONBLOCK,
                     NEW_FILE_MODE)
    except OSError as exc:
        raise _os_error("create the lock file", lock_path, exc) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise bad_input(f"{lock_path} is {_kind(st.st_mode)}, not a lock file")
        owner = _owner_to_keep(target)
        if owner is not None and (st.st_uid, st.st_gid) != owner:
            with contextlib.suppress(OSError):
                os.fchown(fd, *owner)  # type: ignore[attr-defined]
    finally:
        os.close(fd)


def _owner_to_keep(target: Path) -> tuple[int, int] | None:
    """(uid, gid) of the file, else of its directory (a new file's natural owner), or None
    where ownership does not exist (Windows)."""
    if not hasattr(os, "fchown"):
        return None
    for candidate in (target, target.parent):
        with contextlib.suppress(OSError):
            st = os.stat(candidate)
            if candidate == target.parent:
                # a new file belongs to whoever creates it, in the directory's group when setgid
                gid = st.st_gid if st.st_mode & stat.S_ISGID else os.getegid()
                return os.geteuid(), gid
            return st.st_uid, st.st_gid
    return None


def update(path: str | os.PathLike[str], edit: Callable[[bytes | None], bytes | None], *,
           allow_readonly: bool = False, backup: bool = True,
           what: str = "a regular file") -> Written | None:
    """Read ``path`` under its lock, pass the bytes (None: no file) to ``edit`` and write what
    it returns; nothing is written when it returns None or the same bytes.

    ``edit`` runs with the lock held, so concurrent updates of different parts all survive.
    """
    _stat(target_of(path), what)  # a FIFO, a device, a directory: refused before any lock file
    with locked(path) as target:
        before = read_bytes(target, what=what)
        after = edit(before)
        if after is None or after == before:
            return None
        return _replace(target, before, after, allow_readonly=allow_readonly, backup=backup)


def write(path: str | os.PathLike[str], data: bytes, *, allow_readonly: bool = False,
          backup: bool = True, what: str = "a regular file") -> Written | None:
    """Write ``data`` to ``path`` under its lock (see ``update``); None when unchanged."""
    return update(path, lambda _before: data, allow_readonly=allow_readonly, backup=backup,
                  what=what)


def _replace(target: Path, previous: bytes | None, data: bytes, *, allow_readonly: bool,
             backup: bool) -> Written:
    st = _stat(target)
    if st is None or previous is None:
        atomic_write(target, data, NEW_FILE_MODE)
        return Written(target, None, NEW_FILE_MODE)
    mode = stat.S_IMODE(st.st_mode) & 0o777
    if not mode & stat.S_IWUSR and not allow_readonly:
        raise bad_input(f"{target} is read-only (mode {mode:04o}); nothing was written",
                        hint="make it writable (chmod u+w), or write it anyway with --force "
                             "(rfsetup env set --force; its mode is kept)")
    if os.name != "nt" and os.geteuid() != 0 and not os.access(target, os.W_OK) and \
            mode & stat.S_IWUSR:
        raise _os_error("write", target, PermissionError(errno.EACCES, "Permission denied"))
    owner = (st.st_uid, st.st_gid) if hasattr(os, "fchown") else None
    saved: Path | None = None
    if backup:
        saved = target.with_name(target.name + ".bak")
        atomic_write(saved, previous, mode, owner=owner)
    atomic_write(target, data, mode, owner=owner)
    return Written(target, saved, mode)


def atomic_write(path: Path, data: bytes, mode: int = NEW_FILE_MODE, *,
                 owner: tuple[int, int] | None = None) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory, fsync and rename.

    The file gets ``mode`` and, when given, ``owner`` (uid, gid); when the owner cannot be set
    (not root, another user's file) nothing is written. OS errors name the path.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _os_error("write", path, exc) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            if owner is not None:
                _chown(handle.fileno(), path, owner)
            os.chmod(tmp, mode)  # after chown, which may clear bits
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _os_error("write", path, exc) from None
        raise
    _fsync_dir(path.parent)


def _chown(fd: int, path: Path, owner: tuple[int, int]) -> None:
    st = os.fstat(fd)
    if (st.st_uid, st.st_gid) == owner:
        return
    try:
        os.fchown(fd, *owner)  # type: ignore[attr-defined]
    except PermissionError:
        raise RfsetupError(
            f"cannot keep the owner of {path} (uid {owner[0]}, gid {owner[1]}) when writing it "
            f"as uid {os.geteuid()}; nothing was written",  # type: ignore[attr-defined]
            hint="run rfsetup as the file's owner (or as root)", kind="file_owner") from None


def _fsync_dir(directory: Path) -> None:
    # makes the rename itself durable; not possible on every platform (e.g. Windows)
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
