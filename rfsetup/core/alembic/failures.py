"""What a failed run did, in words that are true: which revisions were rolled back together,
which had committed, where the database is (read afterwards), and the real next step.

env.py decides the transactions: with ``transaction_per_migration`` each revision commits on its
own; without it the whole range is one transaction, except where a revision's
``autocommit_block`` commits what ran before it. So the outcome is never assumed from the mode:
the version table is read after the failure and compared with the revisions that ran.
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


def run_failure(exc: BaseException, facts: RunFacts, *, interrupted: bool,
                lock_timeout_env: str, statement_timeout_env: str) -> RfsetupError:
    """The error for a failed or interrupted run: what happened, where the database is."""
    cause = "interrupted (Ctrl-C or a stop signal)" if isinstance(exc, KeyboardInterrupt) \
        else db_error_text(exc)
    now = "unknown (the connection was lost; run rfsetup status)" if facts.now is None \
        else describe_revisions(facts.now)
    hint = _hint(cause, facts, interrupted, lock_timeout_env, statement_timeout_env)
    kind = "interrupted" if interrupted else "migration_failed"
    code = ExitCode.INTERRUPTED if interrupted else ExitCode.FAILED
    if facts.failing is None:
        return RfsetupError(f"env.py failed before any revision ran; database {facts.database} "
                            f"is at {now}", cause=cause, hint=hint, kind=kind, exit_code=code)
    doc = f" ({facts.failing_message})" if facts.failing_message else ""
    verb = {"up": "upgrade", "down": "downgrade", "stamp": "stamp"}[facts.kind]
    what = "was interrupted" if interrupted else f"failed to {verb}"
    committed, rolled_back = _split(facts)
    if facts.now is None:
        story = "whether it was rolled back cannot be known until the server answers"
    elif not committed and not rolled_back:
        story = "it was rolled back"
    elif facts.per_migration or not rolled_back:
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
    if kept and facts.now is not None:
        story += (f"; what {', '.join(dict.fromkeys(kept))} ran in an autocommit block stays "
                  "applied although the version table does not record it")
    return RfsetupError(f"revision {facts.failing}{doc} {what}; {story}; database "
                        f"{facts.database} is at {now}", cause=cause, hint=hint, kind=kind,
                        exit_code=code)


def _split(facts: RunFacts) -> tuple[list[str], list[str]]:
    """(committed, rolled back) among the completed revisions."""
    done = list(facts.completed)
    if facts.committed is None:
        return [], []
    return done[:facts.committed], done[facts.committed:]


def _hint(cause: str, facts: RunFacts, interrupted: bool, lock_env: str,
          statement_env: str) -> str:
    again = f"rfsetup migrate {facts.kind}"
    backup = (f"; the backup taken before the run: {facts.backup_path}"
              if facts.backup_path else "")
    if interrupted:
        return f"run {again} again to continue{backup}"
    if connection_lost(cause) or facts.now is None:
        return ("the server closed the connection (a crash, a restart or "
                "pg_terminate_backend): check that it is up (rfsetup status), then run "
                f"{again} again{backup}")
    if _RACED in cause:
        return ("the version table changed during the run: another tool (plain alembic?) "
                "migrated this database at the same time, which rfsetup's lock cannot stop; "
                "see where it is now with: rfsetup status")
    if "lock timeout" in cause:
        return (f"another session holds a lock on a table this revision changes; retry when "
                f"it is quieter or raise {lock_env} (e.g. 30s)")
    if "statement timeout" in cause:
        return f"a statement ran too long; raise {statement_env} (e.g. 2h)"
    if facts.failing is None:
        return "fix env.py (the alembic CLI shows the same error); nothing was changed"
    part = "downgrade()" if facts.kind == "down" else "upgrade()"
    return f"fix revision {facts.failing}'s {part} and run {again} again{backup}"
