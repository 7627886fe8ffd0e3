"""Step 1, Prerequisites: the doctor's checks as a table, the remedy for this OS, re-run.

Results stream in as each check completes (prereqs.run_checks's on_result posts a message).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from rfsetup.tui.messages import CheckCompleted, ChecksCompleted
from rfsetup.tui.screens.base import StepScreen
from rfsetup.tui.state import StepState, checks_state
from rfsetup.tui.warmup import ensure_imported
from rfsetup.tui.widgets.check_table import CheckTable


def remedy_text(result: Any) -> Text:
    text = Text()
    text.append(f"{result.name}: ", style="bold")
    text.append(f"{result.detail}\n")
    if result.remedy:
        text.append("\nremedy (this OS):\n", style="bold")
        text.append(result.remedy)
    elif result.status == "ok":
        text.append("\nnothing to do", style="dim")
    return text


class PrerequisitesScreen(StepScreen):
    """CheckTable above, the highlighted check's remedy below."""

    STEP_ID = "prerequisites"
    BINDINGS = [Binding("r", "rerun", "Re-run", id="doctor-rerun",
                        tooltip="Run the prerequisite checks again")]

    def __init__(self) -> None:
        super().__init__()
        self.results: list[Any] | None = None
        self.running = False

    def compose(self) -> ComposeResult:
        yield Static(Text("running the checks…", style="dim"), id="doctor-summary",
                     classes="step-intro")
        yield CheckTable(id="doctor-table")
        yield Static("", id="doctor-remedy")

    def first_focus(self) -> Any:
        return self.query_one(CheckTable)

    def start(self) -> None:
        self.rerun()

    def step_state(self, report: Any | None) -> StepState:
        return checks_state(self.results)

    def action_rerun(self) -> None:
        if not self.running:
            self.rerun()

    def rerun(self) -> None:
        self.running = True
        self.query_one(CheckTable).reset()
        self.query_one("#doctor-summary", Static).update(Text("running the checks…",
                                                              style="italic"))
        self.run_doctor()

    @work(thread=True, exclusive=True, exit_on_error=False, group="doctor")
    def run_doctor(self) -> None:
        ensure_imported()
        from rfsetup.core.prereqs import run_checks

        results = self.attempt("run the checks", lambda: run_checks(
            self.settings, on_result=lambda r: self.post_message(CheckCompleted(r))))
        self.post_message(ChecksCompleted(results if results is not None else []))

    def on_check_completed(self, message: CheckCompleted) -> None:
        table = self.query_one(CheckTable)
        table.add_result(message.result)
        if table.row_count == 1:
            self._show_remedy()

    def on_checks_completed(self, message: ChecksCompleted) -> None:
        self.show_results(message.results)

    def show_results(self, results: list[Any]) -> None:
        """All results at once (a finished run, or fixed data)."""
        self.running = False
        self.results = list(results)
        table = self.query_one(CheckTable)
        for result in results:
            table.add_result(result)
        counts = {s: sum(1 for r in results if r.status == s) for s in ("ok", "warn", "fail")}
        summary = Text()
        summary.append(f"✓ {counts['ok']} ok  ", style="green")
        summary.append(f"! {counts['warn']} warn  ", style="yellow")
        summary.append(f"✗ {counts['fail']} fail", style="red")
        summary.append("   (r re-runs; the remedy follows the highlighted check)", style="dim")
        self.query_one("#doctor-summary", Static).update(summary)
        self._show_remedy()

    @on(DataTable.RowHighlighted, "#doctor-table")
    def _highlighted(self) -> None:
        self._show_remedy()

    def _show_remedy(self) -> None:
        result = self.query_one(CheckTable).selected_result()
        self.query_one("#doctor-remedy", Static).update(remedy_text(result) if result else "")
