"""Several environments side by side: every ``.env.*`` beside the .env, each one's status.

On-call's "which environments are behind?": the .env and its siblings (``.env.staging``,
``.env.production``…) are each read on their own — the DATABASE_URL and REDIS_URL exported in
the shell are ignored here, or every row would show the same server — and each target's
``StatusReport`` is read like ``rfsetup status`` reads one. A target that cannot be reached is
a row with its diagnosis, never an exception.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rfsetup.core.errors import RfsetupError

if TYPE_CHECKING:
    from rfsetup.core.settings import Settings
    from rfsetup.core.status import StatusReport

#: files beside the .env that are not targets: rfsetup's own (backup, lock, temp) and templates
_NOT_TARGETS = (".bak", ".lock", ".tmp", ".example", ".sample", ".template", ".dist", ".swp",
                "~")


@dataclass(frozen=True)
class Target:
    """One env file's target: its status, or why its settings could not be read."""

    env_file: Path
    #: why it is production (rfsetup.core.guard), or None
    production: str | None
    report: StatusReport | None
    error: RfsetupError | None = None

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return int(self.error.exit_code)
        assert self.report is not None
        db_error = self.report.database.error
        return int(db_error.exit_code) if db_error is not None else 0

    def to_json(self) -> dict[str, Any]:
        """One row of ``status --all --json``: the file, production, and ``status --json``."""
        return {"env_file": str(self.env_file), "production": self.production is not None,
                "production_reason": self.production,
                "status": self.report.to_json() if self.report is not None else None,
                "error": self.error.to_dict() if self.error is not None else None}


def env_files_beside(env_file: Path) -> list[Path]:
    """The .env itself (when it exists) and every ``.env.*`` regular file in its folder, minus
    backups, locks, temp files and templates (``.env.example``), sorted by name."""
    folder = env_file.parent
    base = env_file.name
    found = [env_file] if env_file.is_file() else []
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return found
    for path in entries:
        name = path.name
        if not name.startswith(base + ".") or name.lower().endswith(_NOT_TARGETS):
            continue
        if path.is_file() and path != env_file:
            found.append(path)
    return found


def _environ_without_urls(environ: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}


def collect_all(settings: Settings, environ: Mapping[str, str] | None = None) -> list[Target]:
    """The status of every env file beside ``settings.env_file``, one after the other (env.py
    is observed in-process, which is not safe in threads), each against the same alembic.ini.
    """
    from rfsetup.core.settings import load_settings
    from rfsetup.core.status import collect_status

    env = _environ_without_urls(os.environ if environ is None else environ)
    targets: list[Target] = []
    for path in env_files_beside(Path(settings.env_file)):
        try:
            one = load_settings(path, settings.alembic_ini, environ=env,
                                cwd=settings.state_dir.parent)
        except RfsetupError as exc:  # an unreadable file, a bad RFSETUP_* value
            targets.append(Target(path, None, None, exc))
            continue
        targets.append(Target(path, one.production, collect_status(one)))
    return targets
