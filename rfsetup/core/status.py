"""One ``StatusReport``: what `rfsetup status` prints and what the TUI's live panel polls.

Built in as few round trips as possible: one query to PostgreSQL (version, database and every
table's row estimate from the catalog, never COUNT(*)) plus one for the revision once the version
table exists, one INFO to Redis, and the heads from the revision graph (rfsetup.core.revgraph,
cached on disk so a long history is not re-executed on every poll).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rfsetup.core.errors import RfsetupError
from rfsetup.core.settings import DEFAULT_REDIS_URL, Settings, mask_url

DEFAULT_VERSION_TABLE = "alembic_version"

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
            AND c.relname <> %(vt_name)s), '[]'::json)
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


@dataclass(frozen=True)
class RedisStatus:
    reachable: bool
    url: str | None
    version: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class StatusReport:
    """The state of the target: database, revisions, tables, Redis."""

    database: DatabaseStatus
    current: tuple[str, ...]
    heads: tuple[str, ...]
    pending: int | None
    tables: tuple[TableInfo, ...]
    redis: RedisStatus
    #: a problem reading the migration scripts (e.g. no alembic.ini), shown, not raised
    scripts_error: RfsetupError | None = None

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
            "redis": {
                "reachable": self.redis.reachable,
                "version": self.redis.version,
                "url": self.redis.url,
                "error": self.redis.error,
            },
            "scripts_error": self.scripts_error.to_dict() if self.scripts_error else None,
        }


def _database_status(settings: Settings, vt: str
                     ) -> tuple[DatabaseStatus, tuple[str, ...], list[dict[str, Any]]]:
    from rfsetup.core.backups import select_revisions
    from rfsetup.core.connect import connection

    raw = settings.database_url
    try:
        url = settings.url()
    except RfsetupError as exc:
        return DatabaseStatus(False, mask_url(raw) if raw else None, error=exc), (), []
    masked = mask_url(url)
    try:
        with connection(url, timeout=3, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(_STATUS_SQL, {"vt": vt, "vt_name": vt.rsplit(".", 1)[-1]})
            version, version_num, name, has_vt, tables = cur.fetchone()
            current = select_revisions(cur, vt) if has_vt else ()
    except RfsetupError as exc:
        return DatabaseStatus(False, masked, error=exc), (), []
    db = DatabaseStatus(True, masked, server_version=version.split(" ")[0],
                        server_version_num=version_num, name=name)
    return db, current, tables


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
        return RedisStatus(False, masked, error=_redis_error(exc, raw))
    return RedisStatus(True, masked, version=str(info.get("redis_version")))


def _redis_error(exc: BaseException, raw: str) -> str:
    text = str(exc)
    if "Connection refused" in text or "Error 111" in text:
        return "Redis is not running (connection refused); start it: redis-server"
    if "invalid password" in text.lower() or "WRONGPASS" in text or "NOAUTH" in text:
        return "Redis rejected the password in REDIS_URL"
    return text.replace(raw, mask_url(raw))


def _unknown_revision_error(unknown: tuple[str, ...], database: str | None) -> RfsetupError:
    # the same words as `rfsetup migrate …` use for this state, so status explains what they refuse
    return RfsetupError(
        f"database {database or '(unknown)'} is at revision {', '.join(unknown)}, which this "
        "project's migration scripts do not contain",
        hint="check that -c points at the right alembic.ini and that the code is up to date "
             "(git pull); if you know the schema matches a revision: rfsetup migrate stamp REV",
        kind="unknown_revision",
    )


def collect_status(settings: Settings) -> StatusReport:
    """Read the whole status. Never raises for an unreachable server: it is part of the report."""
    from rfsetup.core.migrations import load_config, version_table
    from rfsetup.core.revgraph import RevisionGraph, load_graph

    graph: RevisionGraph | None = None
    scripts_error: RfsetupError | None = None
    vt = DEFAULT_VERSION_TABLE
    try:
        cfg = load_config(settings)
        vt = version_table(cfg)
        graph = load_graph(cfg, settings.state_dir / "cache")
    except RfsetupError as exc:
        scripts_error = exc
    db, current, tables = _database_status(settings, vt)
    pending = graph.pending(current) if graph is not None and db.reachable else None
    unknown = tuple(r for r in current if r not in graph.parents) if graph is not None else ()
    if unknown:
        # a database ahead of this checkout (or -c at another project): how many revisions
        # are pending cannot be known, and a count that ignores the unknown one would be wrong
        pending = None
        scripts_error = _unknown_revision_error(unknown, db.name)
    return StatusReport(
        database=db,
        current=current,
        heads=graph.heads if graph else (),
        pending=pending,
        tables=tuple(TableInfo(t["name"], int(t["rows"])) for t in tables),
        redis=redis_status(settings),
        scripts_error=scripts_error,
    )
