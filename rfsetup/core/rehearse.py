"""Rehearse the pending migrations on a throwaway copy: "what will this do to production?"

``rehearse`` reads the target (its revision, env.py's observation: read-only), plans the move
with ``planning.make_plan``, copies the database (``rehearsecopy``), and runs the real runner
(``alembic.runner.run``) against the copy: every pending revision up, then each down again
(newest first), then up again, one revision per run so that each one's time, locks and rows
(``rehearsewatch``) are its own. The schema is dumped before, after the first up, after the
down and after the second up, and compared. squawk lints the upgrade's SQL. The copy is dropped
at the end — also after a failure, a Ctrl-C (``cancel``, or KeyboardInterrupt) or SIGTERM.

The target database is never written: the copy is made by a template copy or pg_dump (both
read-only on the source), and the runner runs with the copy as its target, so the same
env.py check that guards every migration refuses an env.py that would connect to the real
database instead.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rfsetup.core import locking
from rfsetup.core.alembic import planning
from rfsetup.core.alembic.project import AlembicProject
from rfsetup.core.connect import connect
from rfsetup.core.errors import ExitCode, RfsetupError
from rfsetup.core.rehearsecopy import (
    CopyMethod,
    copy_name,
    create_copy,
    drop_copy,
    leftovers,
    maker,
    unreachable_copy_error,
)
from rfsetup.core.rehearsereport import Phase, RehearsalReport, RevisionReport, StepRun
from rfsetup.core.rehearsewatch import (
    LockSampler,
    existing_relations,
    rows_touched,
    schema_diff,
    schema_text,
    table_counters,
    wait_sessions_gone,
)
from rfsetup.core.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from rfsetup.core.alembic.observe import Observation
    from rfsetup.core.alembic.squawk import LintFinding

Progress = Callable[[str], None]
__all__ = ["RehearsalReport", "rehearse"]


def rehearse(settings: Settings, target: str | None = None, *, admin_url: URL | None = None,
             method: CopyMethod = "auto", on_progress: Progress | None = None,
             cancel: threading.Event | None = None) -> RehearsalReport:
    """Rehearse the upgrade to ``target`` (default head) on a copy; see the module docstring.

    Raises RfsetupError before a copy exists (bad target, unreachable, a role that may not
    create databases: exit 1 with the fix), and kind ``interrupted`` (exit 130) after Ctrl-C,
    the copy dropped. A revision failing on the copy is a finding: it is in the report.
    """
    say = on_progress or (lambda _line: None)
    target = target or "head"
    project = AlembicProject.load(settings)
    planning.check_target(project, target, "up")
    url = settings.url()
    source = str(url.database)
    current, seen, server = _read_target(settings, project)
    plan, _steps = planning.make_plan(project, "up", target, current)
    if not plan.steps:
        return RehearsalReport(source, "", "", current, current, ())
    findings, note = _lint(project, target, current, seen, locking.session_timeouts(settings))
    started = time.monotonic()
    name = copy_name(source)
    with maker(url, admin_url) as mk:
        old = tuple(leftovers(mk.conn))
        work = _Rehearsal(settings, project, plan, url.set(database=name), seen, server,
                          say, cancel)
        failure: RfsetupError | None = None
        report: RehearsalReport | None = None
        try:
            method_used = create_copy(mk, source, name, method=method, on_progress=say,
                                      cancel=cancel, bin_dir=settings.pg_bindir)
            work.copy_seconds = time.monotonic() - started
            report = work.run(name, method_used)
        except KeyboardInterrupt:
            failure = _interrupted(source, name)
        except RfsetupError as exc:
            failure = _interrupted(source, name) if exc.kind == "interrupted" else exc
        except Exception:
            # a second Ctrl-C lands wherever a statement is waiting: psycopg2 cancels it on
            # the server and raises QueryCanceled there, in the runner or in the watching
            if cancel is None or not cancel.is_set():
                raise
            failure = _interrupted(source, name)
        finally:
            dropped = _drop(mk.url, name, say)
    if failure is not None:
        if failure.exit_code == ExitCode.INTERRUPTED or not dropped:
            raise failure
        raise RfsetupError(failure.message, cause=failure.cause, hint=_dropped_hint(
            failure.hint, name), kind=failure.kind, exit_code=failure.exit_code)
    assert report is not None
    if not dropped:
        raise unreachable_copy_error(name, RfsetupError("the server did not drop it"))
    report = replace(report, leftovers=old, seconds=time.monotonic() - started,
                     copy_seconds=work.copy_seconds, copy_dropped=True,
                     revisions=tuple(replace(r, findings=tuple(
                         f for f in findings if f.revision == r.revision))
                         for r in report.revisions), lint_note=note)
    return report


def _read_target(settings: Settings, project: AlembicProject
                 ) -> tuple[tuple[str, ...], Observation, int]:
    from rfsetup.core.alembic import reading

    with reading(settings, project) as r:
        return r.current, r.observation, int(r.conn.server_version)


def _lint(project: AlembicProject, target: str, current: tuple[str, ...],
          seen: Observation, timeouts: dict[str, str]) -> tuple[list[LintFinding], str | None]:
    """squawk's findings on the upgrade's SQL (the rules the session's timeouts answer left
    out); a missing squawk is a note, not a failure."""
    from rfsetup.core.alembic.sqlpreview import render
    from rfsetup.core.alembic.squawk import lint, timeout_note

    _, steps = planning.make_plan(project, "up", target, current)
    try:
        return lint(render(project, "up", target, current, steps, observation=seen),
                    timeouts=timeouts), timeout_note(timeouts)
    except RfsetupError as exc:
        return [], f"squawk's findings are missing: {exc.message}"


def _interrupted(source: str, name: str) -> RfsetupError:
    return RfsetupError(f"rehearsal interrupted; the copy {name} was dropped and database "
                        f"{source} was only read", kind="interrupted",
                        hint="run it again when ready", exit_code=ExitCode.INTERRUPTED)


def _dropped_hint(hint: str | None, name: str) -> str:
    return (hint + "; " if hint else "") + f"the copy {name} was dropped"


def _drop(url: URL, name: str, say: Progress) -> bool:
    """Drop the copy; False (and said) when it could not be."""
    try:
        drop_copy(url, name)
    except RfsetupError as exc:
        say(f"could not drop the copy {name}: {exc.message}")
        return False
    say(f"dropped the copy {name}")
    return True


@dataclass
class _Rehearsal:
    """The three phases on the copy, one runner call per revision."""

    settings: Settings
    project: AlembicProject
    plan: planning.Plan
    copy_url: URL
    observation: Observation
    server: int
    say: Progress
    cancel: threading.Event | None
    copy_seconds: float = 0.0
    current: tuple[str, ...] = ()
    runs: dict[str, dict[Phase, StepRun]] = field(default_factory=dict)

    def run(self, name: str, method: str) -> RehearsalReport:
        vt = self.observation.version_table
        ignore = (vt.name, f"{vt.name}_pkc")
        steps = [s.revision for s in self.plan.steps]
        self.current = self.plan.from_revisions
        report = RehearsalReport(self.plan.database, name, method, self.plan.from_revisions,
                                 self.plan.to_revisions, ())
        with self._copy_settings(name) as copy_settings, self._watch() as watch:
            sampler = LockSampler(self.copy_url, locking.application_name("migrate"), ignore)
            schema = {"before": self._schema(vt)}
            failure: RfsetupError | None = None
            try:
                for phase, order in (("up", steps), ("down", steps[::-1]), ("again", steps)):
                    for index, rev in enumerate(order, 1):
                        if self.cancel is not None and self.cancel.is_set():
                            raise KeyboardInterrupt  # between two revisions: stop here
                        self.say(f"{phase}: {rev} ({index}/{len(order)})")
                        self._step(copy_settings, watch, sampler, phase, rev, ignore)
                    schema[phase] = self._schema(vt)
            except _StepFailed as failed:
                failure = failed.error
            report = replace(report, revisions=self._revisions(), failure=failure)
            if "again" in schema:
                diff = schema_diff(schema["up"], schema["again"],
                                   ("after the first up", "after up → down → up"))
                report = replace(report, round_trip_same=not diff, round_trip_diff=diff)
            if "down" in schema:
                diff = schema_diff(schema["before"], schema["down"],
                                   (f"database {self.plan.database} now", "after the down"))
                report = replace(report, down_restores=not diff, down_diff=diff)
        return report

    @contextlib.contextmanager
    def _copy_settings(self, name: str) -> Iterator[Settings]:
        """The settings pointed at the copy, with a state folder of their own (the observation
        cache of a database that is about to vanish stays out of ./.rfsetup)."""
        with tempfile.TemporaryDirectory(prefix="rfsetup-rehearsal-") as tmp:
            yield replace(self.settings, database_url=_copy_database_url(self.settings, name),
                          state_dir=Path(tmp))

    @contextlib.contextmanager
    def _watch(self) -> Iterator[Any]:
        conn = connect(self.copy_url, autocommit=True, application_name="rfsetup rehearse")
        try:
            yield conn
        finally:
            conn.close()

    def _schema(self, vt: Any) -> str:
        return schema_text(self.copy_url, self.server, bin_dir=self.settings.pg_bindir,
                           cancel=self.cancel, exclude=vt.regclass_text())

    def _step(self, copy_settings: Settings, watch: Any, sampler: LockSampler, phase: Phase,
              rev: str, ignore: tuple[str, ...]) -> None:
        from rfsetup.core.alembic.runner import run

        if self.cancel is not None and self.cancel.is_set():
            raise KeyboardInterrupt
        kind: planning.Kind = "down" if phase == "down" else "up"
        target = self._down_target(rev) if kind == "down" else rev
        before = table_counters(watch)
        began: list[float] = []
        sampler.start(existing_relations(watch))
        start = time.monotonic()
        try:
            with sampler.at_commit():
                result = run(copy_settings, kind, target, backup=False, cancel=self.cancel,
                             expect_from=self.current, on_progress=self._log,
                             on_step=lambda *_: began.append(time.monotonic()))
        except RfsetupError as exc:
            sampler.stop()
            if exc.kind == "interrupted" or (self.cancel is not None and self.cancel.is_set()):
                raise KeyboardInterrupt from None
            self._record(rev, StepRun(rev, phase, time.monotonic() - start, error=exc))
            raise _StepFailed(_on_copy(exc, rev, phase)) from None
        locks = sampler.stop()
        elapsed = time.monotonic() - (began[0] if began else start)
        if result.cancelled:
            raise KeyboardInterrupt
        wait_sessions_gone(watch, sampler.application_name)
        rows = rows_touched(before, table_counters(watch), ignore)
        self.current = result.to_revisions
        self._record(rev, StepRun(rev, phase, elapsed, tuple(locks), tuple(rows)))

    def _down_target(self, rev: str) -> str:
        """The target that undoes exactly ``rev`` from where the copy is (its parent or base;
        ``rev@-1`` when other branches are applied), checked against Alembic's plan."""
        parents = self.project.parents(rev)
        candidates = [parents[0] if len(parents) == 1 else "base", f"{rev}@-1"]
        for candidate in filter(None, candidates):
            with contextlib.suppress(RfsetupError):
                plan, _ = planning.make_plan(self.project, "down", candidate, self.current)
                if [s.revision for s in plan.steps] == [rev]:
                    return candidate
        raise _StepFailed(RfsetupError(
            f"cannot undo revision {rev} alone from {', '.join(self.current) or 'base'}",
            hint="rehearse a linear part of the history (rfsetup rehearse TARGET)",
            kind="rehearse_unplannable"))

    def _log(self, line: str) -> None:
        if line.startswith(("no backup taken", "migration lock acquired")):
            return
        self.say(f"  {line}")

    def _record(self, rev: str, run: StepRun) -> None:
        self.runs.setdefault(rev, {})[run.phase] = run

    def _revisions(self) -> tuple[RevisionReport, ...]:
        return tuple(RevisionReport(s.revision, s.message, dict(self.runs.get(s.revision, {})))
                     for s in self.plan.steps)


class _StepFailed(Exception):
    def __init__(self, error: RfsetupError) -> None:
        super().__init__(error.message)
        self.error = error


def _on_copy(exc: RfsetupError, rev: str, phase: Phase) -> RfsetupError:
    """The runner's error, said of the copy (the runner names the copy's database)."""
    verb = {"up": "upgrade", "down": "downgrade", "again": "second upgrade"}[phase]
    return RfsetupError(f"the {verb} of revision {rev} failed on the copy: {exc.message}",
                        cause=exc.cause, kind="rehearse_revision_failed")


def _copy_database_url(settings: Settings, name: str) -> str:
    """DATABASE_URL as given (its driver kept for env.py), pointed at the copy."""
    from sqlalchemy.engine import make_url

    raw = settings.database_url or ""
    with contextlib.suppress(Exception):
        return make_url(raw).set(database=name).render_as_string(hide_password=False)
    return settings.url().set(database=name).render_as_string(hide_password=False)
