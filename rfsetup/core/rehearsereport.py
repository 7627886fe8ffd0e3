"""What a rehearsal found, per revision and overall; its JSON and its text (CLI and TUI).

``RehearsalReport.passed``: every revision went up, down and up again on the copy, the schema
after up→down→up is the schema after the first up, and the down phase brought back the schema
the database has now. squawk's findings inform; they do not fail a rehearsal (as in ``migrate
preview --lint``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from rfsetup.core.rehearsewatch import EFFECT
from rfsetup.core.versiontable import describe_revisions

if TYPE_CHECKING:
    from rfsetup.core.alembic.squawk import LintFinding
    from rfsetup.core.errors import RfsetupError
    from rfsetup.core.rehearsewatch import LockTaken, RowsTouched

Phase = Literal["up", "down", "again"]
PHASES: tuple[Phase, ...] = ("up", "down", "again")
PHASE_TITLE = {"up": "up", "down": "down", "again": "up again"}


@dataclass(frozen=True)
class StepRun:
    """One revision run once on the copy: how long, which locks, which rows."""

    revision: str
    phase: Phase
    seconds: float
    locks: tuple[LockTaken, ...] = ()
    rows: tuple[RowsTouched, ...] = ()
    #: the run failed: what the runner said (the database is the copy)
    error: RfsetupError | None = None

    def to_json(self) -> dict[str, Any]:
        return {"revision": self.revision, "phase": self.phase,
                "seconds": round(self.seconds, 4), "locks": [x.to_json() for x in self.locks],
                "rows": [r.to_json() for r in self.rows],
                "error": self.error.to_dict() if self.error else None}


@dataclass(frozen=True)
class RevisionReport:
    revision: str
    message: str
    runs: dict[Phase, StepRun] = field(default_factory=dict)
    findings: tuple[LintFinding, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"revision": self.revision, "message": self.message,
                **{phase: (self.runs[phase].to_json() if phase in self.runs else None)
                   for phase in PHASES},
                "lint": [f.to_json() for f in self.findings]}


@dataclass(frozen=True)
class RehearsalReport:
    """The whole rehearsal. ``copy`` is empty when nothing was pending (no copy was made)."""

    database: str
    copy: str
    method: str
    from_revisions: tuple[str, ...]
    to_revisions: tuple[str, ...]
    revisions: tuple[RevisionReport, ...]
    #: the schema after up→down→up equals the schema after the first up (None: not reached)
    round_trip_same: bool | None = None
    round_trip_diff: str = ""
    #: the schema after the down phase equals the database's schema before (None: not reached)
    down_restores: bool | None = None
    down_diff: str = ""
    #: why there are no squawk findings (squawk missing…), or the timeout note
    lint_note: str | None = None
    failure: RfsetupError | None = None
    copy_dropped: bool = True
    #: rehearsal copies of earlier, killed rehearsals found on the server (not dropped)
    leftovers: tuple[str, ...] = ()
    seconds: float = 0.0
    copy_seconds: float = 0.0

    @property
    def nothing_pending(self) -> bool:
        return not self.revisions

    @property
    def passed(self) -> bool:
        return self.failure is None and self.round_trip_same is not False and \
            self.down_restores is not False and self.copy_dropped

    def to_json(self) -> dict[str, Any]:
        return {"database": self.database, "copy": self.copy, "copy_method": self.method,
                "from_revisions": list(self.from_revisions),
                "to_revisions": list(self.to_revisions), "passed": self.passed,
                "revisions": [r.to_json() for r in self.revisions],
                "round_trip_same": self.round_trip_same, "round_trip_diff": self.round_trip_diff,
                "down_restores": self.down_restores, "down_diff": self.down_diff,
                "lint_note": self.lint_note,
                "failure": self.failure.to_dict() if self.failure else None,
                "copy_dropped": self.copy_dropped, "leftovers": list(self.leftovers),
                "seconds": round(self.seconds, 3), "copy_seconds": round(self.copy_seconds, 3)}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def rows_text(rows: tuple[RowsTouched, ...]) -> str:
    """``plans +3, users ~1 -2``: inserted, updated, deleted."""
    return ", ".join(
        f"{r.table.removeprefix('public.')} " + " ".join(
            t for t in (f"+{r.inserted}" if r.inserted else "",
                        f"~{r.updated}" if r.updated else "",
                        f"-{r.deleted}" if r.deleted else "") if t)
        for r in rows)


def locks_text(locks: tuple[LockTaken, ...]) -> str:
    """``organizations, users SHARE ROW EXCLUSIVE (writes wait)``, strongest first."""
    from rfsetup.core.rehearsewatch import MODES

    by_mode: dict[str, list[str]] = {}
    for lock in locks:
        by_mode.setdefault(lock.mode, []).append(lock.relation)
    order = sorted(by_mode, key=lambda m: -MODES.index(m) if m in MODES else 0)
    return "; ".join(f"{', '.join(by_mode[m])} {lock_mode(m)} ({EFFECT.get(m, '')})"
                     for m in order)


def lock_mode(mode: str) -> str:
    """``AccessExclusiveLock`` -> ``ACCESS EXCLUSIVE`` (the words of LOCK TABLE)."""
    import re

    return " ".join(re.findall(r"[A-Z][a-z]+", mode.removesuffix("Lock"))).upper()


def report_lines(report: RehearsalReport) -> list[str]:
    """The report as plain lines (the CLI prints them; the TUI styles them)."""
    if report.nothing_pending:
        return [f"nothing to rehearse: database {report.database} is at "
                f"{describe_revisions(report.from_revisions)} and no revision is pending"]
    how = "a template copy" if report.method == "template" else "pg_dump | pg_restore"
    lines = [f"rehearsal of database {report.database}: "
             f"{describe_revisions(report.from_revisions)} → "
             f"{describe_revisions(report.to_revisions)} "
             f"({_count(len(report.revisions), 'revision')})",
             f"on the copy {report.copy} ({how}, {report.copy_seconds:.1f}s)"]
    for rev in report.revisions:
        lines.append("")
        lines.append(f"{rev.revision}  {rev.message}".rstrip())
        times = [f"{PHASE_TITLE[p]} {rev.runs[p].seconds:.2f}s" for p in PHASES
                 if p in rev.runs and rev.runs[p].error is None]
        if times:
            lines.append("  " + " · ".join(times))
        for phase in PHASES:
            run = rev.runs.get(phase)
            if run is None:
                continue
            label = PHASE_TITLE[phase]
            if run.error is not None:
                lines.append(f"  {label} FAILED: {run.error.message}")
                continue
            if run.locks and phase != "again":
                lines.append(f"  {label} locks: {locks_text(run.locks)}")
            if run.rows:
                lines.append(f"  {label} rows: {rows_text(run.rows)}")
        lines += _findings_lines(rev.findings)
    lines.append("")
    lines += verdict_lines(report)
    return lines


def _findings_lines(findings: tuple[LintFinding, ...]) -> list[str]:
    """squawk's findings, one line per rule and message with the lines it is at."""
    grouped: dict[tuple[str, str, str], list[int]] = {}
    for f in findings:
        grouped.setdefault((f.level, f.rule, f.message), []).extend([f.line] if f.line else [])
    out = []
    for (level, rule, message), at in grouped.items():
        where = f" (line{'s' if len(at) > 1 else ''} {', '.join(map(str, at))})" if at else ""
        out.append(f"  squawk {level} {rule}{where}: {message}")
    return out


def verdict_lines(report: RehearsalReport) -> list[str]:
    """The closing facts: failure, round trip, down, lint note, the copy."""
    lines: list[str] = []
    if report.failure is not None:
        lines.append(f"✗ {report.failure.message}")
        if report.failure.cause:
            lines.append(f"  cause: {report.failure.cause}")
    if report.round_trip_same is True:
        lines.append("✓ the schema after up → down → up is the schema after the first up")
    elif report.round_trip_same is False:
        lines.append("✗ the schema after up → down → up differs from the schema after the "
                     "first up (the downgrades do not undo what the upgrades did):")
        lines += ["    " + ln for ln in report.round_trip_diff.rstrip("\n").splitlines()]
    if report.down_restores is True:
        lines.append(f"✓ down brings the schema back to what database {report.database} has "
                     "now")
    elif report.down_restores is False:
        lines.append(f"✗ down leaves a schema different from what database {report.database} "
                     "has now (the downgrades leave something behind, or remove too much):")
        lines += ["    " + ln for ln in report.down_diff.rstrip("\n").splitlines()]
    if report.lint_note:
        lines.append(f"note: {report.lint_note}")
    if report.copy_dropped:
        lines.append(f"the copy {report.copy} was dropped; database {report.database} was "
                     "only read")
    else:
        lines.append(f"! the copy {report.copy} could not be dropped: DROP DATABASE "
                     f"\"{report.copy}\" WITH (FORCE);")
    for name in report.leftovers:
        lines.append(f"note: {name} is left from an earlier rehearsal that was killed; drop "
                     f"it: DROP DATABASE \"{name}\";")
    lines.append(f"total {report.seconds:.1f}s")
    return lines
