"""The end of a guided setup: is it ready, what was set up, where it points, and what keeps
running. One document for ``rfsetup setup``'s last word and the TUI's ready summary.

Read, not assumed: the status (revision against head, the tables), the seed (a dry run finds
nothing to do), Redis, and the sandbox's processes. DATABASE_URL is shown as the .env holds it
(the app's form, password masked) when the .env is where it comes from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rfsetup.core.errors import RfsetupError
from rfsetup.core.redact import mask_url

if TYPE_CHECKING:
    from rfsetup.core.sandbox import SandboxInfo
    from rfsetup.core.settings import Settings
    from rfsetup.core.status import StatusReport


@dataclass(frozen=True)
class Ready:
    """What a finished setup has; ``problems`` is what still stands in the way (empty:
    ready)."""

    database_url: str | None
    #: where DATABASE_URL comes from: the .env's path, "environment", "sandbox"…
    url_source: str | None
    database: str | None
    revision: tuple[str, ...]
    heads: tuple[str, ...]
    tables: int
    expected: int
    missing: tuple[str, ...]
    #: core.seeding.is_seeded (None: the project has no seed)
    seeded: bool | None
    redis_url: str | None
    redis_version: str | None
    env_file: Path
    sandbox: SandboxInfo | None = None
    problems: tuple[str, ...] = field(default_factory=tuple)
    #: worth knowing, in the way of nothing (the doctor's warnings)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ready(self) -> bool:
        return not self.problems

    def headline(self) -> list[str]:
        """"Ready: …", or "Not ready yet:" and each problem."""
        if self.ready:
            seeded = " and seeded" if self.seeded else ""
            return [f"✓ Ready: database {self.database} is migrated to head{seeded}."]
        return ["! Not ready yet:", *(f"  - {problem}" for problem in self.problems)]

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs: what was set up and where it points (passwords masked)."""
        rows = []
        shown_source = f" (from {self.url_source})" if self.url_source else ""
        rows.append(("DATABASE_URL", f"{self.database_url or '(not set)'}{shown_source}"))
        at = ", ".join(self.revision) or "base (nothing applied)"
        rows.append(("revision", f"{at}{' (head)' if self.revision == self.heads else ''}"))
        tables = f"{self.tables} tables"
        if self.expected:
            tables = f"{self.expected - len(self.missing)} of the {self.expected} tables the " \
                     "models define"
        if self.seeded is not None:
            tables += "; the plans seeded" if self.seeded else "; the plans NOT seeded"
        rows.append(("tables", tables))
        if self.redis_url:
            version = f" (Redis {self.redis_version})" if self.redis_version else \
                " (not reachable)"
            rows.append(("REDIS_URL", f"{self.redis_url}{version}"))
        rows.append((".env", str(self.env_file)))
        box = self.sandbox
        if box is not None and box.running:
            rows.append(("sandbox", f"still running (PostgreSQL pid {box.postgres_pid}, "
                                    f"Redis pid {box.redis_pid}; data in {box.data_dir})"))
            rows.append(("", "stop it: rfsetup sandbox stop  (the data is kept; rfsetup "
                             "sandbox start brings it back)"))
        elif box is not None:
            rows.append(("sandbox", "not running: rfsetup sandbox start"))
        rows.extend(("!", note) for note in self.notes)
        return rows

    def lines(self) -> list[str]:
        """The summary as lines of text (what ``rfsetup setup`` prints)."""
        return [*self.headline(), *(f"  {label:<13} {value}" for label, value in self.rows())]

    def to_json(self) -> dict[str, Any]:
        box = self.sandbox
        return {
            "ready": self.ready, "problems": list(self.problems), "notes": list(self.notes),
            "database_url": self.database_url, "database_url_source": self.url_source,
            "database": self.database, "current": list(self.revision),
            "heads": list(self.heads), "tables": self.tables,
            "missing_tables": list(self.missing), "seeded": self.seeded,
            "redis_url": self.redis_url, "env_file": str(self.env_file),
            "sandbox": box.to_json() if box is not None else None,
        }


def _env_database_url(settings: Settings) -> tuple[str | None, str | None]:
    """DATABASE_URL as the user's files say it (masked), and where from."""
    from rfsetup.core.settings import read_env_values

    source = settings.sources.get("DATABASE_URL")
    raw = settings.database_url
    if source == "sandbox":
        # what the guided sandbox path wrote to the .env, when it did
        try:
            written = read_env_values(settings.env_file).get("DATABASE_URL")
        except RfsetupError:
            written = None
        if written:
            return mask_url(written), str(settings.env_file)
    return (mask_url(raw) if raw else None), source


def readiness(settings: Settings, report: StatusReport | None = None) -> Ready:
    """Read what a finished setup should have; ``report`` is a StatusReport already read
    (the TUI's last one), else one is read now."""
    from rfsetup.core import sandbox as sandbox_mod
    from rfsetup.core.seeding import is_seeded
    from rfsetup.core.status import collect_status

    report = report if report is not None else collect_status(settings)
    expected = settings.profile.expected_tables()
    present = {t.name for t in report.tables}
    missing = tuple(name for name in expected if name not in present)
    problems: list[str] = []
    db = report.database
    seeded: bool | None = None
    if not db.reachable:
        why = f": {db.error.message}" if db.error is not None else ""
        problems.append(f"the database cannot be reached{why}")
    else:
        if report.pending:
            problems.append(f"{report.pending} revision(s) pending: rfsetup migrate up")
        elif not report.at_head:
            problems.append("the database is not at the scripts' head: rfsetup status")
        if missing:
            problems.append(f"tables missing: {', '.join(missing)} (rfsetup migrate up)")
        try:
            seeded = is_seeded(settings)
        except RfsetupError as exc:
            problems.append(f"the seed cannot be checked: {exc.message}")
        if seeded is False:
            problems.append("the plans are not seeded: rfsetup seed")
    redis = report.redis
    if redis is not None and not redis.reachable:
        problems.append(f"Redis at {redis.url} is not reachable: {redis.error}")
    box = None
    if settings.sandbox or settings.sources.get("DATABASE_URL") == "sandbox":
        box = sandbox_mod.status(settings)
    url, source = _env_database_url(settings)
    return Ready(
        database_url=url, url_source=source, database=db.name, revision=report.current,
        heads=report.heads, tables=len(report.tables), expected=len(expected),
        missing=missing, seeded=seeded, redis_url=redis.url if redis else None,
        redis_version=redis.version if redis and redis.reachable else None,
        env_file=settings.env_file, sandbox=box, problems=tuple(problems))
