"""The Migrations step while a move runs: its live line, cancel, interrupt, and quitting.

``RunningMoves`` is the part of MigrationsScreen that owns a running move: it starts the worker
(``migration_run.run_move``), keeps the live line under the SQL (revision i of N and the
elapsed time, redrawn every second; the lock wait and the backup's seconds in place), cancels
at the next revision boundary (``x``: the worker's cancelled_event) or interrupts the running
statement (``i``: run_in_child's ``interrupt``). Ctrl+Q while a move or a restore runs opens
the QuitModal instead of quitting; after "cancel, then quit" the app quits once the run has
stopped, and the outcome (the revision the database is at) is printed on the terminal.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import events, work
from textual.timer import Timer
from textual.widgets import Static
from textual.worker import Worker, get_current_worker

from rfsetup.core.errors import ExitCode, RfsetupError
from rfsetup.tui.collector import hold_full_passes, release_full_passes
from rfsetup.tui.messages import (
    BackupRestored,
    MigrationApplied,
    MigrationFailed,
    MigrationProgressed,
    MigrationStepped,
    MigrationTicked,
    OperationFailed,
)
from rfsetup.tui.modals.quit import (
    CANCEL,
    INTERRUPT,
    QuitModal,
    migration_choices,
    restore_choices,
)
from rfsetup.tui.screens.base import StepScreen, display_path
from rfsetup.tui.screens.migration_run import (
    RunProgress,
    applied_text,
    failed_text,
    failure_for_modal,
    outcome_text,
    run_move,
    where_text,
)
from rfsetup.tui.warmup import ensure_imported
from rfsetup.tui.widgets.log_pane import LogPane

if TYPE_CHECKING:
    from rfsetup.core.alembic import MigrationResult
    from rfsetup.core.alembic.planning import Move
    from rfsetup.tui.modals.backups import BackupsModal


#: the live line is redrawn at most this often (seconds) while revisions step by
LIVE_EVERY = 0.1
#: full garbage collections resume this long after a run ends (seconds; see tui/collector.py)
RELEASE_AFTER = 2.0


class RunningMoves(StepScreen):
    """MigrationsScreen's base: everything about the move that runs."""

    running: bool
    preview: Any
    preview_move: Any
    current: tuple[str, ...]
    report: Any

    def _init_running(self) -> None:
        #: the running migration's worker: cancelling it sets the core's cancel event
        self._migration_worker: Worker[None] | None = None
        self._interrupt = threading.Event()
        self.progress: RunProgress | None = None
        self._progress_timer: Timer | None = None
        #: the live line's last redraw, and the one scheduled after it (see _show_progress_soon)
        self._drawn_at = 0.0
        self._redraw: Timer | None = None
        self._last_result: MigrationResult | None = None
        #: quit once the running move (or restore) has stopped, printing where it left things
        self.quit_when_done = False
        self.backups_modal: BackupsModal | None = None
        #: full garbage collections held by runs of this screen (tui/collector.py)
        self._holds = 0

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # the footer shows "x Cancel" and "i Interrupt" only while a migration runs
        if action in ("cancel", "interrupt"):
            return self.running
        return True

    def _set_running(self, running: bool) -> None:
        if running and not self.running:
            # the log grows by thousands of lines: no full collection walks them meanwhile
            hold_full_passes()
            self._holds += 1
        elif self.running and not running:
            # the pass that was put off comes once the result is on screen, not with it
            self.set_timer(RELEASE_AFTER, self._release_one)
        self.running = running
        self.refresh_bindings()

    def _release_one(self) -> None:
        if self._holds:
            self._holds -= 1
            release_full_passes()

    def on_unmount(self) -> None:
        # the app is closing (its timers will not fire): what this screen held is given back
        while self._holds:
            self._release_one()

    @property
    def database_name(self) -> str:
        if self.report is not None and self.report.database.name:
            return str(self.report.database.name)
        try:
            ensure_imported()
            return str(self.settings.url().database)
        except RfsetupError:
            return "?"

    # -- starting and the live line -----------------------------------------------------------
    def start_migration(self, move: Move) -> None:
        self._set_running(True)
        log = self.query_one("#mig-log", LogPane)
        log.write(f"── {move.label} ({self.database_name})")
        self.progress = RunProgress(move.label)
        self._last_result = None
        self._interrupt = threading.Event()
        self._show_progress()
        self._progress_timer = self.set_interval(1.0, self._show_progress)
        # compare-and-swap: run only from the revision that was on screen when it was chosen
        shown = self.preview.from_revisions if self.preview is not None and \
            self.preview_move == move else self.current
        self._migration_worker = self.migrate(move, tuple(shown))

    @work(thread=True, exclusive=True, exit_on_error=False, group="migrate-run")
    def migrate(self, move: Move, shown: tuple[str, ...]) -> None:
        run_move(self.settings, move, shown,
                 cancel=get_current_worker().cancelled_event, interrupt=self._interrupt,
                 post=self.post_message,
                 secrets=self.rf_app.known_secrets)

    def _show_progress(self) -> None:
        self._drawn_at = time.monotonic()
        if self._redraw is not None:
            self._redraw.stop()
            self._redraw = None
        if self.running and self.progress is not None:
            self._result_line().update(self.progress.text(quitting=self.quit_when_done))

    def _show_progress_soon(self) -> None:
        """Redraw the live line now, or at most LIVE_EVERY after the last redraw (a long run
        steps hundreds of revisions a second: each redraw is a layout of the UI)."""
        waited = time.monotonic() - self._drawn_at
        if waited >= LIVE_EVERY:
            self._show_progress()
        elif self._redraw is None:
            self._redraw = self.set_timer(LIVE_EVERY - waited, self._show_progress)

    def _result_line(self) -> Static:
        return self.query_one("#mig-result", Static)

    def on_migration_progressed(self, message: MigrationProgressed) -> None:
        self.query_one("#mig-log", LogPane).add(message.line)
        if self.progress is not None and self.progress.tick is not None:
            self.progress.tick = None  # the phase that ticked has ended (lock, backup)
            self._show_progress()

    def on_migration_ticked(self, message: MigrationTicked) -> None:
        if self.running and self.progress is not None:
            self.progress.tick = message.line
            self._show_progress()

    def on_migration_stepped(self, message: MigrationStepped) -> None:
        if self.progress is not None:
            self.progress.step = (message.index, message.total, message.revision)
            self.progress.tick = None
            self._show_progress_soon()

    # -- the end ----------------------------------------------------------------------------
    def _stopped(self) -> LogPane:
        log = self.query_one("#mig-log", LogPane)
        log.flush()
        if isinstance(self.app.screen, QuitModal) and not self.quit_when_done:
            # asked while it ran, not yet answered: nothing is left to decide
            self.app.screen.dismiss(None)
            self.notify(f"the migration has ended (see below); {self.key('quit')} quits now")
        if self._progress_timer is not None:
            self._progress_timer.stop()
            self._progress_timer = None
        self._set_running(False)
        return log

    def on_migration_applied(self, message: MigrationApplied) -> None:
        log = self._stopped()
        result = self._last_result = message.result
        self._result_line().update(self._applied(result))
        to = ", ".join(result.to_revisions) or "base"
        log.write(f"{'cancelled' if result.cancelled else 'done'}: the database is at {to}")
        if self.quit_when_done:
            self._quit_after(result, None)

    def _applied(self, result: MigrationResult) -> Text:
        text = applied_text(result, display_path, self._result_line().size.width)
        heads = getattr(self, "heads", ())
        if not result.cancelled and heads and set(result.to_revisions) == set(heads):
            # newcomer: the next step, first (the result area shows 3 lines)
            text = Text.assemble((self.next_text(), "bold"), "\n", text)
        return text

    def on_resize(self, event: events.Resize) -> None:
        if self._last_result is not None and not self.running:
            self._result_line().update(self._applied(self._last_result))

    def on_migration_failed(self, message: MigrationFailed) -> None:
        log = self._stopped()
        self._last_result = None
        self._result_line().update(failed_text(message))
        log.write(f"FAILED: {message.error.message}")
        if message.error.cause:
            log.write(f"cause: {message.error.cause}")
        log.write(f"the database is at: {where_text(message.current)}")
        if self.quit_when_done:
            self._quit_after(None, message)
            return
        self.post_message(
            OperationFailed(message.operation, failure_for_modal(message)))

    def _quit_after(self, result: MigrationResult | None, failed: MigrationFailed | None
                    ) -> None:
        label = self.progress.label if self.progress is not None else "the migration"
        text = outcome_text(self.database_name, label, result, failed, display_path)
        stopped = failed is not None or (result is not None and result.cancelled)
        code = int(failed.error.exit_code) if failed is not None else \
            int(ExitCode.INTERRUPTED) if stopped else 0
        self.app.exit(return_code=code, message=text)

    # -- cancel, interrupt, quit --------------------------------------------------------------
    def action_cancel(self) -> None:
        if self.running and self._migration_worker is not None:
            # sets the worker's cancelled_event, which the core checks between revisions
            self._migration_worker.cancel()
            self._request("cancel", "cancel requested: stopping at the next revision boundary")

    def action_interrupt(self) -> None:
        if self.running and self._migration_worker is not None:
            self._interrupt.set()  # run_in_child signals the child: the statement is cancelled
            self._request("interrupt", "interrupt requested: cancelling the running "
                                       "statement (its revision is rolled back)")

    def _request(self, what: str, line: str) -> None:
        if self.progress is not None and what not in self.progress.requested:
            self.progress.requested.append(what)
            self.query_one("#mig-log", LogPane).write(line)
        self._show_progress()

    def hold_quit(self) -> bool:
        """Ctrl+Q: True when the app must not quit now (a move or a restore runs); the
        QuitModal then asks what to do with it."""
        app = self.app
        if isinstance(app.screen, QuitModal):
            return True
        backups = self.backups_modal
        if self.running and self.progress is not None:
            progress = self.progress
            title = ("Quitting once the migration stops" if self.quit_when_done else
                     "A migration is running")
            app.push_screen(QuitModal(title, self._quit_status, migration_choices(
                cancel_requested="cancel" in progress.requested or self.quit_when_done,
                interrupt_requested="interrupt" in progress.requested)), self._quit_chosen)
            return True
        if backups is not None and backups.restoring is not None:
            app.push_screen(QuitModal(
                "A restore is running", lambda: Text(
                    f"restoring {backups.restoring.path.name if backups.restoring else '…'} "
                    f"into database {self.database_name}"),
                restore_choices(cancel_requested=backups.cancel_requested)),
                self._quit_restore_chosen)
            return True
        return False

    def _quit_status(self) -> Text:
        progress = self.progress
        if progress is None or not self.running:
            return Text("it has stopped", style="bold")
        text = Text(f"{progress.label} on database {self.database_name}\n",
                    style="bold")
        text.append(progress.where())
        if progress.tick:
            text.append(f"\n{progress.tick}", style="italic")
        return text

    def _quit_chosen(self, choice: str | None) -> None:
        if choice not in (CANCEL, INTERRUPT) or not self.running:
            return
        self.quit_when_done = True
        if choice == CANCEL:
            self.action_cancel()
        else:
            self.action_interrupt()

    def _quit_restore_chosen(self, choice: str | None) -> None:
        backups = self.backups_modal
        if choice == CANCEL and backups is not None and backups.restoring is not None:
            self.quit_when_done = True
            backups.action_cancel_restore()

    def restore_ended(self, message: BackupRestored) -> None:
        """The BackupsModal's restore ended: quit now if that was asked for."""
        if not self.quit_when_done:
            if isinstance(self.app.screen, QuitModal):
                self.app.screen.dismiss(None)  # nothing is left to decide
            return
        database = self.database_name
        if message.result is not None:
            text = (f"rfsetup: the restore of {message.path.name} finished: database "
                    f"{database} is at {message.result.revision or 'base'}")
            code = 0
        else:
            assert message.error is not None
            text = f"rfsetup: the restore of {message.path.name} did not finish: " \
                   f"{message.error.message}"
            code = int(message.error.exit_code)
        self.app.exit(return_code=code, message=text)
