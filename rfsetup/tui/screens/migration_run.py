"""The Migrations step's running part: a move run in the worker, and what it says afterwards.

``run_move`` is the body of the screen's migrate worker. The move runs in a child process of
rfsetup's own runner (``rfsetup.core.alembic.child``), so the UI process keeps the GIL for key
presses and env.py's side effects stay out of the app. The worker's own ``cancelled_event``
(textual.worker) is the cancel: it becomes a signal to the child, which stops at the next
revision boundary. Output lines stream as ``MigrationProgressed``; a running tool's elapsed
time (``ProgressTick``) as a replaceable ``MigrationTicked``; the end as ``MigrationApplied``
or ``MigrationFailed`` naming the revision the database was left at. ``RunProgress`` is
the live line under the SQL ("revision 1 of 3 (0003_intel) · 12 s", the lock wait or the
backup's elapsed time in place); ``outcome_text`` what is printed when the app quits after it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
    MigrationStepped,
    MigrationTicked,
)
from rfsetup.tui.modals.confirm import ConfirmModal
from rfsetup.tui.screens.migration_sql import digest_of, impact_text, marked_lines

if TYPE_CHECKING:
    import threading

    from rfsetup.core.alembic import LintFinding, MigrationResult, Preview
    from rfsetup.core.alembic.impact import Impact
    from rfsetup.core.settings import Settings
    from rfsetup.tui.widgets.sql_view import SqlView


def run_move(settings: Settings, move: Move, shown: tuple[str, ...], *, cancel: threading.Event,
             post: Callable[[Message], object], secrets: Callable[[], list[str]],
             interrupt: threading.Event | None = None) -> None:
    """Run ``move`` from ``shown`` (compare-and-swap: only from the revision that was on
    screen when it was chosen), a backup first for up and down. ``cancel`` stops it at the
    next revision boundary, ``interrupt`` cancels the running statement (run_in_child)."""
    from rfsetup.core.alembic.child import run_in_child
    from rfsetup.core.progress import ProgressTick

    def progress(line: str) -> None:
        post(MigrationTicked(line) if isinstance(line, ProgressTick) else
             MigrationProgressed(line))

    def step(index: int, total: int, revision: str) -> None:
        post(MigrationStepped(index, total, revision))

    try:
        if move.kind == "stamp":
            result = run_in_child("stamp", settings, move.target, confirmed_from=shown,
                                  on_progress=progress)
        else:
            result = run_in_child("upgrade" if move.kind == "up" else "downgrade", settings,
                                  move.target, backup=True, on_progress=progress,
                                  on_step=step, cancel=cancel, interrupt=interrupt,
                                  confirmed_from=shown)
    except Exception as exc:
        error = exc if isinstance(exc, RfsetupError) else \
            unexpected_error(move.label, exc, secrets())
        post(MigrationFailed(move.label, error, _current_after_failure(settings)))
        return
    post(MigrationApplied(move.label, result))


def confirm_modal(move: Move, preview: Preview | None, findings: Sequence[LintFinding],
                  current: tuple[str, ...], database: str, view: SqlView,
                  impact: Impact | None = None) -> ConfirmModal:
    """The confirmation of a downgrade or stamp: what moves where, what it drops (rows
    estimated), the statements that matter then the full SQL, the backup note; the SQL pane's
    highlighted lines reused when it shows this very SQL."""
    sql = preview.sql if preview is not None else ""
    if move.kind == "stamp":
        note = ("No backup: a stamp changes no data, only the revision Alembic believes is "
                "applied.")
    else:
        note = "A backup (pg_dump) is taken first; its path is shown."
    frm, to = ", ".join(current) or "base", move.target
    if preview is not None:
        frm, to = ", ".join(preview.from_revisions) or "base", preview.target
    summary = f"database {database}: {frm} → {to}"
    if preview is not None and move.kind == "down":
        summary += f" ({count_text(len(preview.steps))} undone)"
    lines = view.lines if view.sql == sql and sql else None
    return ConfirmModal(move.label[0].upper() + move.label[1:], summary, sql, database,
                        backup_note=note, findings=list(findings), lines=lines,
                        marked=marked_lines(preview, findings) if preview is not None else None,
                        impact=impact_text(impact) if impact is not None else None,
                        digest=digest_of(preview, move) if preview is not None else None)


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


def shorten_middle(text: str, width: int) -> str:
    """``text`` in ``width`` cells, its middle replaced by ``…`` (a path keeps its start and
    its file name's end: the revision and the suffix)."""
    if width <= 0 or len(text) <= width:
        return text
    if width < 5:
        return text[:width]
    head = (width - 1) // 3
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


def applied_text(result: MigrationResult, path_text: Callable[[Path], str],
                 width: int = 0) -> Text:
    """``✓ a → b (2 revisions)`` and, below it, ``backup: …`` shortened in the middle to
    ``width`` cells (0: whole); ``! stopped:`` when it was cancelled."""
    frm = ", ".join(result.from_revisions) or "base"
    to = ", ".join(result.to_revisions) or "base"
    cancelled = getattr(result, "cancelled", False)
    text = Text("! stopped: " if cancelled else "✓ ", style="bold yellow" if cancelled
                else "bold green")
    text.append(f"{frm} → {to} ({count_text(len(result.applied))})", style="bold")
    if result.backup is not None:
        path = path_text(Path(result.backup.path))
        label = "backup: "
        text.append(f"\n{label}{shorten_middle(path, width - len(label) if width else 0)}",
                    style="dim")
    return text


@dataclass
class RunProgress:
    """The live line of a running move: which revision of how many, the elapsed time, and
    the newest tick (the lock wait, the backup's seconds) drawn in place under it."""

    label: str
    started: float = field(default_factory=time.monotonic)
    step: tuple[int, int, str] | None = None
    tick: str | None = None
    #: what was asked of it: "cancel" (next revision boundary) and/or "interrupt"
    requested: list[str] = field(default_factory=list)
    #: the clock (a fixed one in the screenshots)
    clock: Callable[[], float] = time.monotonic

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    def where(self) -> str:
        """``revision 2 of 3 (0003_intel) · 12 s``."""
        seconds = f"{self.elapsed:.0f} s"
        if self.step is None:
            return f"{seconds}, before the first revision"
        index, total, revision = self.step
        return f"revision {index} of {total} ({revision}) · {seconds}"

    def text(self, *, quitting: bool = False) -> Text:
        """The live line; ``quitting``: the app quits once the run has stopped."""
        text = Text(f"running {self.label}: {self.where()}", style="bold italic")
        then = ", then quit" if quitting else ""
        if "interrupt" in self.requested:
            text.append(f"\ninterrupt requested: the statement{then}", style="bold red")
        elif "cancel" in self.requested:
            text.append(f"\ncancel requested: next boundary{then}", style="bold yellow")
        if self.tick:
            text.append(f"\n{self.tick}", style="italic")
        return text


def outcome_text(database: str, label: str, result: MigrationResult | None,
                 message: MigrationFailed | None, path_text: Callable[[Path], str]) -> str:
    """What is printed on the terminal when the app quits after a run it waited for."""
    if result is not None:
        to = ", ".join(result.to_revisions) or "base"
        how = "stopped at a revision boundary" if result.cancelled else "finished"
        text = (f"rfsetup: {label} {how}: database {database} is at {to} "
                f"({count_text(len(result.applied))} run)")
        if result.backup is not None:
            text += f"\n  backup: {path_text(Path(result.backup.path))}"
        return text
    assert message is not None
    text = f"rfsetup: {label} did not finish: {message.error.message}"
    text += f"\n  database {database} is at: {where_text(message.current)}"
    if message.error.hint:
        text += f"\n  hint: {message.error.hint}"
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
