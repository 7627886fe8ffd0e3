"""The migration lock: a session-level PostgreSQL advisory lock, and who holds it.

Two engineers running ``rfsetup migrate up`` at once must not both apply a revision. Every
rfsetup command that changes the schema (up, down, stamp, restore) first takes one advisory lock
in the target database on its own connection and keeps it until it is done. Session-level (not
transaction-level) because the work spans one transaction per revision; the server releases it
if the process dies, so a crash never leaves the database locked.

A second runner polls ``pg_try_advisory_lock`` for a few seconds (``RFSETUP_LOCK_WAIT``, default
5) rather than blocking in ``pg_advisory_lock``: a blocked call cannot report who it waits for,
and an on-call engineer needs that name (pid, application, user, address, since when).
"""

from __future__ import annotations

import getpass
import hashlib
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

import msgspec

from rfsetup.core.errors import ExitCode, RfsetupError
from rfsetup.core.settings import (  # re-exported: where these are named, they are locking's
    DEFAULT_LOCK_TIMEOUT,
    DEFAULT_LOCK_WAIT,
    DEFAULT_STATEMENT_TIMEOUT,
    ENV_LOCK_TIMEOUT,
    ENV_LOCK_WAIT,
    ENV_STATEMENT_TIMEOUT,
)

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection

    from rfsetup.core.settings import Settings

__all__ = ["DEFAULT_LOCK_TIMEOUT", "DEFAULT_LOCK_WAIT", "DEFAULT_STATEMENT_TIMEOUT",
           "ENV_LOCK_TIMEOUT", "ENV_LOCK_WAIT", "ENV_STATEMENT_TIMEOUT", "LOCK_NAME",
           "LockHolder", "acquire", "application_name", "libpq_options", "lock_holders",
           "lock_key", "locked_error", "release", "session_timeouts", "try_lock"]

LOCK_NAME = "rfsetup.migrate"
# PostgreSQL truncates application_name to NAMEDATALEN - 1 bytes
_APPLICATION_NAME_MAX = 63
#: what ``application_name`` writes (a truncated one does not match, and is not judged)
_OUR_NAME = re.compile(r"rfsetup [\w ]+ \((?P<user>[^()@]*)@(?P<host>[^() ]+) pid (?P<pid>\d+)\)")
# poll quickly at first (the holder is often just finishing), then back off
_POLL_FIRST = 0.05
_POLL_MAX = 0.25
#: application_name() of another rfsetup: ``rfsetup migrate (ann@box pid 7)``
_RFSETUP_APP = re.compile(r"^rfsetup \S+ \((?P<who>[^ ()]+) pid (?P<pid>\d+)\)")


def lock_key(name: str = LOCK_NAME) -> int:
    """A fixed signed 64-bit advisory-lock key derived from ``name``.

    Derived in Python (not with the server's ``hashtext``) so the key is the same on every
    server version and can be matched in ``pg_locks`` without a round trip.
    """
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _pg_locks_ids(key: int) -> tuple[int, int]:
    """(classid, objid) under which pg_locks shows a bigint advisory key (objsubid = 1)."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return unsigned >> 32, unsigned & 0xFFFFFFFF


def application_name(action: str = "migrate") -> str:
    """This process's name in pg_stat_activity, e.g. ``rfsetup migrate (ann@box pid 7)``."""
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry (containers): the name is only informative
        user = "unknown"
    text = f"rfsetup {action} ({user}@{socket.gethostname()} pid {os.getpid()})"
    # PostgreSQL replaces non-ASCII with '?'; keep it readable and within the limit
    return text.encode("ascii", "replace").decode()[:_APPLICATION_NAME_MAX]


def session_timeouts(settings: Settings | None = None) -> dict[str, str]:
    """lock_timeout and statement_timeout for schema-changing sessions, as ``settings`` has
    them (RFSETUP_LOCK_TIMEOUT, RFSETUP_STATEMENT_TIMEOUT, read and validated on load).
    Without settings (lint's default, the SQL pane's note), this process's environment's."""
    if settings is None:
        from rfsetup.core.settings import (
            DEFAULT_LOCK_TIMEOUT,
            DEFAULT_STATEMENT_TIMEOUT,
            ENV_LOCK_TIMEOUT,
            ENV_STATEMENT_TIMEOUT,
            duration_from,
        )

        return {"lock_timeout": duration_from(os.environ, ENV_LOCK_TIMEOUT,
                                              DEFAULT_LOCK_TIMEOUT),
                "statement_timeout": duration_from(os.environ, ENV_STATEMENT_TIMEOUT,
                                                   DEFAULT_STATEMENT_TIMEOUT)}
    return {"lock_timeout": settings.lock_timeout,
            "statement_timeout": settings.statement_timeout}


def libpq_options(settings: Mapping[str, str], existing: str | None = None) -> str:
    """A libpq ``options`` value setting ``settings`` at connect time (no extra round trip)."""
    flags = " ".join(f"-c {name}={value}" for name, value in settings.items())
    return f"{existing} {flags}" if existing else flags


class LockHolder(msgspec.Struct, frozen=True):
    """A session holding the migration lock, as pg_locks and pg_stat_activity describe it."""

    pid: int
    application_name: str | None
    user: str | None
    client_addr: str | None
    backend_start: datetime | None

    def orphaned_pid(self) -> int | None:
        """The rfsetup process this session's application_name names, when that process was
        on this host and no longer exists (killed: its session was left behind); else None."""
        match = _OUR_NAME.fullmatch(self.application_name or "")
        if match is None or match["host"] != socket.gethostname():
            return None
        pid = int(match["pid"])
        return pid if _process_gone(pid) else None

    def describe(self) -> str:
        parts = [f"pid {self.pid}"]
        if self.application_name:
            parts.append(f"application {self.application_name!r}")
        if self.user:
            parts.append(f"user {self.user}")
        parts.append(f"from {self.client_addr}" if self.client_addr else "from a local socket")
        if self.backend_start:
            parts.append(f"connected since {self.backend_start.isoformat(timespec='seconds')}")
        return ", ".join(parts)

    def short(self) -> str:
        """Who, in a few words: ``alice@ops-1 pid 4242`` for another rfsetup (its
        application_name says where it runs), else ``pid 4242 ('psql', user alice)``."""
        match = _RFSETUP_APP.search(self.application_name or "")
        if match:
            return f"{match['who']} pid {match['pid']}"
        about = [f"{self.application_name!r}"] if self.application_name else []
        if self.user:
            about.append(f"user {self.user}")
        return f"pid {self.pid}" + (f" ({', '.join(about)})" if about else "")


_HOLDERS_SQL = """
SELECT a.pid, a.application_name, a.usename, host(a.client_addr), a.backend_start
  FROM pg_locks l
  JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory' AND l.granted
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND l.classid = %s::oid AND l.objid = %s::oid AND l.objsubid = 1
   AND l.pid <> pg_backend_pid()
"""


def lock_holders(conn: PgConnection, name: str = LOCK_NAME) -> list[LockHolder]:
    """The other sessions holding the lock in this database (normally none or one)."""
    classid, objid = _pg_locks_ids(lock_key(name))
    with conn.cursor() as cur:
        cur.execute(_HOLDERS_SQL, (classid, objid))
        rows = cur.fetchall()
    return [LockHolder(int(pid), app or None, user, addr, start)
            for pid, app, user, addr, start in rows]


def try_lock(conn: PgConnection, name: str = LOCK_NAME) -> bool:
    """One non-blocking attempt at the session-level lock."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", (lock_key(name),))
        row = cur.fetchone()
    return bool(row and row[0])


def acquire(
    conn: PgConnection,
    *,
    name: str = LOCK_NAME,
    wait: float = DEFAULT_LOCK_WAIT,
    on_progress: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Take the lock on ``conn`` (an autocommit connection), waiting up to ``wait`` seconds
    (``settings.lock_wait``: RFSETUP_LOCK_WAIT).

    Raises an RfsetupError (exit 1, kind ``locked``) naming the holder when the time is up, and
    one of kind ``interrupted`` (exit 130) when ``cancel`` is set meanwhile.
    """
    from rfsetup.core.progress import ProgressTick

    started = time.monotonic()
    deadline = started + wait
    delay = _POLL_FIRST
    announced = False
    short = "another session"
    ticked = 0
    while True:
        if try_lock(conn, name):
            if on_progress:
                on_progress("migration lock acquired")
            return
        now = time.monotonic()
        if cancel is not None and cancel.is_set():
            raise RfsetupError(f"stopped while waiting for the migration lock on database "
                               f"{conn.info.dbname}; nothing was done",
                               hint="run it again when ready", kind="interrupted",
                               exit_code=ExitCode.INTERRUPTED)
        if now >= deadline:
            break
        if not announced and on_progress:
            holders = lock_holders(conn, name)
            who = holders[0].describe() if holders else "another session"
            short = holders[0].short() if holders else short
            on_progress(f"waiting up to {wait:g}s for the migration lock held by {who}")
            announced = True
        elif on_progress and int(now - started) > ticked:
            # the wait, live: a UI redraws this line in place (the log keeps the one above)
            ticked = int(now - started)
            on_progress(ProgressTick(f"waiting {ticked} s of {wait:g} s for the migration "
                                     f"lock held by {short}"))
        time.sleep(min(delay, max(deadline - now, 0.0)))
        delay = min(delay * 2, _POLL_MAX)
    raise locked_error(conn, name, wait)


def _process_gone(pid: int) -> bool:
    """Whether process ``pid`` of this host no longer runs (a zombie counts as gone); False
    when that cannot be known."""
    try:
        import psutil
    except ImportError:  # the sandbox extra brings psutil; without it, POSIX can still tell
        if os.name != "posix":
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:  # EPERM: it exists, as another user
            return False
        return False
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:  # AccessDenied: it exists
        return False


def locked_error(conn: PgConnection, name: str, waited: float) -> RfsetupError:
    """The error for "someone else is migrating this database", naming who; when the holder
    is the session of an rfsetup on this host that no longer runs, saying so, with the exact
    statement that ends it."""
    holders = lock_holders(conn, name)
    database = conn.info.dbname
    orphans = [(h, h.orphaned_pid()) for h in holders]
    orphan = next(((h, pid) for h, pid in orphans if pid is not None), None)
    if orphan is not None:
        holder, gone = orphan
        return RfsetupError(
            f"another migration is running on database {database}: held by "
            f"{holder.describe()}; but process {gone} on this host "
            f"({socket.gethostname()}) no longer exists: its session was left behind "
            "(rfsetup was killed, or its machine lost the connection)",
            hint=f"end the orphaned session, then run again: "
                 f"SELECT pg_terminate_backend({holder.pid});",
            cause=f"the migration lock was not free after {waited:g}s",
            kind="locked",
        )
    if holders:
        who = "; ".join(h.describe() for h in holders)
        pid = holders[0].pid
        hint = (f"wait for it to finish and run again (or set {ENV_LOCK_WAIT}=<seconds>); "
                f"if it is stuck: SELECT pg_terminate_backend({pid});")
    else:  # released between our last attempt and this query
        who = "a session that has just released it"
        hint = "run the command again"
    return RfsetupError(
        f"another migration is running on database {database}: held by {who}",
        hint=hint,
        cause=f"the migration lock was not free after {waited:g}s",
        kind="locked",
    )


def release(conn: PgConnection, name: str = LOCK_NAME) -> None:
    """Give the lock back (closing the connection would too; this makes it prompt)."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_unlock(%s)", (lock_key(name),))
