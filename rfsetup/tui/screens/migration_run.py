"""The Migrations step's running part: a move run in the worker, and what it says afterwards.

``run_move`` is the body of the screen's migrate worker. The move runs in a child process of
rfsetup's own runner (``rfsetup.core.alembic.child``), so the UI process keeps the GIL for key
presses and env.py's side effects stay out of the app. The worker's own ``cancelled_event``
(textual.worker) is the cancel: it becomes a signal to the child, which stops at the next
revision boundary. Output lines stream as ``MigrationProgressed``; a running tool's elapsed
time (``ProgressTick``) as a replaceable ``MigrationTicked``; the end as ``MigrationApplied``
or ``MigrationFailed`` naming the revision the database was left at.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual.message import Message

from rfsetup.core.alembic.planning import Move, count_text
from rfsetup.core.errors import RfsetupError
from rfsetup.core.errors import unexpected as unexpected_error
from rfsetup.tui.messages import (
    MigrationApplied,
    MigrationFailed,
    MigrationProgressed,
    MigrationTicked,
)
from rfsetup.tui.modals.confirm import ConfirmModal
from rfsetup.tui.screens.migration_sql import marked_lines

if TYPE_CHECKING:
    import threading

    from rfsetup.core.alembic import LintFinding, MigrationResult, Preview
    from rfsetup.core.settings import Settings
    from rfsetup.tui.widgets.sql_view import SqlView


def run_move(settings: Settings, move: Move, shown: tuple[str, ...], *, cancel: threading.Event,
             post: Callable[[Message], object], secrets: Callable[[], list[str]]) -> None:
    """Run ``move`` from ``shown`` (compare-and-swap: only from the revision that was on
    screen when it was chosen), a backup first for up and down."""
    from rfsetup.core.alembic.child import run_in_child
    from rfsetup.core.backups import ProgressTick

    def progress(line: str) -> None:
        post(MigrationTicked(line) if isinstance(line, ProgressTick) else
             MigrationProgressed(line))

    try:
        if move.kind == "stamp":
            result = run_in_child("stamp", settings, move.target, confirmed_from=shown,
                                  on_progress=progress)
        else:
            result = run_in_child("upgrade" if move.kind == "up" else "downgrade", settings,
                                  move.target, backup=True, on_progress=progress,
                                  cancel=cancel, confirmed_from=shown)
    except Exception as exc:
        error = exc if isinstance(exc, RfsetupError) else \
            unexpected_error(move.label, exc, secrets())
        post(MigrationFailed(move.label, error, _current_after_failure(settings)))
        return
    post(MigrationApplied(move.label, result))


def confirm_modal(move: Move, preview: Preview | None, findings: Sequence[LintFinding],
                  current: tuple[str, ...], database: str, view: SqlView) -> ConfirmModal:
    """The confirmation of a downgrade or stamp: what moves where, the SQL, the backup note;
    the SQL pane's highlighted lines reused when it shows this very SQL."""
    sql = preview.sql if preview is not None else ""
    if move.kind == "stamp":
        note = ("No backup: a stamp changes no data, only the revision Alembic believes is "
                "applied.")
    else:
        note = "A pg_dump backup is taken first (into .rfsetup/backups/); its path is shown."
    frm, to = ", ".join(current) or "base", move.target
    if preview is not None:
        frm, to = ", ".join(preview.from_revisions) or "base", preview.target
    summary = f"database {database}: {frm} → {to}"
    if preview is not None and move.kind == "down":
        summary += f" ({count_text(len(preview.steps))} undone)"
    lines = view.lines if view.sql == sql and sql else None
    return ConfirmModal(move.label[0].upper() + move.label[1:], summary, sql, database,
                        backup_note=note, findings=list(findings), lines=lines,
                        marked=marked_lines(preview, findings) if preview is not None else None)


def _current_after_failure(settings: Settings) -> tuple[str, ...] | None:
    from rfsetup.core import alembic as migrations
    from rfsetup.core.status import warm_reading

    try:
        warm = warm_reading(settings)
        if warm is not None and warm.current is not None:
            return warm.current
        return tuple(migrations.current_revisions(settings))
    except Exception:  # unreachable now: the panel shows why
        return None


def applied_text(result: MigrationResult, path_text: Callable[[Path], str]) -> Text:
    """``✓ a → b (2 revisions)  backup: …`` (or ``! stopped:`` when it was cancelled)."""
    frm = ", ".join(result.from_revisions) or "base"
    to = ", ".join(result.to_revisions) or "base"
    cancelled = getattr(result, "cancelled", False)
    text = Text("! stopped: " if cancelled else "✓ ", style="bold yellow" if cancelled
                else "bold green")
    text.append(f"{frm} → {to} ({count_text(len(result.applied))})", style="bold")
    if result.backup is not None:
        text.append(f"  backup: {path_text(Path(result.backup.path))}", style="dim")
    return text


def where_text(current: tuple[str, ...] | None) -> str:
    return "unknown (cannot connect)" if current is None else (", ".join(current) or "base")


def failed_text(message: MigrationFailed) -> Text:
    text = Text(f"✗ {message.operation} failed: {message.error.message}", style="bold red")
    text.append(f"\nthe database is at: {where_text(message.current)}", style="bold")
    return text


def failure_for_modal(message: MigrationFailed) -> RfsetupError:
    """The error, its hint ending with where the database was left."""
    error = message.error
    hint = (error.hint + "\n" if error.hint else "") + \
        f"the database is left at: {where_text(message.current)}"
    return RfsetupError(error.message, cause=error.cause, hint=hint,
                        exit_code=error.exit_code, kind=error.kind)
