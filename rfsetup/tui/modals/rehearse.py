"""RehearseModal: the pending revisions up, down and up again on a throwaway copy, and the
report (time, locks, rows, squawk, whether down undoes up) when it is done.

The rehearsal runs in a child process of rfsetup's runner (``run_in_child("rehearse")``), as
migrations do: the app keeps its key presses, env.py's side effects stay out of it. Esc while
it runs stops it at the next revision (the copy is dropped); Esc again stops it at once (the
copy is still dropped); Esc when it is done closes.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static
from textual.worker import Worker, get_current_worker

from rfsetup.core.errors import RfsetupError
from rfsetup.core.errors import unexpected as unexpected_error
from rfsetup.tui.messages import RehearsalFailed, RehearsalFinished, RehearsalProgressed
from rfsetup.tui.widgets.log_pane import LogPane

if TYPE_CHECKING:
    from rfsetup.core.rehearsereport import RehearsalReport
    from rfsetup.core.settings import Settings


def report_text(report: RehearsalReport) -> Text:
    """The report's lines, marked: ✓ green, ✗ red, locks that block the app yellow."""
    from rfsetup.core.rehearsereport import report_lines

    text = Text()
    for index, line in enumerate(report_lines(report)):
        stripped = line.lstrip()
        style = ""
        if index == 0:
            style = "bold"
        elif stripped.startswith("✓"):
            style = "bold green"
        elif stripped.startswith(("✗", "FAILED")) or "FAILED:" in line:
            style = "bold red"
        elif stripped.startswith("lock ") and "blocks" in line and "not reads" not in line \
                and "only ACCESS" not in line:
            style = "yellow"
        elif stripped.startswith(("squawk", "note:", "on the copy", "the copy", "total")):
            style = "dim"
        elif any(line == r.revision or line.startswith(r.revision + "  ")
                 for r in report.revisions):
            style = "bold cyan"
        text.append(line + "\n", style=style)
    text.rstrip()
    return text


class RehearseModal(ModalScreen[None]):
    """Runs the rehearsal when shown; dismisses with None."""

    BINDINGS = [Binding("escape", "stop_or_close", "Stop / Close", id="rehearse-close")]

    def __init__(self, settings: Settings, target: str, database: str,
                 secrets: list[str] | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.target = target
        self.database = database
        self.secrets = secrets or []
        self.running = False
        self.report: RehearsalReport | None = None
        self._worker: Worker[None] | None = None
        self._interrupt = threading.Event()

    def compose(self) -> ComposeResult:
        with Vertical(id="rehearse-dialog", classes="dialog"):
            yield Label(f"Rehearse on a throwaway copy of {self.database}",
                        classes="dialog-title")
            yield Static(self._intro(), id="rehearse-summary")
            yield LogPane(id="rehearse-log")
            with VerticalScroll(id="rehearse-report"):
                yield Static("", id="rehearse-body")
            yield Static("", id="rehearse-hint", classes="note")

    def _intro(self) -> str:
        to = "head" if self.target == "head" else self.target
        return (f"The pending revisions up to {to}, then down, then up again, on a copy of "
                f"database {self.database} on the same server (only read here). The copy "
                "is dropped at the end.")

    def on_mount(self) -> None:
        self.query_one("#rehearse-report").display = False
        self.query_one("#rehearse-log", LogPane).border_title = "Progress"
        self._hint("Esc stops it (the copy is dropped)")
        if getattr(self.app, "autoload", True):  # snapshots feed it instead
            self.running = True
            self._worker = self.rehearse()

    def _hint(self, text: str) -> None:
        self.query_one("#rehearse-hint", Static).update(text)

    @work(thread=True, exclusive=True, exit_on_error=False, group="rehearse")
    def rehearse(self) -> None:
        from rfsetup.core.alembic.child import run_in_child

        cancel = get_current_worker().cancelled_event
        try:
            report = run_in_child("rehearse", self.settings, self.target,
                                  on_progress=lambda line: self.post_message(
                                      RehearsalProgressed(str(line))),
                                  cancel=cancel, interrupt=self._interrupt)
        except Exception as exc:
            error = exc if isinstance(exc, RfsetupError) else \
                unexpected_error("rehearse", exc, self.secrets)
            self.post_message(RehearsalFailed(error))
            return
        self.post_message(RehearsalFinished(report))

    def on_rehearsal_progressed(self, message: RehearsalProgressed) -> None:
        self.query_one("#rehearse-log", LogPane).add(message.line)

    def on_rehearsal_finished(self, message: RehearsalFinished) -> None:
        self.running = False
        self.show_report(message.report)

    def show_report(self, report: RehearsalReport) -> None:
        """Replace the progress with the report (also what the snapshots stage)."""
        self.report = report
        self.query_one("#rehearse-log").display = False
        box = self.query_one("#rehearse-report", VerticalScroll)
        box.display = True
        self.query_one("#rehearse-body", Static).update(report_text(report))
        verdict = "passed" if report.passed else "found problems"
        if report.nothing_pending:
            verdict = "had nothing to do"
        self.query_one("#rehearse-summary", Static).update(
            Text(f"The rehearsal {verdict}.", style="bold green" if report.passed
                 else "bold red"))
        self._hint("↑/↓ scroll · Esc closes")
        box.focus()

    def on_rehearsal_failed(self, message: RehearsalFailed) -> None:
        self.running = False
        error = message.error
        log = self.query_one("#rehearse-log", LogPane)
        log.flush()
        text = Text(f"✗ {error.message}", style="bold red")
        if error.cause:
            text.append(f"\ncause: {error.cause}", style="")
        if error.hint:
            text.append(f"\nhint: {error.hint}", style="italic")
        self.query_one("#rehearse-summary", Static).update(text)
        self._hint("Esc closes")

    def action_stop_or_close(self) -> None:
        if not self.running:
            self.dismiss(None)
            return
        if self._worker is not None and not self._worker.cancelled_event.is_set():
            self._worker.cancel()  # its cancelled_event: the child stops at the next revision
            self._hint("stopping at the next revision; the copy is dropped… (Esc: now)")
            return
        self._interrupt.set()  # the running statement is cancelled; the copy still dropped
        self._hint("stopping now; dropping the copy…")


def open_for(screen: Any) -> None:
    """The Migrations step's rehearse key: up to the chosen upgrade's target, else head."""
    choice = screen.choice
    target = choice.target if choice is not None and choice.kind == "up" else "head"
    screen.app.push_screen(RehearseModal(screen.settings, target, screen.database_name,
                                         screen.rf_app.known_secrets()))
