"""What env.py really configures, learned by running it, not guessed from alembic.ini.

An env.py decides which connection the migrations run on (the one rfsetup hands it, one it
opens from ``sqlalchemy.url``, or one from its own variable or a hard-coded URL), which version
table holds the revision (``version_table=``, ``version_table_schema=``) and whether each
revision is its own transaction (``transaction_per_migration=``). rfsetup runs env.py with an
instrumented ``EnvironmentContext``:

* every ``context.configure(connection=...)`` call has its connection identified on the server
  (database, role, port, postmaster start time): a connection that is not rfsetup's target is
  refused there, before Alembic touches anything;
* the work function reads the version table and transaction mode from the live
  ``MigrationContext`` Alembic built: the truth, whatever the ini says;
* ``dont_mutate`` keeps Alembic from creating the version table before rfsetup has checked;
  a run creates it itself once the checks pass.

``probe`` does this with a work function that runs nothing; its result is cached per target
(``cache``) until alembic.ini, pyproject.toml or env.py change.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import msgspec

from rfsetup.core.errors import ExitCode, RfsetupError, bad_input
from rfsetup.core.versiontable import VersionTable

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection
    from sqlalchemy.engine import URL, Connection

    from rfsetup.core.alembic.project import AlembicProject
    from rfsetup.core.projectcache import Fingerprint

# Alembic installs the running environment into the module-level proxies ``alembic.context``
# and ``alembic.op``: two env.py runs at once in one process would trample each other.
ALEMBIC_LOCK = threading.RLock()

IDENTITY_SQL = ("SELECT current_database(), current_user, current_setting('port'), "
                "pg_postmaster_start_time()::text, host(inet_server_addr())")


class Target(msgspec.Struct, frozen=True):
    """Where a connection really is, as the server says: database, role, server."""

    database: str
    user: str
    port: str
    started: str
    address: str | None = None

    def same_as(self, other: Target) -> bool:
        # the postmaster's start time tells two servers on one port (or host) apart
        return (self.database, self.user, self.port, self.started) == (
            other.database, other.user, other.port, other.started)

    def describe(self) -> str:
        where = self.address or "a local socket"
        return f"database {self.database} as {self.user} on {where} port {self.port}"

    def to_json(self) -> dict[str, str | None]:
        return {"database": self.database, "user": self.user, "port": self.port,
                "started": self.started, "address": self.address}


def identify(conn: PgConnection) -> Target:
    """The server-side identity of a psycopg2 connection (one small SELECT)."""
    with conn.cursor() as cur:
        cur.execute(IDENTITY_SQL)
        row = cur.fetchone()
    return _target(row)


def identify_sa(connection: Connection) -> Target:
    """The identity of the SQLAlchemy connection env.py configured, its transaction state left
    as it was: Alembic decides from that state whether it owns the transactions."""
    was_in_transaction = connection.in_transaction()
    row = connection.exec_driver_sql(IDENTITY_SQL).one()
    if not was_in_transaction:
        connection.rollback()
    return _target(row)


def _target(row: Any) -> Target:
    db, user, port, started, address = row
    return Target(str(db), str(user), str(port), str(started), address and str(address))


class Observation(msgspec.Struct, frozen=True):
    """What env.py configured on its last ``context.configure`` before running migrations."""

    version_table: VersionTable
    transaction_per_migration: bool
    #: the connection the migrations run on (None: not observed)
    target: Target | None
    #: env.py used the connection rfsetup put in ``config.attributes["connection"]``
    given_connection: bool
    #: how many times env.py called run_migrations (more than one: several databases)
    runs: int = 1

    def to_json(self) -> dict[str, Any]:
        return {"version_table": self.version_table.to_json(),
                "transaction_per_migration": self.transaction_per_migration,
                "target": self.target.to_json() if self.target else None,
                "given_connection": self.given_connection, "runs": self.runs}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Observation:
        vt = doc["version_table"]
        target = doc.get("target")
        return cls(VersionTable(vt["name"], vt.get("schema")),
                   bool(doc["transaction_per_migration"]),
                   Target(**target) if target else None, bool(doc["given_connection"]),
                   int(doc.get("runs", 1)))


class Refused(BaseException):
    """Raised inside env.py to stop it; a BaseException so that an env.py catching
    ``Exception`` cannot swallow it. Carries the error to report."""

    def __init__(self, error: RfsetupError) -> None:
        super().__init__(error.message)
        self.error = error


def mismatch_error(found: Target, expected: Target, env_py: str) -> RfsetupError:
    """env.py connects somewhere else than DATABASE_URL: name both, change nothing."""
    return bad_input(
        f"env.py migrates {found.describe()}, but rfsetup's target (DATABASE_URL) is "
        f"{expected.describe()}; nothing was changed in either",
        cause=f"{env_py} opens its own connection instead of using the one rfsetup gives it",
        hint="make env.py use config.attributes.get('connection') when it is set, or build "
             "its engine from config.get_main_option('sqlalchemy.url') (rfsetup sets both); "
             "or point DATABASE_URL at the database env.py migrates",
        kind="env_target_mismatch")


class Watch(msgspec.Struct):
    """The instrumentation's state for one env.py run."""

    env_py: str
    #: rfsetup's target; None: do not check (offline runs)
    expected: Target | None = None
    #: the psycopg2 connection rfsetup handed env.py
    ours: Any = None
    observations: list[Observation] = msgspec.field(default_factory=list)
    refused: RfsetupError | None = None

    def is_ours(self, connection: Any) -> bool:
        if self.ours is None or connection is None:
            return False
        with contextlib.suppress(Exception):
            return connection.connection.dbapi_connection is self.ours
        return False

    def check(self, connection: Any) -> None:
        """Called at each context.configure: refuse a connection to another database."""
        if connection is None or self.expected is None or self.is_ours(connection):
            return
        if not hasattr(connection, "exec_driver_sql"):
            return  # not a Connection (e.g. an Engine): Alembic itself says what is wrong
        found = identify_sa(connection)
        if not found.same_as(self.expected):
            self.refused = mismatch_error(found, self.expected, self.env_py)
            raise Refused(self.refused)

    def observe(self, context: Any) -> Observation:
        """Read the live MigrationContext (called from the work function)."""
        given = self.is_ours(context.connection)
        target = self.expected if given else None
        if target is None and context.connection is not None and not context.as_sql:
            with contextlib.suppress(Exception):
                target = identify_sa(context.connection)
        seen = Observation(
            VersionTable(context.version_table, context.version_table_schema),
            bool(getattr(context, "_transaction_per_migration", False)), target, given,
            runs=len(self.observations) + 1)
        self.observations.append(seen)
        return seen


def run_env(project: AlembicProject, fn: Callable[..., Any], watch: Watch, *,
            force: dict[str, Any] | None = None, **kw: Any) -> None:
    """Run the project's env.py with ``fn`` as the work function, instrumented by ``watch``.

    ``force`` overrides what env.py passes to ``context.configure`` (the preview uses it to
    render offline what the online run really does: the version table and transaction mode env.py
    configures online, which its offline branch may not repeat). A refusal raised inside env.py
    comes out as its RfsetupError.
    """
    from alembic.runtime.environment import EnvironmentContext

    script = project.script
    ctx = EnvironmentContext(project.config, script, fn=fn, dont_mutate=True, **kw)
    configure = ctx.configure

    def checked_configure(*args: Any, **kwargs: Any) -> None:
        # an instance attribute: Alembic's ``context`` proxy binds getattr(ctx, "configure")
        watch.check(kwargs.get("connection", args[0] if args else None))
        configure(*args, **{**kwargs, **(force or {})})

    ctx.configure = checked_configure  # type: ignore[method-assign]
    try:
        with ALEMBIC_LOCK, logging_restored(), ctx:
            script.run_env()
    except Refused as stop:
        raise stop.error from None
    if watch.refused is not None:  # env.py caught and replaced our refusal
        raise watch.refused


@contextlib.contextmanager
def logging_restored() -> Iterator[None]:
    """Give the process its logging back after env.py: a stock env.py calls
    ``logging.config.fileConfig``, which replaces the root handlers and disables every existing
    logger (in rfsetup's process: the TUI's, the test harness's)."""
    import logging

    root = logging.getLogger()
    saved_root = (root.level, root.handlers[:])
    loggers = {name: (lg.level, lg.handlers[:], lg.disabled, lg.propagate)
               for name, lg in logging.Logger.manager.loggerDict.items()
               if isinstance(lg, logging.Logger)}
    try:
        yield
    finally:
        root.setLevel(saved_root[0])
        root.handlers[:] = saved_root[1]
        for name, lg in logging.Logger.manager.loggerDict.items():
            if not isinstance(lg, logging.Logger):
                continue
            if name in loggers:
                lg.level, handlers, lg.disabled, lg.propagate = loggers[name]
                lg.handlers[:] = handlers
            else:  # a logger env.py's config made: leave it silent and handler-less
                lg.handlers[:] = []
                lg.propagate = True


@contextlib.contextmanager
def handed_connection(project: AlembicProject, url: URL, conn: PgConnection
                      ) -> Iterator[Connection]:
    """rfsetup's psycopg2 connection, as the SQLAlchemy Connection env.py is handed.

    A StaticPool keeps the DBAPI connection open when env.py is done with it: it may hold the
    migration lock, which the caller releases by closing it.
    """
    from sqlalchemy import create_engine
    from sqlalchemy.pool import StaticPool

    conn.autocommit = False  # Alembic manages the transactions on it
    engine = create_engine(url, poolclass=StaticPool, creator=lambda: conn)
    sa_conn = engine.connect()
    project.config.attributes["connection"] = sa_conn
    try:
        yield sa_conn
    finally:
        project.config.attributes.pop("connection", None)
        with contextlib.suppress(Exception):
            sa_conn.close()
        engine.dispose(close=False)
        with contextlib.suppress(Exception):
            conn.rollback()
            conn.autocommit = True


def probe(project: AlembicProject, url: URL, conn: PgConnection, expected: Target
          ) -> Observation:
    """Run env.py online with a work function that runs nothing, and report what it set up.

    Changes nothing: Alembic is told not to create the version table (``dont_mutate``).
    """
    watch = Watch(project_env_py(project), expected=expected, ours=conn)

    def nothing(heads: Any, context: Any) -> list[Any]:
        watch.observe(context)
        return []

    with handed_connection(project, url, conn):
        try:
            run_env(project, nothing, watch)
        except RfsetupError:
            raise
        except Exception as exc:
            raise env_failure(project, exc) from None
    if not watch.observations:
        raise bad_input(f"{project_env_py(project)} never ran the migrations online "
                        "(context.run_migrations() was not called)",
                        hint="check env.py's online branch (run_migrations_online)")
    first = watch.observations[0]
    if len(watch.observations) > 1:
        return Observation(first.version_table, first.transaction_per_migration,
                           first.target, first.given_connection, runs=len(watch.observations))
    return first


def project_env_py(project: AlembicProject) -> str:
    try:
        return str(project.env_py())
    except RfsetupError:
        return "env.py"


def env_failure(project: AlembicProject, exc: BaseException) -> RfsetupError:
    """env.py failed before any revision ran: name env.py and the cause, nothing changed."""
    from rfsetup.core.alembic.failures import db_error_text

    env_py = project_env_py(project)
    if _is_connect_failure(exc):
        return RfsetupError(f"{env_py} could not connect to its database; nothing was changed",
                            cause=_scrub(db_error_text(exc), project),
                            hint="env.py should connect through the connection or "
                                 "sqlalchemy.url rfsetup sets (see rfsetup status)",
                            exit_code=ExitCode.CONNECT, kind="env_connect_failed")
    return bad_input(f"{env_py} failed before any revision ran; nothing was changed",
                     cause=_scrub(f"{type(exc).__name__}: {_first_line(str(exc))}", project),
                     hint=f"fix {env_py} (the alembic CLI shows the same error)",
                     kind="env_failed")


def _is_connect_failure(exc: BaseException) -> bool:
    """A driver's failure to open a connection (psycopg2 through SQLAlchemy, or asyncpg)."""
    orig = getattr(exc, "orig", None) or exc
    if isinstance(orig, OSError):  # asyncpg: ConnectionRefusedError, socket.gaierror
        return True
    if type(orig).__module__.startswith("asyncpg") and "Authorization" in type(orig).__name__:
        return True
    text = str(orig).lower()
    return type(orig).__name__ == "OperationalError" and any(
        part in text for part in ("could not connect", "connection refused", "does not exist",
                                  "password authentication failed", "could not translate"))


def _scrub(text: str, project: AlembicProject) -> str:
    with contextlib.suppress(RfsetupError):
        password = project.settings.url().password
        if password:
            text = text.replace(str(password), "***")
    return text


def _first_line(text: str) -> str:
    for line in (text or "").strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def _entry(project: AlembicProject, url: URL) -> tuple[Any, str, Fingerprint, Any]:
    from rfsetup.core import projectcache as cache
    from rfsetup.core.projectcache import file_fingerprint
    from rfsetup.core.settings import libpq_params

    path = cache.cache_file(project.cache_dir, project.ini_path)
    key = cache.target_key(libpq_params(url))
    config = file_fingerprint(project.config_files())
    entry = (cache.read(path).get("observations") or {}).get(key)
    seen = None
    if entry and entry.get("config") == config:
        with contextlib.suppress(KeyError, TypeError, ValueError):
            seen = Observation.from_json(entry["observation"])
    return path, key, config, seen


def observed(project: AlembicProject, url: URL, conn: PgConnection, expected: Target,
             *, fresh: bool = False) -> Observation:
    """env.py's observation for this target: from the cache while the config files are
    unchanged, else by ``probe`` (then cached). ``fresh`` skips the cache."""
    from rfsetup.core import projectcache as cache

    path, key, config, seen = _entry(project, url)
    if seen is not None and not fresh:
        return seen
    seen = probe(project, url, conn, expected)
    cache.update(path, observations={key: {"config": config, "observation": seen.to_json()}})
    return seen


def cached_observation(project: AlembicProject) -> Observation | None:
    """The last observation for the settings' target, if still valid (no database needed)."""
    try:
        url = project.settings.url()
    except RfsetupError:
        return None
    return _entry(project, url)[3]


def forget(project: AlembicProject) -> None:
    """Drop every cached observation (env.py turned out to do something else)."""
    from rfsetup.core import projectcache as cache

    path = cache.cache_file(project.cache_dir, project.ini_path)
    doc = cache.read(path)
    if doc.pop("observations", None) is not None:
        cache.write(path, doc)
