"""Session fixtures: a real embedded PostgreSQL and Redis, a fresh database per writing test,
and (where Debian's ``pgbouncer`` is installed) PgBouncer in front of that PostgreSQL.

No mocks: the servers are the same ``EmbeddedPostgres``/``EmbeddedRedis`` the sandbox uses,
listening on 127.0.0.1 with SCRAM password auth, so connection failures are the real ones.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql

from rfsetup.core.embedded import EmbeddedPostgres, EmbeddedRedis

REPO_ROOT = Path(__file__).resolve().parent.parent
ALEMBIC_INI = REPO_ROOT / "alembic.ini"

# The tests must not pick up a developer's own DATABASE_URL / REDIS_URL, keymap or config file
# (the app reads $XDG_CONFIG_HOME/rfsetup/config.toml and saves the theme there).
for _key in ("DATABASE_URL", "REDIS_URL", "RFSETUP_KEYMAP", "RFSETUP_CONFIG"):
    os.environ.pop(_key, None)
_CONFIG_HOME = tempfile.mkdtemp(prefix="rfsetup-tests-config-")
os.environ["XDG_CONFIG_HOME"] = _CONFIG_HOME

# Test servers trade durability for speed; the behaviour under test is unaffected.
FAST = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
        "max_connections": "60"}


def pytest_configure(config: pytest.Config) -> None:
    # A private base temp dir per run: pytest prunes old /tmp/pytest-of-<user>/pytest-N dirs, which
    # would delete the live data directory of a concurrent run's embedded servers.
    if not config.option.basetemp:
        config.option.basetemp = tempfile.mkdtemp(prefix="rfsetup-tests-")
        config._rfsetup_basetemp = config.option.basetemp  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    own = getattr(config, "_rfsetup_basetemp", None)
    if own:
        shutil.rmtree(own, ignore_errors=True)
    shutil.rmtree(_CONFIG_HOME, ignore_errors=True)


@dataclass
class PgTestServer:
    """The session's PostgreSQL plus helpers to make and drop databases on it."""

    server: EmbeddedPostgres

    @property
    def port(self) -> int:
        assert self.server.port is not None
        return self.server.port

    def admin_url(self, database: str = "postgres") -> str:
        return self.server.url(database)

    def admin_connect(self, database: str = "postgres") -> psycopg2.extensions.connection:
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres",
                                password=self.server.superuser_password, dbname=database)
        conn.autocommit = True
        return conn

    def create_database(self, name: str | None = None) -> str:
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        self._admin_execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def clone_database(self, template: str) -> str:
        """A copy of ``template`` (which must have no open connections); returns its name."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self._admin_execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)))
        return name

    def drop_database(self, name: str) -> None:
        self._admin_execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))

    def drop_role(self, name: str) -> None:
        """Drop a role a test made (drop the databases it owns first)."""
        self._admin_execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))

    def _admin_execute(self, statement: sql.Composable) -> None:
        # not `with conn`: psycopg2's connection context opens a transaction block, which
        # CREATE/DROP DATABASE refuse even in autocommit mode
        conn = self.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()

    def url(self, database: str, scheme: str = "postgresql+psycopg2") -> str:
        return self.admin_url(database).replace("postgresql+psycopg2://", f"{scheme}://", 1)


@pytest.fixture(scope="session")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgTestServer]:
    """One embedded PostgreSQL for the session (started here, stopped at the end)."""
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg"), server_settings=FAST)
    server.start()
    try:
        yield PgTestServer(server)
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """One embedded Redis for the session."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_db(pg: PgTestServer) -> Iterator[str]:
    """A new empty database; yields its psycopg2 URL (superuser), dropped afterwards."""
    name = pg.create_database()
    try:
        yield pg.url(name)
    finally:
        pg.drop_database(name)


@pytest.fixture
def names(pg: PgTestServer) -> Iterator[tuple[str, str]]:
    """A unique (database, role) pair whose names need quoting; both dropped afterwards."""
    tag = uuid.uuid4().hex[:8]
    db, role = f"raptor db {tag}", f'Raptor "Ops" {tag}'
    yield db, role
    pg.drop_database(db)
    pg.drop_role(role)


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding a copy-free view of the repo's alembic project.

    rfsetup writes its state (backups, sandbox) under ./.rfsetup, so each test runs in its own
    directory; alembic.ini is referenced by absolute path through -c / Settings.
    """
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- PgBouncer -------------------------------------------------------------------------------------
PGBOUNCER_MISSING = ("pgbouncer is not installed (Debian: apt-get install pgbouncer; .ci/run "
                     "installs it when it runs as root)")


def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or next(
        (str(p) for p in (Path("/usr/sbin/pgbouncer"), Path("/usr/bin/pgbouncer"))
         if p.is_file()), None)


@dataclass
class PgBouncer:
    """Two real PgBouncer instances in front of the session's PostgreSQL: one in transaction
    mode (as Supabase's 6543, pgcat, RDS Proxy behave), one in session mode. Every database of
    the server is reachable through both (``* =``), as the test superuser (SCRAM)."""

    pg: PgTestServer
    ports: dict[str, int]

    def url(self, database: str, mode: str = "transaction") -> str:
        """``pg.url(database)`` through the ``mode`` ("transaction" or "session") instance."""
        direct = self.pg.url(database)
        return direct.replace(f":{self.pg.port}/", f":{self.ports[mode]}/", 1)


def _run_user() -> str | None:
    """PgBouncer refuses to run as root: the unprivileged user it runs as then."""
    if os.geteuid() != 0:
        return None
    import pwd

    for name in ("pgserver", "postgres", "nobody"):  # pgserver: the test PostgreSQL's own
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("no unprivileged user to run pgbouncer as")


def _start_pgbouncer(binary: str, pg: PgTestServer, mode: str) -> tuple[int, int, Path]:
    """A daemonised PgBouncer (so it is no child of the test process, whose children some tests
    count): (its pid, its port, its folder)."""
    from rfsetup.core.embedded import free_port

    folder = Path(tempfile.mkdtemp(prefix=f"rfsetup-pgbouncer-{mode}-"))  # 0700
    port = free_port()
    quoted = pg.server.superuser_password.replace('"', '""')
    (folder / "users.txt").write_text(f'"postgres" "{quoted}"\n')
    (folder / "pgbouncer.ini").write_text(f"""\
[databases]
* = host=127.0.0.1 port={pg.port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {folder}/users.txt
pool_mode = {mode}
default_pool_size = 10
max_client_conn = 200
logfile = {folder}/pgbouncer.log
pidfile = {folder}/pgbouncer.pid
""")
    argv = [binary, "--daemon", "--quiet", str(folder / "pgbouncer.ini")]
    user = _run_user()
    if user is not None:  # its folder (config, password, log, pidfile) is that user's, 0700
        import pwd

        entry = pwd.getpwnam(user)
        for path in (folder, *folder.iterdir()):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        argv[1:1] = ["--user", user]
    started = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    log = folder / "pgbouncer.log"
    deadline = time.monotonic() + 15
    while True:
        try:
            psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                             password=pg.server.superuser_password, connect_timeout=2).close()
            return int((folder / "pgbouncer.pid").read_text().split()[0]), port, folder
        except (psycopg2.OperationalError, FileNotFoundError, ValueError) as exc:
            if started.returncode != 0 or time.monotonic() > deadline:
                detail = log.read_text() if log.exists() else started.stderr
                raise RuntimeError(f"pgbouncer ({mode}) did not start: {exc}\n{detail}") from None
            time.sleep(0.1)


def _stop_pgbouncer(pid: int) -> None:
    import signal

    import psutil

    from tests.helpers.procs import wait_gone

    try:
        if psutil.Process(pid).name() != "pgbouncer":
            return  # not ours any more
        os.kill(pid, signal.SIGTERM)
    except (psutil.NoSuchProcess, ProcessLookupError):
        return
    if wait_gone([pid], timeout=10):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def pgbouncer(pg: PgTestServer) -> Iterator[PgBouncer]:
    """PgBouncer 1.18+ in transaction and in session mode (skipped when not installed)."""
    binary = pgbouncer_binary()
    if binary is None:
        pytest.skip(PGBOUNCER_MISSING)
    started: dict[str, tuple[int, int, Path]] = {}
    try:
        for mode in ("transaction", "session"):
            started[mode] = _start_pgbouncer(binary, pg, mode)
        yield PgBouncer(pg, {mode: port for mode, (_, port, _) in started.items()})
    finally:
        for pid, _, folder in started.values():
            _stop_pgbouncer(pid)
            shutil.rmtree(folder, ignore_errors=True)
