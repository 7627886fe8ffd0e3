"""The backup files themselves: names, sidecars, checksums, partial files, listing.

A backup is ``<database>_<UTC time>[-n]_<revision>.dump`` (pg_dump's custom format) plus a JSON
sidecar of the same name ending ``.json`` that records where it came from (database, server
system identifier, revision and version table, server and pg_dump versions) and its size and
SHA-256, so a restore can refuse a file edited since. The folder is 0700, the files 0600.

A dump is written as ``.partial-*.dump`` and gets its name only when complete. While it is being
written its writer holds an ``flock`` on it (released by the kernel if rfsetup dies; ``flock``
rather than fasteners' ``lockf``, which a process loses when it closes any descriptor of the
file). A partial file is stale, and removed by the next backup, when nobody holds its lock and
it has not changed for ``STALE_AFTER`` seconds. Partial files are never listed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rfsetup.core.errors import RfsetupError, bad_input

DUMP_SUFFIX = ".dump"
SIDECAR_SUFFIX = ".json"
PARTIAL_PREFIX = ".partial-"
SIDECAR_FORMAT = 2
STALE_AFTER = 60.0
_STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_NAME_RE = re.compile(r"^(?P<db>.+)_(?P<ts>\d{8}T\d{6}Z)(?:-\d+)?_(?P<rev>.+)\.dump$")
_MAGIC = b"PGDMP"
_CUSTOM_FORMAT = 1

try:  # POSIX; elsewhere a partial file is judged by its age alone
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


@dataclass(frozen=True)
class BackupInfo:
    """One backup file: where it is, which database and revision it holds, when it was taken."""

    path: Path
    database: str
    revision: str | None
    created_at: datetime
    size: int | None = None
    #: from the sidecar when there is one (None for a plain pg_dump file)
    version_table: str | None = None
    system_identifier: str | None = None
    sha256: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        data["created_at"] = self.created_at.isoformat()
        return data


def rfsetup_name(name: str) -> bool:
    """Whether ``name`` has the pattern of the dumps rfsetup names."""
    return _NAME_RE.match(name) is not None


def safe_part(text: str) -> str:
    """``text`` reduced to characters safe in a file name."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-")[:60] or "x"


def sidecar_path(dump: Path) -> Path:
    return dump.with_suffix(SIDECAR_SUFFIX)


def read_sidecar(dump: Path) -> dict[str, Any] | None:
    """The dump's sidecar as a dict; None without one. Raises ValueError when it is unreadable
    or not a sidecar (bad JSON, no database)."""
    try:
        text = sidecar_path(dump).read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(f"cannot read it: {exc.strerror}") from None
    meta = json.loads(text)
    if not isinstance(meta, dict) or not isinstance(meta.get("database"), str):
        raise ValueError("it is not an rfsetup sidecar")
    return meta


def read_backup_info(path: Path) -> BackupInfo:
    """What is known about a dump: its sidecar, else its file name, else only its mtime."""
    path = Path(path)
    size = path.stat().st_size
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        meta = read_sidecar(path)
        if meta is not None:
            return BackupInfo(path, meta["database"], meta.get("revision") or None,
                              datetime.fromisoformat(meta["created_at"]), size,
                              meta.get("version_table"), meta.get("system_identifier"),
                              meta.get("sha256"))
    match = _NAME_RE.match(path.name)
    if match:
        created = datetime.strptime(match["ts"], _STAMP_FORMAT).replace(tzinfo=UTC)
        rev = match["rev"]
        return BackupInfo(path, match["db"], None if rev == "base" else rev.replace("+", ","),
                          created, size)
    return BackupInfo(path, "?", None, datetime.fromtimestamp(path.stat().st_mtime, UTC), size)


def list_backups_in(folder: Path) -> list[BackupInfo]:
    """The backups in ``folder``, newest first; partial (and other hidden) files are not."""
    if not folder.is_dir():
        return []
    infos = []
    for p in folder.glob(f"*{DUMP_SUFFIX}"):
        if p.name.startswith(".") or not p.is_file():
            continue
        with contextlib.suppress(FileNotFoundError):  # pruned by a concurrent run
            infos.append(read_backup_info(p))
    return sorted(infos, key=lambda b: (b.created_at, b.path.name), reverse=True)


# -- errors naming the path ------------------------------------------------------------------
def free_space(path: Path) -> str:
    """The free space where ``path`` is (or its nearest existing parent), e.g. "1.2 MB"."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return "unknown"
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if free < 1000 or unit == "TB":
            return f"{free:.0f} {unit}" if unit == "bytes" else f"{free:.1f} {unit}"
        free /= 1000
    return "unknown"  # pragma: no cover


def os_error(exc: OSError, path: Path, doing: str) -> RfsetupError:
    """An OSError met while ``doing`` something at ``path``, as an error naming both."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return RfsetupError(f"no space left on the device of {path} while {doing} "
                            f"({free_space(path)} free)",
                            hint="free some space there (old backups: rfsetup backup prune "
                                 "--keep N) and run it again; nothing was changed",
                            cause=exc.strerror, kind="disk_full")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return RfsetupError(f"cannot write in {path} while {doing}: {exc.strerror}",
                            hint="make it writable by this user (or run from a directory where "
                                 "./.rfsetup can be written); nothing was changed",
                            kind="backup_folder_unwritable")
    return RfsetupError(f"{doing} failed at {path}: {exc.strerror or exc}",
                        hint="nothing was changed", kind="backup_failed")


def prepare_folder(folder: Path) -> Path:
    """Create the backups folder (0700) or say exactly why it cannot be used."""
    for parent in (folder, *folder.parents):
        if parent.exists() and not parent.is_dir():
            raise RfsetupError(f"{parent} is a file, not a directory; backups go to {folder}",
                               hint=f"move {parent} away; nothing was changed",
                               kind="backup_folder_unusable")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise os_error(exc, folder, "creating the backups folder") from None
    with contextlib.suppress(OSError):
        folder.chmod(0o700)
    return folder


# -- partial files ---------------------------------------------------------------------------
@contextlib.contextmanager
def partial_file(folder: Path) -> Iterator[Path]:
    """A new private (0600) ``.partial-*.dump`` in ``folder``, locked while in use and removed
    afterwards (a finished dump is hard-linked to its name first)."""
    try:
        fd, name = tempfile.mkstemp(prefix=PARTIAL_PREFIX, suffix=DUMP_SUFFIX, dir=folder)
    except OSError as exc:
        raise os_error(exc, folder, "creating the backup file") from None
    try:
        if fcntl is not None:
            with contextlib.suppress(OSError):  # no locks here (some network file systems)
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)
        os.close(fd)


def _in_use(path: Path) -> bool:
    if fcntl is None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return True  # gone, or not ours to judge
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # also drops the lock just taken
    return False


def remove_stale_partials(folder: Path, *, older_than: float = STALE_AFTER) -> list[Path]:
    """Remove the partial files of runs that died: unlocked and unchanged for ``older_than``
    seconds. Returns what was removed (what cannot be removed is left for the next run)."""
    removed: list[Path] = []
    now = time.time()
    for path in folder.glob(f"{PARTIAL_PREFIX}*"):
        try:
            if now - path.stat().st_mtime < older_than or _in_use(path):
                continue
            path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed


def publish(tmp: Path, folder: Path, base: str, rev_part: str) -> Path:
    """Give the finished dump its name without ever overwriting another backup."""
    for n in range(1, 1000):
        suffix = "" if n == 1 else f"-{n}"
        final = folder / f"{base}{suffix}_{rev_part}{DUMP_SUFFIX}"
        try:
            os.link(tmp, final)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise os_error(exc, folder, "naming the backup file") from None
            if not _claim(final):  # a file system without hard links: reserve, then rename
                continue
            os.replace(tmp, final)
        return final
    raise RfsetupError(f"too many backups named {base}* in {folder}", kind="backup_failed")


_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.EXDEV}


def _claim(path: Path) -> bool:
    """Create ``path`` empty unless it exists (True when this call created it)."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return False
    except OSError as exc:
        raise os_error(exc, path.parent, "naming the backup file") from None
    return True


def backup_name(database: str, created: datetime, revision: str | None) -> tuple[str, str]:
    """The (base, revision part) of a backup's file name."""
    return (f"{safe_part(database)}_{created.strftime(_STAMP_FORMAT)}",
            safe_part((revision or "base").replace(",", "+")))


def fsync(path: Path) -> None:
    """Flush ``path`` (a file or a directory) to disk where the platform allows."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# -- sidecars and checksums ------------------------------------------------------------------
def sha256_of(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def write_sidecar(dump: Path, meta: dict[str, Any]) -> Path:
    """Write ``meta`` as the dump's sidecar atomically (temp file, fsync, rename)."""
    target = sidecar_path(dump)
    fd, tmp = tempfile.mkstemp(prefix=PARTIAL_PREFIX, suffix=SIDECAR_SUFFIX, dir=dump.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(meta, fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync(dump.parent)
    return target


@dataclass(frozen=True)
class Verification:
    """Whether a dump is the file its sidecar describes."""

    verified: bool
    detail: str
    sidecar: dict[str, Any] | None


def verify_dump(path: Path) -> Verification:
    """Check the dump against its sidecar's size and SHA-256.

    Bad input (exit 2) when they differ or the sidecar is unreadable; unverified (not an
    error) when there is no sidecar (a plain pg_dump file) or it has no checksum.
    """
    side = sidecar_path(path)
    try:
        meta = read_sidecar(path)
    except ValueError as exc:
        raise bad_input(f"the sidecar {side} of {path.name} is damaged ({exc}); "
                        "nothing was changed",
                        hint=f"move {side.name} away to restore the dump as unverified") from None
    if meta is None:
        return Verification(False, f"unverified: no sidecar ({side.name}), e.g. a plain pg_dump "
                                   "file; its contents cannot be checked", None)
    expected = meta.get("sha256")
    if not isinstance(expected, str):
        return Verification(False, f"unverified: {side.name} has no checksum (written by an "
                                   "older rfsetup)", meta)
    try:
        size = path.stat().st_size
        actual = sha256_of(path) if size == meta.get("size") else None
    except OSError as exc:
        raise bad_input(f"cannot read {path}: {exc.strerror}") from None
    if actual != expected:
        why = (f"its size is {size} bytes, the sidecar says {meta.get('size')}"
               if actual is None else "its SHA-256 differs from the one recorded when it "
                                      "was written")
        raise bad_input(f"{path.name} was changed after it was written: {why}; "
                        "nothing was changed",
                        hint="restore another backup (rfsetup backup list); a damaged or "
                             "edited dump cannot be trusted",
                        cause=f"expected sha256 {expected}, found {actual or '(not computed)'}")
    return Verification(True, f"verified: SHA-256 matches {side.name}", meta)


def check_dump_file(path: Path) -> tuple[int, int]:
    """Bad input (exit 2) unless ``path`` is a readable pg_dump custom-format archive with a
    sane header; returns its archive version (major, minor)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(11)
    except FileNotFoundError:
        raise bad_input(f"no such backup file: {path}", hint="rfsetup backup list") from None
    except IsADirectoryError:
        raise bad_input(f"{path} is a directory, not a backup file",
                        hint="restore a .dump file from rfsetup backup list") from None
    except OSError as exc:
        raise bad_input(f"cannot read {path}: {exc.strerror}") from None
    if head[:5] != _MAGIC:
        raise bad_input(f"{path} is not a pg_dump custom-format backup",
                        hint="restore files written by rfsetup backup create or pg_dump -Fc "
                             "(a plain SQL dump is restored with psql -f)")
    vmaj, vmin, _rev, int_size, off_size, fmt = (list(head[5:11]) + [0] * 6)[:6]
    if vmaj != 1 or int_size not in (4, 8) or off_size not in (4, 8) or fmt != _CUSTOM_FORMAT:
        raise bad_input(f"{path} starts like a pg_dump archive but its header is damaged "
                        f"(archive version {vmaj}.{vmin}, format {fmt}); it is not a usable "
                        "backup", hint="restore another backup (rfsetup backup list)")
    return vmaj, vmin
