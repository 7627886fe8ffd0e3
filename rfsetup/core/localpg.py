"""What PostgreSQL this machine has, read from disk: the facts a "connection refused" remedy needs.

A refused port on this machine is answered by what is installed here: a server (``pg_ctl``
on PATH, in ``/usr/lib/postgresql/*/bin``, Homebrew, Postgres.app, ``C:/Program Files``), its
service (a systemd unit, a Homebrew formula, Debian's clusters and the ports they are set to),
pgserver's bundled server (the sandbox's), and whether the target is this project's sandbox.
Only files are looked at (no process is started), so this is cheap enough for every diagnosis.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

#: where a server's pg_ctl lives, per OS family (client-only packages have no pg_ctl)
SERVER_BIN_PATTERNS: dict[str, tuple[str, ...]] = {
    "Linux": ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin"),
    "Darwin": ("/opt/homebrew/opt/postgresql@*/bin", "/opt/homebrew/opt/postgresql/bin",
               "/usr/local/opt/postgresql@*/bin", "/usr/local/opt/postgresql/bin",
               "/Applications/Postgres.app/Contents/Versions/*/bin"),
    "Windows": ("C:/Program Files/PostgreSQL/*/bin",),
}
_UNIT_DIRS = ("/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")
_DEBIAN_CONF = "/etc/postgresql/*/*/postgresql.conf"
_PORT_LINE = re.compile(r"^\s*port\s*=\s*(\d+)", re.MULTILINE)
_VERSION_IN_PATH = re.compile(r"(?:postgresql[@/-]|pgsql-|Versions/|PostgreSQL/)(\d+)")
#: the sandbox's PostgreSQL lives in ``<sandbox dir>/postgres`` (``rfsetup.core.sandbox``),
#: its port in ``rfsetup.port`` there (``rfsetup.core.embedded``)
SANDBOX_PORT_FILE = Path("postgres") / "rfsetup.port"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "")


@dataclass(frozen=True)
class Cluster:
    """A Debian/Ubuntu cluster (``pg_lsclusters``): version, name and the port it is set to."""

    version: str
    name: str
    port: int | None


@dataclass(frozen=True)
class LocalPostgres:
    """The PostgreSQL found on this machine (empty lists: none of that kind)."""

    #: directories holding a server's pg_ctl (PATH's first), newest version first
    server_dirs: tuple[Path, ...] = ()
    #: systemd units named postgresql*.service
    units: tuple[str, ...] = ()
    #: whether systemd runs this machine (a container usually has units but no systemd)
    systemd: bool = False
    clusters: tuple[Cluster, ...] = ()
    #: pgserver's bundled binaries (the sandbox's server), when installed
    embedded: Path | None = None
    debian_tools: bool = False
    versions: tuple[str, ...] = field(default=())

    @property
    def has_server(self) -> bool:
        """A PostgreSQL server is installed (pgserver's bundle not counted)."""
        return bool(self.server_dirs or self.units or self.clusters)

    @property
    def anything(self) -> bool:
        """Any PostgreSQL server at all, pgserver's bundle included."""
        return self.has_server or self.embedded is not None


def find(os_family: str) -> LocalPostgres:
    """What this machine has, for the OS family (Windows, Darwin or Linux)."""
    dirs: list[Path] = []
    exe = "pg_ctl.exe" if os_family == "Windows" else "pg_ctl"
    on_path = shutil.which("pg_ctl")
    if on_path:
        dirs.append(Path(on_path).resolve().parent)
    for pattern in SERVER_BIN_PATTERNS.get(os_family, ()):
        dirs.extend(Path(p) for p in sorted(glob.glob(pattern), key=_version_key, reverse=True))
    embedded = _embedded_bin_dir()
    unique: list[Path] = []
    for d in dirs:
        if d not in unique and (d / exe).is_file() and d != embedded:
            unique.append(d)
    units: list[str] = []
    clusters: list[Cluster] = []
    if os_family == "Linux":
        units = sorted({Path(p).name for d in _UNIT_DIRS
                        for p in glob.glob(f"{d}/postgresql*.service")})
        clusters = _debian_clusters()
    versions = sorted({v for d in unique if (v := _version_of(d))} |
                      {c.version for c in clusters}, key=_int_or_zero, reverse=True)
    return LocalPostgres(
        server_dirs=tuple(unique), units=tuple(units), systemd=Path("/run/systemd/system").is_dir(),
        clusters=tuple(clusters), embedded=embedded,
        debian_tools=shutil.which("pg_ctlcluster") is not None, versions=tuple(versions))


def _embedded_bin_dir() -> Path | None:
    from rfsetup.core.embedded import postgres_bin_dir

    try:
        found = postgres_bin_dir()
    except Exception:  # a broken pgserver install: as if it were absent
        return None
    return found.resolve() if found is not None else None


def _debian_clusters() -> list[Cluster]:
    clusters = []
    for conf in sorted(glob.glob(_DEBIAN_CONF)):
        path = Path(conf)
        try:
            match = _PORT_LINE.search(path.read_text(errors="replace"))
        except OSError:
            match = None
        clusters.append(Cluster(path.parent.parent.name, path.parent.name,
                                int(match.group(1)) if match else None))
    return clusters


def _version_of(path: Path) -> str | None:
    match = _VERSION_IN_PATH.search(path.as_posix())
    return match.group(1) if match else None


def _int_or_zero(text: str) -> int:
    return int(text) if text.isdigit() else 0


def _version_key(path: str) -> int:
    return _int_or_zero(_version_of(Path(path)) or "")


def is_local(host: str | None) -> bool:
    """Whether ``host`` is this machine (a socket directory counts)."""
    if host is None or host.startswith("/") or host.startswith("@"):
        return True
    name = host.strip("[]").lower()
    if name in LOCAL_HOSTS or name.startswith("127."):
        return True
    try:
        import socket

        return name == socket.gethostname().lower()
    except OSError:
        return False


def sandbox_port(sandbox_dir: Path) -> int | None:
    """The port this project's sandbox was last started on (None: never started here)."""
    try:
        return int((sandbox_dir / SANDBOX_PORT_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def is_sandbox_target(host: str | None, port: int | None, sandbox_dir: Path) -> bool:
    """The target is this project's sandbox: its port on this machine, or its socket dir."""
    if host is not None and host.startswith("/"):
        try:
            return Path(host).resolve().is_relative_to((sandbox_dir / "postgres").resolve())
        except OSError:
            return False
    known = sandbox_port(sandbox_dir)
    return known is not None and port == known and is_local(host) and host is not None


def is_sandbox_redis(redis_url: str | None, sandbox_dir: Path) -> bool:
    """REDIS_URL names this project's sandbox Redis (its port, last started here, on this
    machine)."""
    from urllib.parse import urlsplit

    if not redis_url:
        return False
    try:
        parts = urlsplit(redis_url)
        port = parts.port
        known = int((sandbox_dir / "redis" / "rfsetup.port").read_text().strip())
    except (OSError, ValueError):
        return False
    return port == known and parts.hostname is not None and is_local(parts.hostname)


def default_sandbox_dir() -> Path:
    """Where ``rfsetup`` run here keeps its sandbox (``Settings.sandbox_dir`` for this
    working directory), for a diagnosis made without the settings at hand."""
    from rfsetup.core.settings import STATE_DIR

    return Path(os.getcwd()) / STATE_DIR / "sandbox"
