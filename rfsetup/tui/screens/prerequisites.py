"""Step 1, Prerequisites: the doctor's checks as a table, the remedy for this OS, re-run.

Results stream in as each check completes (prereqs.run_checks's on_result posts a message).
Enter (or ``f``) on a failing check goes to the step that fixes it (state.fixing_step); the
checks run again by themselves when the settings change (the .env was saved or pointed at a
new database), so the step never shows a verdict on a file that is gone.
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
from rfsetup.tui.state import StepState, checks_state, fixing_step, step
from rfsetup.tui.warmup import ensure_imported
from rfsetup.tui.widgets.check_table import CheckTable


def remedy_text(result: Any, fix: str | None = None) -> Text:
    """The highlighted check: its detail, the remedy for this OS and, for a failure rfsetup
    fixes, which step (``fix``: already worded with its key)."""
    text = Text()
    text.append(f"{result.name}: ", style="bold")
    text.append(f"{result.detail}\n")
    if result.remedy:
        text.append("\nremedy (this OS):\n", style="bold")
        text.append(result.remedy)
    elif result.status == "ok":
        text.append("\nnothing to do", style="dim")
    if fix and result.status != "ok":
        text.append(f"\n\n→ {fix}", style="bold")
    return text


#: failures no step fixes: the server is not running (start it: the remedy says how, the
#: sandbox's own command for the sandbox) or does not answer in time (the network)
OUTSIDE_KINDS = frozenset({"server_down", "timeout"})


def _reachability(report: Any) -> tuple[bool, bool | None]:
    """(PostgreSQL answers, Redis answers or None when not checked) of a StatusReport."""
    redis = getattr(report, "redis", None)
    return bool(report.database.reachable), (redis.reachable if redis is not None else None)


class PrerequisitesScreen(StepScreen):
    """CheckTable above, the highlighted check's remedy below."""

    STEP_ID = "prerequisites"
    BINDINGS = [Binding("r", "rerun", "Re-run", id="doctor-rerun",
                        tooltip="Run the prerequisite checks again"),
                Binding("f", "fix", "Fix it", id="doctor-fix", show=False,
                        tooltip="Go to the step that fixes the highlighted check (or Enter)")]

    def __init__(self) -> None:
        super().__init__()
        self.results: list[Any] | None = None
        self.running = False
        #: the settings the shown results were checked with (a new object: the .env changed)
        self.checked_with: Any | None = None

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

    def rerun(self, why: str | None = None) -> None:
        self.running = True
        self.checked_with = self.settings
        self.query_one(CheckTable).reset()
        self.query_one("#doctor-summary", Static).update(Text(
            f"running the checks… ({why})" if why else "running the checks…", style="italic"))
        self.run_doctor(self.settings)

    def status_changed(self, report: Any, previous: Any | None) -> None:
        # the app re-read the settings (the .env was saved, step 3 wrote DATABASE_URL): the
        # results shown were about the old file, so they run again
        if self.live and not self.running and self.checked_with is not None and \
                self.settings is not self.checked_with:
            self.rerun("the settings changed")
            return
        # the panel saw PostgreSQL or Redis go away or come back: the checks said otherwise
        if self.live and not self.running and previous is not None and \
                self.results is not None and _reachability(previous) != _reachability(report):
            self.rerun("a server went away or came back")

    @work(thread=True, exclusive=True, exit_on_error=False, group="doctor")
    def run_doctor(self, settings: Any = None) -> None:
        ensure_imported()
        from rfsetup.core.prereqs import run_checks

        settings = settings if settings is not None else self.settings
        results = self.attempt("run the checks", lambda: run_checks(
            settings, on_result=lambda r: self.post_message(CheckCompleted(r))))
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
        self._show_summary()
        self._show_remedy()
        # the settings changed while the checks ran: their answer is about the old ones
        if self.live and self.checked_with is not None and \
                self.settings is not self.checked_with:
            self.rerun("the settings changed")

    def steps_changed(self) -> None:
        if self.results is not None and not self.running:
            self._show_summary()  # its "Next: …" names the next step not done, as now

    def _show_summary(self) -> None:
        results = self.results or []
        counts = {s: sum(1 for r in results if r.status == s) for s in ("ok", "warn", "fail")}
        summary = Text()
        summary.append(f"✓ {counts['ok']} ok  ", style="green")
        summary.append(f"! {counts['warn']} warn  ", style="yellow")
        summary.append(f"✗ {counts['fail']} fail", style="red")
        if counts["fail"]:
            summary.append(f"   Enter on a ✗ goes to the step that fixes it; "
                           f"{self.key('doctor-rerun')} re-runs", style="dim")
        else:
            summary.append(f"   {self.key('doctor-rerun')} re-runs", style="dim")
            summary.append("\n" + self.next_text(), style="bold")
        self.query_one("#doctor-summary", Static).update(summary)

    @on(DataTable.RowHighlighted, "#doctor-table")
    def _highlighted(self) -> None:
        self._show_remedy()

    @on(DataTable.RowSelected, "#doctor-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_fix()

    def fix_for(self, result: Any) -> str | None:
        """The step that fixes a failing check (None: nothing in rfsetup does)."""
        if result is None or result.status == "ok":
            return None
        if getattr(result, "kind", None) in OUTSIDE_KINDS:
            return None  # a server to start or reach: no step's form changes that
        url_usable = True
        if result.name == "postgresql":
            from rfsetup.core.errors import RfsetupError

            try:
                self.settings.url()
            except RfsetupError:
                url_usable = False
        return fixing_step(result.name, url_usable=url_usable)

    def action_fix(self) -> None:
        """Enter / f: go to the step that fixes the highlighted check (flutter doctor's jump)."""
        result = self.query_one(CheckTable).selected_result()
        target = self.fix_for(result)
        if result is None or result.status == "ok":
            return
        if target is None:
            self.notify(f"{result.name} is fixed outside rfsetup: the remedy below says how",
                        severity="warning")
            return
        self.rf_app.show_step(target)

    def _show_remedy(self) -> None:
        result = self.query_one(CheckTable).selected_result()
        if result is None:
            self.query_one("#doctor-remedy", Static).update("")
            return
        target = self.fix_for(result)
        fix = None
        if target is not None:
            info = step(target)
            fix = f"Enter: go to {info.number} {info.title}, which fixes it"
        elif result.status != "ok":
            fix = "fixed outside rfsetup (the remedy above)"
        self.query_one("#doctor-remedy", Static).update(remedy_text(result, fix))
