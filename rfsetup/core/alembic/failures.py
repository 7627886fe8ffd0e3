"""What a failed run did, in words that are true: which revisions were rolled back together,
which had committed, where the database is (read afterwards), and the real next step.

env.py decides the transactions: with ``transaction_per_migration`` each revision commits on its
own; without it the whole range is one transaction, except where a revision's
``autocommit_block`` commits what ran before it. So the outcome is never assumed from the mode:
the version table is read after the failure and compared with the revisions that ran.

Read afterwards on a new connection when the run's own was lost (a crash, a restart,
pg_terminate_backend): where the database is, or "unknown" when the server cannot be reached.
A version table that matches no prefix of the run's steps was moved by someone else at the same
time (plain alembic, which rfsetup's lock cannot stop): that, not the revision, is the cause.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rfsetup.core.errors import ExitCode, RfsetupError
from rfsetup.core.versiontable import describe_revisions

if TYPE_CHECKING:
    from rfsetup.core.alembic.planning import Kind

_LOST = ("server closed the connection", "terminating connection", "connection already closed",
         "could not receive data from server", "SSL SYSCALL error: EOF",
         "connection was closed", "ConnectionDoesNotExistError")
_RACED = "expected to match one row"


def first_line(text: str) -> str:
    for line in (text or "").strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def db_error_text(exc: BaseException) -> str:
    """``Type: first line (SQLSTATE x)`` of the driver's error under SQLAlchemy's wrapper."""
    orig = getattr(exc, "orig", None) or exc
    text = first_line(str(orig)) or type(orig).__name__
    code = getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)
    return f"{type(orig).__name__}: {text}" + (f" (SQLSTATE {code})" if code else "")


def connection_lost(cause: str) -> bool:
    return any(marker.lower() in cause.lower() for marker in _LOST)


@dataclass(frozen=True)
class RunFacts:
    """What the runner knows when a run fails."""

    kind: Kind
    database: str
    start: tuple[str, ...]
    #: the version table read after the failure (None: it could not be read)
    now: tuple[str, ...] | None
    #: revisions whose upgrade()/downgrade() completed before the failing one, in order
    completed: tuple[str, ...]
    #: the revision that was running when it failed (None: before any)
    failing: str | None
    failing_message: str
    #: how many of ``completed`` the version table shows committed (None: unknown)
    committed: int | None
    per_migration: bool
    backup_path: str | None
    #: revisions that ran statements in an autocommit block (never rolled back)
    autocommitted: tuple[str, ...] = ()
    #: what ``rfsetup migrate <kind>`` needs to continue to the same end ("" = its default):
    #: a relative target (-1) would mean something else from where the database is now
    target: str = ""
    #: the run's connection to the server was lost (crash, restart, pg_terminate_backend)
    lost: bool = False
    #: the version table shows revisions this run did not write: another tool moved it
    moved_by_other: bool = False


def run_failure(exc: BaseException, facts: RunFacts, *, interrupted: bool,
                lock_timeout_env: str, statement_timeout_env: str) -> RfsetupError:
    """The error for a failed or interrupted run: what happened, where the database is."""
    cause = "interrupted (Ctrl-C or a stop signal)" if isinstance(exc, KeyboardInterrupt) \
        else db_error_text(exc)
    lost = facts.lost or connection_lost(cause)
    if facts.now is not None:
        now = describe_revisions(facts.now)
    elif lost:
        now = "unknown (the server cannot be reached to read it; run rfsetup status)"
    else:
        now = "unknown (run rfsetup status)"
    hint = _hint(cause, facts, interrupted, lock_timeout_env, statement_timeout_env)
    kind = "interrupted" if interrupted else "connection_lost" if lost else "migration_failed"
    code = ExitCode.INTERRUPTED if interrupted else ExitCode.FAILED
    if facts.failing is None:
        start = "the connection to the server was lost before any revision ran" if lost \
            else "env.py failed before any revision ran"
        return RfsetupError(f"{start}; database {facts.database} is at {now}", cause=cause,
                            hint=hint, kind=kind, exit_code=code)
    doc = f" ({facts.failing_message})" if facts.failing_message else ""
    verb = {"up": "upgrade", "down": "downgrade", "stamp": "stamp"}[facts.kind]
    if interrupted:
        head = f"revision {facts.failing}{doc} was interrupted"
    elif lost:
        head = (f"the connection to the server was lost while revision {facts.failing}{doc} "
                f"was running ({verb})")
    else:
        head = f"revision {facts.failing}{doc} failed to {verb}"
    story = _story(facts)
    if facts.moved_by_other and facts.now is not None:
        story += (f"; the version table now says {now}, which this run did not write: another "
                  "tool migrated the database at the same time")
    return RfsetupError(f"{head}; {story}; database {facts.database} is at {now}", cause=cause,
                        hint=hint, kind=kind, exit_code=code)


def _story(facts: RunFacts) -> str:
    """What became of the failing revision and those before it, from the version table."""
    assert facts.failing is not None
    committed, rolled_back = _split(facts)
    if facts.now is None:
        return "whether it committed cannot be known until the server answers"
    if not rolled_back or facts.per_migration:
        story = "it was rolled back"
        if committed:
            story += f" ({', '.join(committed)} had committed before it)"
    elif not committed:
        together = ", ".join([*rolled_back, facts.failing])
        story = (f"env.py runs the range in one transaction, so the whole run was rolled back "
                 f"({together})")
    else:
        together = ", ".join([*rolled_back, facts.failing])
        story = (f"env.py runs the range in one transaction: {together} were rolled back "
                 f"together, but {', '.join(committed)} had already committed (an autocommit "
                 "block commits what ran before it)")
    kept = [r for r in facts.autocommitted if r not in committed]
    if kept:
        story += (f"; what {', '.join(dict.fromkeys(kept))} ran in an autocommit block stays "
                  "applied although the version table does not record it")
    return story


def _split(facts: RunFacts) -> tuple[list[str], list[str]]:
    """(committed, rolled back) among the completed revisions."""
    done = list(facts.completed)
    if facts.committed is None:
        return [], []
    return done[:facts.committed], done[facts.committed:]


def _hint(cause: str, facts: RunFacts, interrupted: bool, lock_env: str,
          statement_env: str) -> str:
    again = f"rfsetup migrate {facts.kind}" + (f" {facts.target}" if facts.target else "")
    # only a backup this run took: after --no-backup there is none to point at
    backup = (f"; the backup taken before the run: {facts.backup_path}"
              if facts.backup_path else "")
    if interrupted:
        return f"run {again} again to continue{backup}"
    if facts.lost or connection_lost(cause):
        return ("check that the server is up (rfsetup status) and why it ended the session "
                "(the server's log: a crash, a restart, an administrator's "
                f"pg_terminate_backend); then run {again} again{backup}")
    if facts.moved_by_other or _RACED in cause:
        return ("another tool (plain alembic?) migrated this database at the same time, which "
                "rfsetup's lock cannot stop: see where it is now with rfsetup status, and let "
                f"one tool migrate it{backup}")
    if "lock timeout" in cause:
        return (f"another session holds a lock on a table this revision changes; retry when "
                f"it is quieter or raise {lock_env} (e.g. 30s)")
    if "statement timeout" in cause:
        return f"a statement ran too long; raise {statement_env} (e.g. 2h)"
    if facts.failing is None:
        return "fix env.py (the alembic CLI shows the same error); nothing was changed"
    part = "downgrade()" if facts.kind == "down" else "upgrade()"
    return f"fix revision {facts.failing}'s {part} and run {again} again{backup}"
