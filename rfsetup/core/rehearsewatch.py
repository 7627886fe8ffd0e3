"""What a rehearsal watches on the copy: the locks the runner takes, the rows it touches, the
schema it leaves.

* **Locks**: the runner's own connection reads its locks just before each COMMIT (a
  SQLAlchemy ``commit`` event: exact for everything a revision's transaction held), and a
  thread on a connection of its own samples ``pg_locks`` of the runner's backends (found by
  the ``application_name`` every connection of a run gets) every few milliseconds, for what
  runs outside a transaction (``autocommit_block``: CREATE INDEX CONCURRENTLY). For each table,
  view or sequence that existed before the revision (what the application uses meanwhile) the
  strongest mode is kept. A lock taken and released outside a transaction between two samples
  is not seen.
* **Rows**: ``pg_stat_user_tables``' insert/update/delete counters before and after each
  revision. A backend sends its counters when it ends, so each revision runs in a run of its
  own and the counters are read once its connections are gone. A table dropped by the
  revision takes its counts with it; TRUNCATE and table rewrites are not counted.
* **Schema**: ``pg_dump --schema-only`` of the copy, normalised (comments, SET lines and
  pg_dump's ``\\restrict`` keys removed), compared as text.
"""

from __future__ import annotations

import contextlib
import difflib
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rfsetup.core.connect import connect
from rfsetup.core.errors import RfsetupError
from rfsetup.core.pgtools import choose_tools, conninfo, run_tool, tail, tool_env

if TYPE_CHECKING:
    from pathlib import Path

    from psycopg2.extensions import connection as PgConnection
    from sqlalchemy.engine import URL

SAMPLE_INTERVAL = 0.005
#: PostgreSQL's lock modes, weakest first
MODES = ("AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock",
         "ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock")
#: what a lock held by a migration means for the application meanwhile
EFFECT = {
    "AccessShareLock": "an ordinary read",
    "RowShareLock": "SELECT … FOR UPDATE",
    "RowExclusiveLock": "an ordinary write",
    "ShareUpdateExclusiveLock": "only schema changes wait",
    "ShareLock": "writes wait",
    "ShareRowExclusiveLock": "writes wait",
    "ExclusiveLock": "writes wait",
    "AccessExclusiveLock": "reads and writes wait",
}

# Tables, views and sequences, not their indexes or TOAST tables (a lock on those comes with
# one on the table); only those that existed before the revision (``existing``, with their
# names then): one it creates is nobody else's until it commits, and one it drops is gone from
# the catalog of its own transaction by the time it commits.
_RELKINDS = "('r', 'p', 'v', 'm', 'f', 'S')"
_LOCKS_SQL = """
SELECT l.relation::bigint, l.mode
  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'relation' AND l.granted AND l.relation IS NOT NULL
   AND a.datname = current_database() AND a.application_name = %s
   AND l.pid <> pg_backend_pid()
"""
#: the runner's own locks, read on its connection just before each COMMIT
_OWN_LOCKS_SQL = """
SELECT l.relation::bigint, l.mode FROM pg_locks l
 WHERE l.locktype = 'relation' AND l.granted AND l.relation IS NOT NULL
   AND l.pid = pg_backend_pid()
"""
_EXISTING_SQL = f"""
SELECT c.oid::bigint, c.oid::regclass::text FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN {_RELKINDS}
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
"""


@dataclass(frozen=True)
class LockTaken:
    """The strongest lock seen on one table (view, sequence) while a revision ran."""

    relation: str
    mode: str

    @property
    def effect(self) -> str:
        return EFFECT.get(self.mode, "")

    def to_json(self) -> dict[str, str]:
        return {"relation": self.relation, "mode": self.mode, "effect": self.effect}


def stronger(a: str, b: str) -> str:
    rank = {m: i for i, m in enumerate(MODES)}
    return a if rank.get(a, -1) >= rank.get(b, -1) else b


def existing_relations(conn: PgConnection) -> dict[int, str]:
    """The tables, views and sequences there are now: oid -> name (as regclass prints it)."""
    with conn.cursor() as cur:
        cur.execute(_EXISTING_SQL)
        return {int(oid): str(name) for oid, name in cur.fetchall()}


@dataclass
class LockSampler:
    """The locks of the sessions named ``application_name`` in the copy between ``start()``
    and ``stop()``: sampled on a thread of its own, and read by the runner's own connection
    at each COMMIT (``at_commit``: exact for what a revision's transaction held)."""

    url: URL
    application_name: str
    #: the version table (Alembic's bookkeeping, not the revision's doing)
    ignore: tuple[str, ...] = ()
    interval: float = SAMPLE_INTERVAL
    #: oid -> the strongest mode seen
    seen: dict[int, str] = field(default_factory=dict)
    existing: dict[int, str] = field(default_factory=dict)
    samples: int = 0
    error: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _conn: Any = None

    def start(self, existing: dict[int, str]) -> None:
        self.seen, self.samples, self.error, self.existing = {}, 0, None, existing
        self._stop.clear()
        self._conn = connect(self.url, autocommit=True,
                             application_name="rfsetup rehearse (lock sampler)")
        self._thread = threading.Thread(target=self._loop, name="rfsetup-lock-sampler",
                                        daemon=True)
        self._thread.start()

    def note(self, rows: list[tuple[Any, ...]]) -> None:
        with self._lock:
            for oid, mode in rows:
                old = self.seen.get(int(oid))
                self.seen[int(oid)] = stronger(mode, old) if old else mode

    def _loop(self) -> None:
        try:
            with self._conn.cursor() as cur:
                while not self._stop.is_set():
                    cur.execute(_LOCKS_SQL, (self.application_name,))
                    self.note(cur.fetchall())
                    self.samples += 1
                    self._stop.wait(self.interval)
        except Exception as exc:  # the copy going away mid-sample ends sampling, said so
            self.error = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)

    @contextlib.contextmanager
    def at_commit(self) -> Iterator[None]:
        """Meanwhile, every SQLAlchemy COMMIT on this thread first reads its session's locks
        (a plain SELECT of pg_locks in the transaction that is about to commit)."""
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        thread = threading.get_ident()

        def on_commit(conn: Any) -> None:
            if threading.get_ident() != thread:
                return
            with contextlib.suppress(Exception):  # never in the way of the commit itself
                cursor = conn.connection.dbapi_connection.cursor()
                try:
                    cursor.execute(_OWN_LOCKS_SQL)
                    self.note(cursor.fetchall())
                finally:
                    cursor.close()

        event.listen(Engine, "commit", on_commit)
        try:
            yield
        finally:
            event.remove(Engine, "commit", on_commit)

    def stop(self) -> list[LockTaken]:
        """Stop sampling; the strongest lock seen on each relation that existed before."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with contextlib.suppress(Exception):
            self._conn.close()
        with self._lock:
            found = {self.existing[oid]: mode for oid, mode in self.seen.items()
                     if oid in self.existing and self.existing[oid].split(".")[-1].strip('"')
                     not in self.ignore}
        return [LockTaken(name, mode) for name, mode in sorted(found.items())]


# -- rows touched ---------------------------------------------------------------------------
@dataclass(frozen=True)
class RowsTouched:
    """One table's inserted, updated and deleted rows while a revision ran."""

    table: str
    inserted: int
    updated: int
    deleted: int

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "inserted": self.inserted, "updated": self.updated,
                "deleted": self.deleted}


Counters = dict[str, tuple[int, int, int]]


def table_counters(conn: PgConnection) -> Counters:
    """``schema.table`` -> (inserted, updated, deleted) since the copy was made."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute("SELECT schemaname || '.' || relname, n_tup_ins, n_tup_upd, n_tup_del "
                    "FROM pg_stat_user_tables")
        return {str(n): (int(i), int(u), int(d)) for n, i, u, d in cur.fetchall()}


def wait_sessions_gone(conn: PgConnection, application_name: str, timeout: float = 5.0
                       ) -> None:
    """Wait until the runner's sessions on the copy have ended (their counters are sent to the
    statistics then), and the counters have settled."""
    deadline = time.monotonic() + timeout
    with conn.cursor() as cur:
        while time.monotonic() < deadline:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                        "current_database() AND application_name = %s", (application_name,))
            if not cur.fetchone()[0]:
                break
            time.sleep(0.01)
    previous = table_counters(conn)
    while time.monotonic() < deadline:
        time.sleep(0.02)
        now = table_counters(conn)
        if now == previous:
            return
        previous = now


def rows_touched(before: Counters, after: Counters, ignore: tuple[str, ...] = ()
                 ) -> list[RowsTouched]:
    """The tables whose counters moved between ``before`` and ``after``."""
    found = []
    for table, (ins, upd, dele) in sorted(after.items()):
        if table.split(".")[-1] in ignore:
            continue
        i0, u0, d0 = before.get(table, (0, 0, 0))
        delta = (ins - i0, upd - u0, dele - d0)
        if any(delta):
            found.append(RowsTouched(table, *delta))
    return found


# -- the schema ------------------------------------------------------------------------------
_NOISE = re.compile(r"^(--.*|SET .*|SELECT pg_catalog\.set_config\(.*|\\(un)?restrict .*|\s*)$")


def schema_text(url: URL, server_version_num: int, *, bin_dir: Path | None = None,
                cancel: threading.Event | None = None, exclude: str | None = None) -> str:
    """``pg_dump --schema-only`` of ``url``'s database, normalised for comparison; ``exclude``:
    a table pattern left out (the version table: Alembic's bookkeeping, which a downgrade to
    base leaves behind empty)."""
    tools = choose_tools(server_version_num, bin_dir=bin_dir)
    argv = [str(tools.path("pg_dump")), "--schema-only", "--no-password",
            f"--dbname={conninfo(url, 'rfsetup rehearse schema')}"]
    if exclude:
        argv.append(f"--exclude-table={exclude}")
    run = run_tool(argv, env=tool_env(url), cancel=cancel, capture_stdout=True)
    if run.cancelled:
        from rfsetup.core.backups import interrupted

        raise interrupted("the rehearsal")
    if run.returncode != 0:
        raise RfsetupError(f"pg_dump --schema-only of the rehearsal copy {url.database} failed",
                           cause=tail(run.stderr, url), kind="rehearse_schema_failed")
    return normalise(run.stdout)


def normalise(dump: str) -> str:
    """A schema dump without what differs between two dumps of one schema."""
    return "\n".join(line for line in dump.splitlines() if not _NOISE.match(line)) + "\n"


def schema_diff(first: str, second: str, labels: tuple[str, str]) -> str:
    """A unified diff of two normalised dumps ("" when they are the same)."""
    if first == second:
        return ""
    return "".join(difflib.unified_diff(first.splitlines(keepends=True),
                                        second.splitlines(keepends=True), *labels, n=2))
