"""Run a move under the migration lock, checking everything it relies on first.

Under the lock, before anything changes: env.py's observed version table is read (the cached
observation, or a probe on this very connection), the database's revisions are compared with
the plan's (compare-and-swap: a move planned from r3 runs only if the database is still at r3),
and the steps are recomputed and compared with the plan's. Then a backup, then env.py runs with
an instrumented context that refuses a connection to another database, checks again that
Alembic sees the same version table and revisions, and applies the session settings to every
connection. Revisions run one at a time; ``cancel`` is honoured between them. Afterwards the
version table is read again: what is reported is what the database says.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import msgspec

from rfsetup.core import locking, runlog
from rfsetup.core.alembic import planning
from rfsetup.core.alembic.observe import (
    Observation,
    Refused,
    Watch,
    forget,
    handed_connection,
    observed,
    project_env_py,
    run_env,
)
from rfsetup.core.alembic.project import AlembicProject
from rfsetup.core.alembic.session import Session, on_every_connection, open_session
from rfsetup.core.errors import RfsetupError, bad_input
from rfsetup.core.settings import Settings
from rfsetup.core.versiontable import describe_revisions, read_revision, revision_label

if TYPE_CHECKING:
    from rfsetup.core.backups import BackupInfo

Progress = Callable[[str], None]


class MigrationResult(msgspec.Struct, frozen=True):
    """What an upgrade, downgrade or stamp did."""

    direction: str
    from_revisions: tuple[str, ...]
    to_revisions: tuple[str, ...]
    applied: list[str]
    backup: BackupInfo | None
    log: str
    #: stopped at a revision boundary because ``cancel`` was set
    cancelled: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"direction": self.direction, "from_revisions": list(self.from_revisions),
                "to_revisions": list(self.to_revisions), "applied": list(self.applied),
                "backup": self.backup.to_json() if self.backup else None,
                "cancelled": self.cancelled}


class _Log(msgspec.Struct):
    on_progress: Progress | None
    lines: list[str] = msgspec.field(default_factory=list)

    def __call__(self, line: str) -> None:
        from rfsetup.core.progress import ProgressTick

        if not isinstance(line, ProgressTick):  # elapsed-time ticks update a line, not log
            self.lines.append(line)
        if self.on_progress is not None:
            self.on_progress(line)

    def text(self, project: AlembicProject | None = None) -> str:
        out = project.config.stdout if project is not None else None
        extra = out.getvalue() if isinstance(out, io.StringIO) else ""
        return "\n".join(self.lines) + ("\n" + extra if extra else "")


def moved_error(database: str, planned: tuple[str, ...], now: tuple[str, ...], *,
                confirmed: bool = True) -> RfsetupError:
    """The database is not where the move starts (it moved since the confirmation, or it is not
    where ``--from`` says): nothing runs."""
    if confirmed:
        message = (f"database {database} moved from {describe_revisions(planned)} to "
                   f"{describe_revisions(now)} since this was confirmed; nothing was done")
    else:
        message = (f"database {database} is at {describe_revisions(now)}, not at "
                   f"{describe_revisions(planned)} as --from expects; nothing was done")
    return RfsetupError(message, hint="someone else may have migrated it: check it with "
                        "rfsetup status, then plan the move again", kind="moved")


class _Steps(msgspec.Struct):
    """The work function handed to env.py: checks what Alembic sees, then yields the steps.

    Alembic commits a revision's transaction (when env.py gives each its own) before asking for
    the next step, so resuming the generator is the moment a revision is known to be done, and
    the place to stop cleanly on ``cancel``.
    """

    project: AlembicProject
    kind: planning.Kind
    steps: list[Any]
    start: tuple[str, ...]
    observation: Observation
    watch: Watch
    log: _Log
    cancel: threading.Event | None = None
    purge: bool = False
    on_step: Callable[[int, int, str], None] | None = None
    completed: list[str] = msgspec.field(default_factory=list)
    running: Any = None
    cancelled: bool = False
    per_migration: bool = True
    #: revisions that entered an autocommit block (what ran there is never rolled back)
    autocommitted: list[str] = msgspec.field(default_factory=list)
    #: the target a failure's hint names to continue (``_again_target``)
    again_target: str = ""

    def __call__(self, heads: Any, context: Any) -> Iterator[Any]:
        seen = self.watch.observe(context)
        self.per_migration = seen.transaction_per_migration
        if seen.version_table != self.observation.version_table:
            forget(self.project)
            raise Refused(RfsetupError(
                f"env.py now uses version table {seen.version_table}, not "
                f"{self.observation.version_table} as observed before; nothing was done",
                hint="run the command again (rfsetup observes env.py anew)",
                kind="env_changed"))
        heads = tuple(sorted(heads or ()))
        if not self.purge and heads != tuple(sorted(self.start)):
            raise Refused(moved_error(self.project.database, self.start, heads))
        if not heads and not context.as_sql and self.kind != "down":
            context._ensure_version_table()  # what Alembic skipped (dont_mutate) until now
        self._watch_autocommit(context)
        return self._iterate()

    def _watch_autocommit(self, context: Any) -> None:
        """Note which revision enters an autocommit block (op.get_context() is ``context``)."""
        block = context.autocommit_block

        def noted() -> Any:
            if self.running is not None and self.kind != "stamp":
                self.autocommitted.append(self.running.revision.revision)
            return block()

        context.autocommit_block = noted

    def _iterate(self) -> Iterator[Any]:
        for index, step in enumerate(self.steps, 1):
            self._finish()
            if self.cancel is not None and self.cancel.is_set():
                self.cancelled = True
                self.log("cancelled: stopping before the next revision")
                return
            self.running = step
            if self.kind != "stamp":
                if self.on_step is not None:
                    self.on_step(index, len(self.steps), step.revision.revision)
                self.log(f"Running {step}")
            yield step
        self._finish()

    def _finish(self) -> None:
        if self.running is not None:
            if self.kind != "stamp":
                self.completed.append(self.running.revision.revision)
            self.running = None


@runlog.logged("migrate")  # the run log of .rfsetup/logs (the support bundle packs it)
def run(settings: Settings, kind: planning.Kind, target: str, *,
        plan: planning.Plan | None = None, expect_from: tuple[str, ...] | None = None,
        confirmed_from: tuple[str, ...] | None = None, backup: bool = True,
        on_progress: Progress | None = None, cancel: threading.Event | None = None,
        on_step: Callable[[int, int, str], None] | None = None) -> MigrationResult:
    """Move the database to ``target`` under the migration lock (see the module docstring).

    ``plan`` or ``confirmed_from`` (what was confirmed, e.g. the revision a screen showed) or
    ``expect_from`` (what a runbook expects to find) make the move compare-and-swap: under the
    lock, a database elsewhere is refused, nothing done.
    """
    log = _Log(on_progress)
    project = AlembicProject.load(settings)
    planning.check_target(project, target, kind)
    database = project.database
    action = "stamp" if kind == "stamp" else "migrate"
    with open_session(settings, action, lock=True, on_progress=log,
                      purpose=f"rfsetup migrate {kind}", cancel=cancel) as session:
        seen = _observation(project, session)
        vt = seen.version_table
        current = _read_before(session, vt, database)
        confirmed = plan.from_revisions if plan is not None else confirmed_from
        expected = confirmed if confirmed is not None else expect_from
        if expected is not None and set(current) != set(expected):
            raise moved_error(database, tuple(expected), current,
                              confirmed=confirmed is not None)
        new_plan, steps = planning.make_plan(project, kind, target, current)
        if plan is not None and new_plan.steps != plan.steps:
            raise RfsetupError("the migration scripts changed since this was confirmed; "
                               "nothing was done", hint="review the move again",
                               kind="scripts_changed")
        if new_plan.empty or (kind != "stamp" and not steps):
            log(f"nothing to do: database {database} is already at "
                f"{describe_revisions(current)}")
            return MigrationResult(kind, current, current, [], None, log.text())
        purge = kind == "stamp" and bool(project.unknown(current))
        if purge:
            log(f"replacing unknown revision(s) {', '.join(project.unknown(current))} in {vt}")
        info = _backup(settings, session, current, vt, log, cancel) \
            if backup and kind != "stamp" else None
        if not backup and kind != "stamp":
            log("no backup taken (--no-backup)")
        runner = _Steps(project, kind, steps, current, seen,
                        Watch(project_env_py(project), session.target, session.conn), log,
                        cancel=cancel, purge=purge, on_step=on_step,
                        again_target=_again_target(kind, target, new_plan.to_revisions))
        after = _run_online(project, session, runner, target, vt, info, purge=purge)
        if runner.cancelled:
            log(f"database {database} is at {describe_revisions(after)}")
        else:
            log(planning.describe_move(kind, database, current, after,
                                       len(runner.completed), done=True))
        return MigrationResult(kind, current, after, runner.completed, info,
                               log.text(project), cancelled=runner.cancelled)


def _observation(project: AlembicProject, session: Session) -> Observation:
    seen = observed(project, session.url, session.conn, session.target)
    if seen.runs > 1:
        raise bad_input(f"{project_env_py(project)} migrates {seen.runs} databases in one run "
                        "(a multi-database env.py); rfsetup migrates one target",
                        hint="use the alembic CLI for this project")
    return seen


def _read_before(session: Session, vt: Any, database: str) -> tuple[str, ...]:
    """The version table before any change; a database error here is one clear line."""
    import psycopg2

    try:
        return read_revision(session.conn, vt)
    except psycopg2.Error as exc:
        from rfsetup.core.alembic import failures  # only a failure needs it

        raise RfsetupError(f"cannot read the revision of database {database} ({vt}); "
                           "nothing was changed", cause=failures.db_error_text(exc),
                           kind="version_unreadable") from None


def _backup(settings: Settings, session: Session, current: tuple[str, ...], vt: Any,
            log: _Log, cancel: threading.Event | None) -> BackupInfo:
    from rfsetup.core.backups import dump_database

    info = dump_database(session.url, settings.backups_dir,
                         server_version_num=session.server_version_num,
                         lock_timeout=settings.lock_timeout,
                         revision=revision_label(current), version_table=vt, on_progress=log,
                         cancel=cancel, keep=settings.backup_keep, bin_dir=settings.pg_bindir)
    log(f"backup written to {info.path}")
    return info


def _run_online(project: AlembicProject, session: Session, runner: _Steps, target: str,
                vt: Any, info: BackupInfo | None, *, purge: bool) -> tuple[str, ...]:
    """Run env.py on the locked session; the revisions after, or a precise error."""
    kw: dict[str, Any] = {"destination_rev": target}
    if purge:
        kw["purge"] = True
    with on_every_connection(session.settings), \
            handed_connection(project, session.url, session.conn) as sa_conn:
        try:
            run_env(project, runner, runner.watch, **kw)
            if sa_conn.in_transaction():
                sa_conn.rollback()  # what Alembic's own CLI does with uncommitted leftovers
        except RfsetupError:
            raise
        except (Exception, KeyboardInterrupt) as exc:  # Ctrl-C mid-revision: say where we are
            with contextlib.suppress(Exception):
                sa_conn.rollback()
            raise _failure(exc, project, session, runner, vt, info) from None
    return _read_after(session, vt)


def _read_after(session: Session, vt: Any) -> tuple[str, ...]:
    conn = session.conn
    conn.rollback()
    conn.autocommit = True
    return read_revision(conn, vt)


def _read_again(session: Session, vt: Any) -> tuple[tuple[str, ...] | None, bool]:
    """The revisions after a failure, and whether the run's connection was lost: read on that
    connection, else on a new one (the server may be up although this session was ended);
    None when the server cannot be reached."""
    from rfsetup.core.connect import connection

    try:
        return _read_after(session, vt), False
    except Exception:
        pass
    try:
        with connection(session.url, timeout=3, autocommit=True) as conn:
            return read_revision(conn, vt), bool(session.conn.closed)
    except Exception:
        return None, True


def _again_target(kind: planning.Kind, target: str, to: tuple[str, ...]) -> str:
    """The target that continues to the same end from wherever a failed run stopped: the
    plan's resolved revisions, not a relative ``-1`` (which would go one step further)."""
    if kind == "up" and target in ("head", "heads"):
        return "" if target == "head" else target
    if len(to) > 1:
        return target
    return to[0] if to else "base"


def _failure(exc: BaseException, project: AlembicProject, session: Session, runner: _Steps,
             vt: Any, info: BackupInfo | None) -> RfsetupError:
    from rfsetup.core.alembic import failures  # only a failure needs it

    now, lost = _read_again(session, vt)
    committed = None
    moved = False
    if now is not None:
        done = runner.completed
        for k in range(len(done), -1, -1):
            prefix = runner.steps[:k]
            if set(planning.heads_after(project, runner.kind, runner.start, prefix)) == set(now):
                committed = k
                break
        else:  # no prefix of this run explains the version table: someone else wrote it
            moved = runner.kind != "stamp"
            committed = 0
    step = runner.running
    facts = failures.RunFacts(
        kind=runner.kind, database=project.database, start=runner.start, now=now,
        completed=tuple(runner.completed),
        failing=step.revision.revision if step is not None and runner.kind != "stamp" else None,
        failing_message=(step.revision.doc or "").strip() if step is not None and
        runner.kind != "stamp" else "",
        committed=committed, per_migration=runner.per_migration,
        autocommitted=tuple(runner.autocommitted),
        backup_path=str(info.path) if info is not None else None,
        target=runner.again_target, lost=lost, moved_by_other=moved)
    interrupted = isinstance(exc, KeyboardInterrupt) or "due to user request" in str(exc)
    return failures.run_failure(exc, facts, interrupted=interrupted,
                                lock_timeout_env=locking.ENV_LOCK_TIMEOUT,
                                statement_timeout_env=locking.ENV_STATEMENT_TIMEOUT)
