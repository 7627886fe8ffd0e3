"""Step 4, Migrations: the history, the SQL of the chosen move, upgrade and roll back.

The history marks the current revision and the heads, branch points and merges. Highlighting a
revision chooses the move from the current revision to it (up or down) and shows its SQL
(migrations.preview) with squawk's findings (lint). Upgrades run at once; every downgrade and
stamp first opens a ConfirmModal that says what it drops (tables and columns with their row
estimates), shows the statements that matter then the full SQL, and asks for the database name.
Up and down take a backup first (backup=True) and stream Alembic's output into the log pane;
while one runs (``migration_live``) its live line shows the revision, the elapsed time and the
lock wait. ``B`` opens the backups (list, check, restore, prune).

``rfsetup rollback`` opens here with "roll back one step" chosen: ``d``, the name, Enter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets import DataTable, Static
from textual.worker import Worker, get_current_worker

from rfsetup.core.alembic.planning import (
    BASE,
    DOWN_BASE,
    DOWN_ONE,
    UPGRADE_HEAD,
    Move,
    move_to,
    one_step_down,
    stamp_move,
)
from rfsetup.tui.messages import (
    BackupRestored,
    HistoryLoaded,
    LintFinished,
    OperationFailed,
    PreviewReady,
    RecoveryDiagnosed,
)
from rfsetup.tui.modals import recovery, rehearse
from rfsetup.tui.screens.migration_live import RunningMoves
from rfsetup.tui.screens.migration_run import confirm_modal
from rfsetup.tui.screens.migration_sql import (
    LONG_PREVIEW,
    choice_text,
    digest_of,
    lint_note,
    move_span,
    no_sql_text,
    preview_note,
    render_move,
)
from rfsetup.tui.state import StepState, migrations_state
from rfsetup.tui.warmup import ensure_imported
from rfsetup.tui.widgets.history_table import HistoryTable
from rfsetup.tui.widgets.log_pane import LogPane
from rfsetup.tui.widgets.sql_view import SqlView, finding_lines

if TYPE_CHECKING:
    from rfsetup.core.alembic import LintFinding, Preview, RevisionInfo
    from rfsetup.core.alembic.impact import Impact
    from rfsetup.core.status import StatusReport
    from rfsetup.tui.app import RfsetupApp

#: highlight changes settle this long before a preview is rendered (arrow keys held down)
PREVIEW_DEBOUNCE = 0.15


class MigrationsScreen(RunningMoves):
    """History above, the SQL of the chosen move in the middle, the log below."""

    STEP_ID = "migrations"
    BINDINGS = [
        Binding("u", "upgrade_head", "Upgrade", id="migrate-upgrade-head",
                tooltip="Upgrade to head (backup first)"),
        Binding("d", "down_one", "Down 1", id="migrate-down-one",
                tooltip="Roll back one step, -1 (confirm; backup first)"),
        Binding("g", "run_selected", "Go to", id="migrate-to-selected",
                tooltip="Move to the selected revision, up or down (down: confirm)"),
        Binding("b", "down_base", "Base", id="migrate-down-base",
                tooltip="Roll back everything, to base (confirm; backup first)"),
        Binding("s", "stamp_selected", "Stamp", id="migrate-stamp",
                tooltip="Stamp the selected revision without running SQL (confirm)"),
        Binding("R", "rehearse", "Rehearse", id="migrate-rehearse",
                tooltip="Rehearse the pending revisions on a throwaway copy: up, down, up"),
        Binding("v", "recover", "Recover", id="migrate-recover", show=False,
                tooltip="After a branch switch or a half-applied upgrade: the ways out"),
        Binding("r", "reload", "Reload", id="migrate-reload", show=False,
                tooltip="Reload the migration history"),
        Binding("x", "cancel", "Cancel", id="migrate-cancel",
                tooltip="Cancel the running migration at the next revision boundary"),
        Binding("i", "interrupt", "Interrupt", id="migrate-interrupt",
                tooltip="Interrupt the running statement (its revision is rolled back)"),
        Binding("B", "backups", "Backups", id="migrate-backups",
                tooltip="Backups: list, check, restore (after the typed name), prune"),
    ]

    def __init__(self, *, rollback: bool = False) -> None:
        super().__init__()
        self.rollback = rollback
        self.revisions: list[RevisionInfo] = []
        self.parents: dict[str, tuple[str, ...]] = {}
        self.heads: list[str] = []
        self.current: tuple[str, ...] = ()
        self.history_loaded = False
        #: False while the database cannot be read: its revision is unknown, not base
        self.current_known = True
        self.report: StatusReport | None = None
        self.choice: Move | None = DOWN_ONE if rollback else None
        self.preview: Preview | None = None
        self.preview_move: Move | None = None
        self.findings: list[LintFinding] = []
        #: what the previewed move drops (row estimates), when it could be read
        self.impact: Impact | None = None
        self.running = False
        self._init_running()
        self._confirm_pending: Move | None = None
        self._debounce: Timer | None = None
        #: the preview being rendered (its move and the revision it was chosen at)
        self._preview_worker: Worker[None] | None = None
        self._preview_running: tuple[Move, tuple[str, ...]] | None = None
        self._placed_cursor = False

    @classmethod
    def for_app(cls, app: RfsetupApp) -> MigrationsScreen:
        return cls(rollback=app.rollback)

    def compose(self) -> ComposeResult:
        yield Static("", id="mig-move")
        yield HistoryTable(id="mig-history")
        yield SqlView("the SQL of the chosen move appears here", id="mig-sql")
        yield Static("", id="mig-result")
        yield LogPane(id="mig-log")

    def on_mount(self) -> None:
        self.query_one("#mig-log", LogPane).border_title = "Log"
        self.query_one("#mig-sql", SqlView).border_title = "SQL"
        self._show_choice()

    @property
    def history(self) -> HistoryTable:
        return self.query_one("#mig-history", HistoryTable)

    def first_focus(self) -> Any:
        return self.history

    def step_state(self, report: StatusReport | None) -> StepState:
        return migrations_state(report)

    # -- status and history -----------------------------------------------------------------
    def status_changed(self, report: StatusReport, previous: StatusReport | None) -> None:
        self.report = report
        changed = previous is None or previous.current != report.current or \
            previous.heads != report.heads or \
            previous.database.reachable != report.database.reachable
        if (changed or not self.history_loaded) and not self.running and self.live:
            if report.database.reachable:
                self.load_history(report.current)
            else:  # the scripts' history, the database's revision unknown (not base)
                self.load_history((), known=False)
        recovery.watch(self, report)  # an unknown revision: git says where it is

    def on_recovery_diagnosed(self, message: RecoveryDiagnosed) -> None:
        recovery.show_on(self, message)

    def action_reload(self) -> None:
        current = self.report.current if self.report is not None and \
            self.report.database.reachable else None
        self.load_history(current)

    @work(thread=True, exclusive=True, exit_on_error=False, group="migrate-history")
    def load_history(self, current: tuple[str, ...] | None, known: bool = True) -> None:
        def read() -> list[RevisionInfo]:
            from rfsetup.core.status import warm_reading

            if current is not None:
                warm = warm_reading(self.settings)  # the cached graph: no Alembic import
                if warm is not None:
                    from rfsetup.core.alembic.revisions import history_of

                    return history_of(warm.graph, current)
            ensure_imported()
            from rfsetup.core import alembic as migrations

            return migrations.history(self.settings, current=current)

        revisions = self.attempt("read the migration history", read, silent=True)
        if revisions is not None:
            # the database's revisions as read (one these scripts lack included: base is
            # then not "current")
            now = tuple(current) if current else tuple(r.revision for r in revisions
                                                       if r.is_current)
            self.post_message(HistoryLoaded(revisions, now, known=known))

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        self.show_history(message.revisions, message.current, known=message.known)

    def show_history(self, revisions: list[RevisionInfo], current: tuple[str, ...], *,
                     known: bool = True) -> None:
        """Fill the history table; place the cursor on the first load. ``known`` False: the
        database could not be read, so no revision is marked current and nothing is chosen
        (an empty ``current`` would say "base", which is not what anyone knows then)."""
        revisions, current = list(revisions), tuple(current)
        if self.history_loaded and revisions == self.revisions and current == self.current \
                and known == self.current_known:
            # a refill that changed nothing keeps the table, its cursor and the chosen move
            # (re-choosing from the cursor would undo a move chosen by key meanwhile)
            return
        self.revisions, self.current, self.current_known = revisions, current, known
        self.parents = {r.revision: tuple(r.down_revisions) for r in self.revisions}
        self.heads = [r.revision for r in self.revisions if r.is_head]
        self.history_loaded = True
        self.history.fill(self.revisions, self.current, known=known)
        if not known:
            self.choice, self.preview, self.preview_move = None, None, None
            self.query_one("#mig-move", Static).update(Text(
                "Chosen: nothing: the database's revision is unknown (not connected; see the "
                "live panel)", style="dim"))
            self.query_one("#mig-sql", SqlView).show_message(
                "the database is unreachable: no SQL to show (see the panel)")
            return
        if not self._placed_cursor:
            self._placed_cursor = True
            self.history.place(self._initial_revision())
        self._choose_from_cursor()

    def _initial_revision(self) -> str:
        """Rollback: one step down; revisions pending: the head; else where the database is."""
        target: str | None = None
        if self.rollback:
            target = one_step_down(self.parents, self.current)
        elif self.report is not None and self.report.pending:
            target = self.heads[0] if self.heads else None
        if target is None:
            target = self.current[0] if self.current else BASE
        return target

    def selected_revision(self) -> str | None:
        return self.history.selected()

    @on(DataTable.RowHighlighted, "#mig-history")
    def _highlighted(self) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(PREVIEW_DEBOUNCE, self._choose_from_cursor)

    def _choose_from_cursor(self) -> None:
        selected = self.selected_revision()
        if selected is None or not self.current_known:
            return
        self.choose(move_to(self.parents, self.heads, self.current, selected))

    # -- the chosen move and its SQL ----------------------------------------------------------
    def choose(self, move: Move | None) -> None:
        """Make ``move`` the chosen one and render its SQL (None: nothing to do)."""
        if self._debounce is not None:  # a highlight still pending must not undo this choice
            self._debounce.stop()
            self._debounce = None
        if move == self.choice and self.preview_move == move and self.preview is not None:
            return
        if move is not None and move == self.choice and self._preview_running == (
                move, self.current) and self._preview_worker is not None and \
                self._preview_worker.is_running:
            return  # its SQL is being rendered already, from the same revision (u on it)
        self.choice = move
        self.impact = None
        self._show_choice()
        sql = self.query_one("#mig-sql", SqlView)
        if move is None:
            self.preview, self.preview_move = None, None
            sql.show_message("the database is at the selected revision: nothing to run")
            return
        if self.report is not None and not self.report.database.reachable:
            sql.show_message("the database is unreachable: no SQL to show (see the panel)")
            return
        sql.show_message(f"rendering the SQL to {move.label}…")
        if self.live:
            span = move_span(self.parents, self.heads, self.current, move)
            self._preview_running = (move, self.current)
            self._preview_worker = self.render_preview(
                move, sql.dark, in_child=self.running or (span is not None and span > LONG_PREVIEW))

    def _show_choice(self) -> None:
        ids = {DOWN_ONE: "migrate-down-one", DOWN_BASE: "migrate-down-base"}
        key = self.key(ids.get(self.choice, "migrate-to-selected"))  # type: ignore[arg-type]
        impact = self.impact if self.preview_move == self.choice else None
        self.query_one("#mig-move", Static).update(choice_text(self.choice, key, impact))

    @work(thread=True, exclusive=True, exit_on_error=False, group="migrate-preview")
    def render_preview(self, move: Move, dark: bool, in_child: bool = False) -> None:
        worker = get_current_worker()
        render_move(self.settings, move, dark, cancelled=lambda: worker.is_cancelled,
                    post=self.post_message, secrets=self.rf_app.known_secrets,
                    in_child=in_child)

    def on_preview_ready(self, message: PreviewReady) -> None:
        move = self.choice
        if message.preview is None:
            if move is not None and message.label == move.label:
                error = message.error
                self.query_one("#mig-sql", SqlView).show_message(no_sql_text(move, error))
                if self._confirm_pending == move and error is not None:
                    self.post_message(OperationFailed(f"preview: {move.label}", error))
            self._confirm_pending = None
            return
        if move is None or message.label != move.label:
            return  # a stale preview for a move no longer chosen
        self.show_preview(message.preview, move, lines=message.lines, impact=message.impact)

    def show_preview(self, preview: Preview, move: Move, findings: Sequence[LintFinding] = (),
                     lines: list[Any] | None = None, impact: Impact | None = None) -> None:
        self.preview, self.preview_move, self.findings = preview, move, list(findings)
        self.impact = impact
        self._show_choice()
        view = self.query_one("#mig-sql", SqlView)
        if lines is not None:
            view.show_lines(lines, preview.sql, findings)
        else:
            view.show(preview.sql, findings, note=preview_note(preview, move),
                      lines=finding_lines(preview, findings), digest=digest_of(preview, move))
        if self._confirm_pending == move:
            self._confirm_pending = None
            if preview.steps:
                self._open_confirm(move)
            else:
                self._nothing_to_do(f"nothing to do: the database is already at "
                                    f"{preview.target or 'base'}")

    def _nothing_to_do(self, why: str) -> None:
        self.query_one("#mig-result", Static).update(Text(why, style="bold"))
        self.notify(why)

    def on_lint_finished(self, message: LintFinished) -> None:
        if self.preview is None or message.preview is not self.preview or \
                self.preview_move is None:
            return
        self.findings = list(message.findings)
        view = self.query_one("#mig-sql", SqlView)
        if message.lines is not None:
            view.show_lines(message.lines, self.preview.sql, self.findings)
            return
        note = preview_note(self.preview, self.preview_move)
        note += lint_note(message.findings, message.error, self.settings)
        view.show(self.preview.sql, self.findings, note=note,
                  lines=finding_lines(self.preview, self.findings),
                  digest=digest_of(self.preview, self.preview_move))

    # -- actions ----------------------------------------------------------------------------
    def _busy(self) -> bool:
        if self.running:
            self.notify(f"a migration is running ({self.key('migrate-cancel')} cancels at "
                        "the next revision)", severity="warning")
        return self.running

    def action_upgrade_head(self) -> None:
        if not self._busy():
            self.request(UPGRADE_HEAD)

    def action_down_one(self) -> None:
        if not self._busy():
            self.request(DOWN_ONE)

    def action_down_base(self) -> None:
        if not self._busy():
            self.request(DOWN_BASE)

    def action_run_selected(self) -> None:
        if self._busy():
            return
        selected = self.selected_revision()
        move = move_to(self.parents, self.heads, self.current, selected) if selected else None
        if move is None:
            self.notify("the database is already at the selected revision")
            return
        self.request(move)

    @on(DataTable.RowSelected, "#mig-history")
    def _row_selected(self) -> None:
        self.action_run_selected()

    def action_stamp_selected(self) -> None:
        if self._busy():
            return
        selected = self.selected_revision()
        if selected is None:
            return
        if self.settings.production:  # the production guard: a stamp needs --force
            self.notify("A stamp is refused on a production target here: it rewrites the "
                        f"revision without running SQL. Use: rfsetup migrate stamp {selected} "
                        "--force", title="PRODUCTION", severity="error", timeout=12)
            return
        move = stamp_move(selected)
        self.request(move)

    def action_rehearse(self) -> None:
        if not self._busy():
            rehearse.open_for(self)

    def action_recover(self) -> None:
        recovery.open_for(self)

    def request(self, move: Move) -> None:
        """Run ``move``: upgrades at once, downgrades after the confirmation (SQL first)."""
        if not self.current_known:
            self.notify("not connected: the database's revision is unknown, so no move is "
                        "planned (see the live panel)", severity="warning")
            return
        if move.kind == "down" and self.history_loaded and not self.current:
            self._nothing_to_do("nothing to roll back: the database is at base")
            return
        # the production guard: upgrades there need the typed name too
        if not move.needs_confirmation and not self.settings.production:
            self.choose(move)
            self.start_migration(move)
            return
        if self.preview_move == move and self.preview is not None:
            self._open_confirm(move)
            return
        self._confirm_pending = move
        self.choose(move)

    def _open_confirm(self, move: Move) -> None:
        def confirmed(ok: bool | None) -> None:
            if ok:
                self.start_migration(move)
            else:
                self.notify("cancelled: nothing was changed")

        view = self.query_one("#mig-sql", SqlView)
        impact = self.impact if self.preview_move == move else None
        modal = confirm_modal(move, self.preview, self.findings, self.current,
                              self.database_name, view, impact)
        if self.settings.production:
            modal.title_text = f"PRODUCTION — {modal.title_text}"
        self.app.push_screen(modal, confirmed)

    # -- backups ----------------------------------------------------------------------------
    def action_backups(self) -> None:
        """The backups: list with size, age, revision and check; restore; prune."""
        from rfsetup.tui.modals.backups import BackupsModal

        def busy() -> str | None:
            if self.running:
                return (f"a migration is running ({self.key('migrate-cancel')} cancels it at "
                        "the next revision): restore and prune wait for it")
            return None

        def closed(_: object) -> None:
            self.backups_modal = None

        self.backups_modal = BackupsModal(self.settings, self.database_name, busy=busy,
                                          secrets=self.rf_app.known_secrets, load=self.live,
                                          on_restored=self._restored)
        self.app.push_screen(self.backups_modal, closed)

    def _restored(self, message: BackupRestored) -> None:
        if message.result is not None:
            self.query_one("#mig-log", LogPane).write(
                f"restored {message.path.name}: the database is at "
                f"{message.result.revision or 'base'}")
        self.restore_ended(message)
