"""One ``StatusReport``: what `rfsetup status` prints and what the TUI's live panel polls.

Built in as few round trips as possible: one query to PostgreSQL (version, database and every
table's row estimate from the catalog, never COUNT(*)) plus one for the revision once the version
table exists, one INFO to Redis, and the heads read from the migration scripts on disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rfsetup.core.errors import RfsetupError
from rfsetup.core.settings import Settings, mask_url

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

DEFAULT_REDIS_URL = "redis://localhost:6379/0"
VERSION_TABLE = "alembic_version"

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
            AND c.relname <> %(vt)s), '[]'::json)
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
    version_table_present: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

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


def load_script_directory(settings: Settings) -> ScriptDirectory:
    """The Alembic scripts of ``settings.alembic_ini`` (no database needed)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    if not settings.alembic_ini.is_file():
        raise RfsetupError(
            f"no Alembic config at {settings.alembic_ini}",
            hint="run from the project directory or pass -c path/to/alembic.ini",
            kind="no_alembic_config",
        )
    try:
        return ScriptDirectory.from_config(Config(str(settings.alembic_ini)))
    except CommandError as exc:
        raise RfsetupError(f"the Alembic scripts cannot be loaded: {exc}",
                           hint=f"check script_location in {settings.alembic_ini}",
                           kind="bad_alembic_config") from None


def unknown_revisions(script: ScriptDirectory, current: tuple[str, ...]) -> tuple[str, ...]:
    """The database's revisions that these scripts do not contain (exact ids only: Alembic
    would also resolve a prefix, which is not what the version table holds)."""
    from alembic.script.revision import RevisionError

    unknown: list[str] = []
    for rev_id in current:
        try:
            found = script.revision_map.get_revision(rev_id)
        except RevisionError:
            found = None
        if found is None or found.revision != rev_id:
            unknown.append(rev_id)
    return tuple(unknown)


def _unknown_revision_error(unknown: tuple[str, ...], database: str | None) -> RfsetupError:
    # the same words as `rfsetup migrate …` use for this state, so status explains what they refuse
    return RfsetupError(
        f"database {database or '(unknown)'} is at revision {', '.join(unknown)}, which this "
        "project's migration scripts do not contain",
        hint="check that -c points at the right alembic.ini and that the code is up to date "
             "(git pull); if you know the schema matches a revision: rfsetup migrate stamp REV",
        kind="unknown_revision",
    )


def count_pending(script: ScriptDirectory, current: tuple[str, ...]) -> int:
    """How many revisions are not applied: all revisions minus current and their ancestors.

    ``current`` must hold only revisions the scripts know (see ``unknown_revisions``).
    """
    from alembic.util import to_tuple

    applied: set[str] = set()
    stack = list(current)
    while stack:
        rev_id = stack.pop()
        if rev_id in applied:
            continue
        applied.add(rev_id)
        rev = script.revision_map.get_revision(rev_id)
        if rev is not None:
            stack.extend(to_tuple(rev.down_revision, default=()))
    return sum(1 for _ in script.walk_revisions()) - len(applied)


def _database_status(settings: Settings) -> tuple[DatabaseStatus, tuple[str, ...], bool, list]:
    from rfsetup.core.connect import connection

    raw = settings.database_url
    try:
        url = settings.url()
    except RfsetupError as exc:
        return DatabaseStatus(False, mask_url(raw) if raw else None, error=exc), (), False, []
    masked = mask_url(url)
    try:
        with connection(url, timeout=3, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(_STATUS_SQL, {"vt": VERSION_TABLE})
            version, version_num, name, has_vt, tables = cur.fetchone()
            current: tuple[str, ...] = ()
            if has_vt:
                cur.execute(f"SELECT version_num FROM {VERSION_TABLE} ORDER BY 1")
                current = tuple(row[0] for row in cur.fetchall())
    except RfsetupError as exc:
        return DatabaseStatus(False, masked, error=exc), (), False, []
    db = DatabaseStatus(True, masked, server_version=version.split(" ")[0],
                        server_version_num=version_num, name=name)
    return db, current, bool(has_vt), tables


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


def collect_status(settings: Settings) -> StatusReport:
    """Read the whole status. Never raises for an unreachable server: it is part of the report."""
    db, current, has_version_table, tables = _database_status(settings)
    heads: tuple[str, ...] = ()
    pending: int | None = None
    scripts_error: RfsetupError | None = None
    try:
        script = load_script_directory(settings)
        heads = tuple(script.get_heads())
        unknown = unknown_revisions(script, current) if db.reachable else ()
        if unknown:
            # a database ahead of this checkout (or -c at another project): how many are
            # pending cannot be known, and saying so beats a traceback
            scripts_error = _unknown_revision_error(unknown, db.name)
        elif db.reachable:
            pending = count_pending(script, current)
    except RfsetupError as exc:
        scripts_error = exc
    return StatusReport(
        database=db,
        current=current,
        heads=heads,
        pending=pending,
        tables=tuple(TableInfo(t["name"], int(t["rows"])) for t in tables),
        redis=redis_status(settings),
        scripts_error=scripts_error,
        version_table_present=has_version_table,
    )
