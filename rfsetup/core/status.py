"""One ``StatusReport``: what `rfsetup status` prints and what the TUI's live panel polls.

Built in as few round trips as possible: one query to PostgreSQL (version, database and every
table's row estimate from the catalog, never COUNT(*)) plus one for the revision once the version
table exists, one INFO to Redis, and the heads from the revision graph (rfsetup.core.revgraph,
cached on disk so a long history is not re-executed on every poll).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from rfsetup.core.errors import ExitCode, RfsetupError
from rfsetup.core.settings import DEFAULT_REDIS_URL, Settings, mask_url
from rfsetup.core.versiontable import VersionTable

if TYPE_CHECKING:
    from rfsetup.core.alembic.project import AlembicProject
    from rfsetup.core.pooler import PoolerFacts
    from rfsetup.core.revgraph import RevisionGraph


# One round trip for everything but the revision, which needs a second query only when the
# version table exists (a query naming a missing table fails at parse time, and query_to_xml
# needs a server built with libxml, which embedded builds lack).
_STATUS_SQL = """
SELECT current_setting('server_version'),
       current_setting('server_version_num')::int,
       current_database(),
       to_regclass(%(vt)s) IS NOT NULL,
       COALESCE((
         SELECT json_agg(json_build_object(
                  'name', c.relname,
                  'rows', CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint
                               ELSE COALESCE(s.n_live_tup, 0) END)
                  ORDER BY c.relname)
           FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
          WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema()
            AND c.relname <> %(vt_name)s), '[]'::json),
       pg_backend_pid()
"""


@dataclass(frozen=True)
class TableInfo:
    name: str
    rows: int


@dataclass(frozen=True)
class DatabaseStatus:
    reachable: bool
    url: str | None
    server_version: str | None = None
    server_version_num: int | None = None
    name: str | None = None
    error: RfsetupError | None = None
    #: what is between rfsetup and the server (None: not reached, or not known)
    pooler: PoolerFacts | None = None


@dataclass(frozen=True)
class RedisStatus:
    reachable: bool
    url: str | None
    version: str | None = None
    error: str | None = None
    #: what went wrong, from the exception's type: server_down, auth_failed, password_missing,
    #: timeout, bad_url or failed (None when reachable)
    error_kind: str | None = None


@dataclass(frozen=True)
class StatusReport:
    """The state of the target: database, revisions, tables, Redis."""

    database: DatabaseStatus
    current: tuple[str, ...]
    heads: tuple[str, ...]
    pending: int | None
    tables: tuple[TableInfo, ...]
    #: None when the project does not use Redis and REDIS_URL is not set
    redis: RedisStatus | None
    #: a problem reading the migration scripts (e.g. no alembic.ini), shown, not raised
    scripts_error: RfsetupError | None = None
    #: False when the revision could not be read (env.py refused the target, or failed)
    revision_known: bool = True
    #: False while Redis is still to be asked (the TUI's first report: the revision first)
    redis_checked: bool = True

    @property
    def at_head(self) -> bool:
        return self.database.reachable and self.pending == 0 and bool(self.heads)

    def to_json(self) -> dict[str, Any]:
        """The `status --json` document (contract keys; extra keys may be added, never renamed)."""
        db = self.database
        return {
            "database": {
                "reachable": db.reachable,
                "url": db.url,
                "server_version": db.server_version,
                "name": db.name,
                "error": db.error.to_dict() if db.error else None,
            },
            "current": list(self.current),
            "heads": list(self.heads),
            "pending": self.pending,
            "tables": [{"name": t.name, "rows": t.rows} for t in self.tables],
            "redis": None if self.redis is None else {
                "reachable": self.redis.reachable,
                "version": self.redis.version,
                "url": self.redis.url,
                "error": self.redis.error,
            },
            "revision_known": self.revision_known,
            # a transaction-mode pooler: status works, migrate/stamp/restore refuse it
            "pooler": self.database.pooler.to_json() if self.database.pooler else None,
            "scripts_error": self.scripts_error.to_dict() if self.scripts_error else None,
        }


def _query(url: Any, vt: VersionTable) -> tuple[DatabaseStatus, tuple[str, ...],
                                               list[dict[str, Any]]]:
    """The two small queries on ``url`` (a SQLAlchemy URL or a ``pgurl.PgURL``)."""
    from rfsetup.core.connect import connection
    from rfsetup.core.versiontable import select_revisions

    masked = mask_url(url)
    try:
        with connection(url, timeout=3, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(_STATUS_SQL, {"vt": vt.regclass_text(), "vt_name": vt.name})
            version, version_num, name, has_vt, tables, pid = cur.fetchone()
            facts = _pooler_facts(conn, url, pid)
            current = select_revisions(cur, vt) if has_vt else ()
    except RfsetupError as exc:
        return DatabaseStatus(False, masked, error=exc), (), []
    db = DatabaseStatus(True, masked, server_version=version.split(" ")[0],
                        server_version_num=version_num, name=name, pooler=facts)
    return db, current, tables


def _database_status(settings: Settings, project: AlembicProject | None
                     ) -> tuple[DatabaseStatus, tuple[str, ...] | None, list[dict[str, Any]],
                                RfsetupError | None]:
    """(database, current revisions or None when unknown, tables, env.py's problem)."""
    from rfsetup.core.alembic.observe import cached_observation, identify, observed
    from rfsetup.core.connect import connection

    raw = settings.database_url
    try:
        url = settings.url()
    except RfsetupError as exc:
        return DatabaseStatus(False, mask_url(raw) if raw else None, error=exc), None, [], None
    vt = VersionTable()
    env_error: RfsetupError | None = None
    seen = cached_observation(project) if project is not None else None
    if seen is not None:
        vt = seen.version_table
    elif project is not None:
        try:
            with connection(url, timeout=3, autocommit=True) as conn:
                vt = observed(project, url, conn, identify(conn)).version_table
        except RfsetupError as exc:  # unreachable (the query below says so), or env.py
            if exc.exit_code != ExitCode.CONNECT:  # refuses this target, or fails: shown
                env_error = exc
    db, current, tables = _query(url, vt)
    if not db.reachable:
        return db, None, [], None
    return db, (None if env_error else current), tables, env_error


def _pooler_facts(conn: Any, url: Any, pid: int) -> PoolerFacts | None:
    """The pooler probe (free on a direct connection); None when its second client cannot
    connect (the status itself is still true)."""
    from rfsetup.core import pooler

    try:
        return pooler.probe(conn, url, last_pid=int(pid))
    except RfsetupError:
        return None


def redis_status(settings: Settings, timeout: float = 1.0) -> RedisStatus:
    """PING-equivalent INFO server on REDIS_URL (default redis://localhost:6379/0)."""
    import redis

    raw = settings.redis_url or DEFAULT_REDIS_URL
    masked = mask_url(raw)
    try:
        client = redis.Redis.from_url(raw, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            info = client.info("server")
        finally:
            client.close()
    except (redis.RedisError, ValueError, OSError) as exc:
        kind, message = _redis_error(exc, raw, timeout)
        if kind == "server_down":
            from rfsetup.core.localpg import is_sandbox_redis

            if is_sandbox_redis(raw, settings.sandbox_dir):  # not redis-server: the sandbox
                message = ("Redis is not running (connection refused): this is the project's "
                           "sandbox, and it is stopped; start it: rfsetup sandbox start")
        return RedisStatus(False, masked, error=message, error_kind=kind)
    return RedisStatus(True, masked, version=str(info.get("redis_version")))


def _redis_error(exc: BaseException, raw: str, timeout: float) -> tuple[str, str]:
    """(kind, message) for a failed Redis probe, decided by the exception's type (redis-py
    keeps the socket's own error as the cause of its ConnectionError)."""
    import socket

    import redis

    if isinstance(exc, redis.AuthenticationError):  # WRONGPASS, NOAUTH, invalid password
        from urllib.parse import urlsplit

        if urlsplit(raw).password:
            return "auth_failed", "Redis rejected the password in REDIS_URL"
        return "password_missing", ("Redis requires a password and REDIS_URL has none "
                                    "(redis://:PASSWORD@HOST:6379/0)")
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, ConnectionRefusedError) or isinstance(cause, ConnectionRefusedError):
        return "server_down", "Redis is not running (connection refused); start it: redis-server"
    if isinstance(exc, redis.TimeoutError | socket.timeout):
        return "timeout", f"Redis did not answer within {timeout:g}s"
    text = str(exc).replace(raw, mask_url(raw))
    if isinstance(exc, ValueError):  # redis-py's URL parsing
        return "bad_url", f"REDIS_URL is not valid: {text}"
    return "failed", text


def collect_status(settings: Settings) -> StatusReport:
    """Read the whole status. Never raises for an unreachable server: it is part of the report.

    With a warm cache (no config or version file changed, env.py observed for this target) the
    status is read with psycopg2 and the cache alone, importing neither Alembic nor SQLAlchemy
    (``warm_status``); otherwise through the Alembic project. Both build the same report.
    A config that cannot be read (``-c`` naming a missing file) is reported as ``scripts_error``
    with its exit code 2, which the CLI returns.
    """
    return warm_status(settings) or _full_status(settings)


@dataclass(frozen=True)
class WarmReading:
    """What the warm path read: the cached graph and the database's side."""

    graph: RevisionGraph
    database: DatabaseStatus
    current: tuple[str, ...] | None
    tables: list[dict[str, Any]]


def warm_reading(settings: Settings) -> WarmReading | None:
    """The cached graph and two queries, or None when the cache cannot answer (a config or
    version file changed, env.py not observed for this target, an URL only SQLAlchemy reads)."""
    from pathlib import Path

    from rfsetup.core import pgurl, projectcache
    from rfsetup.core.revgraph import RevisionGraph
    from rfsetup.core.settings import libpq_params

    url = pgurl.parse(settings.database_url)
    ini = Path(settings.alembic_ini)
    if url is None or not ini.is_file():
        return None
    found = projectcache.warm(settings.state_dir / "cache", ini.resolve(), libpq_params(url))
    if found is None or found.observation is None:
        return None
    try:
        graph = RevisionGraph.from_json(found.graph)
        doc = found.observation["version_table"]
        vt = VersionTable(str(doc["name"]), doc.get("schema"))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    db, current, tables = _query(url, vt)
    return WarmReading(graph, db, current if db.reachable else None, tables)


def warm_status(settings: Settings, *, redis: bool = True) -> StatusReport | None:
    """The status from the cache and two queries, or None when the cache cannot answer (the
    caller then takes ``collect_status``'s full path; the TUI imports Alembic only then).
    ``redis`` False: Redis is not asked yet (``redis_checked`` False; ``with_redis`` asks it):
    importing redis-py alone is ~90 ms, the revision needs none of it."""
    found = warm_reading(settings)
    if found is None:
        return None
    return _report(settings, found.graph, None, found.database, found.current, found.tables,
                   redis=redis)


def with_redis(settings: Settings, report: StatusReport) -> StatusReport:
    """``report`` with Redis asked, if it was not (see ``warm_status``)."""
    if report.redis_checked:
        return report
    return replace(report, redis=_redis_of(settings), redis_checked=True)


def _uses_redis(settings: Settings) -> bool:
    return bool(settings.profile.uses_redis or settings.redis_url)


def _redis_of(settings: Settings) -> RedisStatus | None:
    return redis_status(settings) if _uses_redis(settings) else None


_warm_status = warm_status  # the tests' name


def _full_status(settings: Settings) -> StatusReport:
    from rfsetup.core.alembic.project import AlembicProject

    graph: RevisionGraph | None = None
    scripts_error: RfsetupError | None = None
    project: AlembicProject | None = None
    try:
        project = AlembicProject.load(settings)
        graph = project.graph()
    except RfsetupError as exc:
        scripts_error = exc
    db, current, tables, env_error = _database_status(settings, project)
    return _report(settings, graph, scripts_error or env_error, db, current, tables)


def _report(settings: Settings, graph: RevisionGraph | None,
            scripts_error: RfsetupError | None, db: DatabaseStatus,
            current: tuple[str, ...] | None, tables: list[dict[str, Any]], *,
            redis: bool = True) -> StatusReport:
    known = current if current is not None else ()
    pending = graph.pending(known) if graph is not None and db.reachable and \
        current is not None else None
    unknown = tuple(r for r in known if r not in graph.parents) if graph is not None else ()
    if unknown:
        from rfsetup.core.alembic.planning import unknown_revision_error

        # a database ahead of this checkout (or -c at another project): how many revisions
        # are pending cannot be known, and a count that ignores the unknown one would be wrong
        pending = None
        scripts_error = unknown_revision_error(unknown, db.name)
    return StatusReport(
        database=db,
        current=known,
        heads=graph.heads if graph else (),
        pending=pending,
        tables=tuple(TableInfo(t["name"], int(t["rows"])) for t in tables),
        redis=_redis_of(settings) if redis else None,
        scripts_error=scripts_error,
        revision_known=current is not None,
        redis_checked=redis or not _uses_redis(settings),
    )
