"""Step 6, Verify: the guide's ``\\dt`` and ``\\d TABLE`` without psql, and the end of the setup.

The tables (with the planner's row estimates, ``~N`` as in the live panel, which they follow:
both are catalog estimates, never COUNT(*); and the model tables still missing marked) and,
for the highlighted table, its columns, types, nullability, defaults, keys, indexes, foreign
keys and checks, all from rfsetup.core.inspect. The step is done only when the tables are
there AND the seed is in (core.seeding.is_seeded). When every step is done, the ready summary
(core.ready) is shown here and once as a modal.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static

from rfsetup.tui.messages import ReadyRead, TableDescribed, TablesListed
from rfsetup.tui.modals.ready import ReadyModal
from rfsetup.tui.screens.base import StepScreen
from rfsetup.tui.state import StepState, step, verify_state
from rfsetup.tui.warmup import ensure_imported
from rfsetup.tui.widgets.step_list import StepList


def rows_text(rows: int) -> str:
    """A row estimate as the live panel shows it."""
    return f"~{rows:,}"


def description_text(desc: Any) -> Text:
    """Indexes, constraints and referencing foreign keys, psql's ``\\d`` footer."""
    text = Text()
    sections = [
        ("Indexes", [f"{i.name} {'PRIMARY KEY ' if i.primary else ''}"
                     f"{'UNIQUE ' if i.unique and not i.primary else ''}"
                     f"— {i.definition.split(' USING ', 1)[-1]}" for i in desc.indexes]),
        ("Foreign keys", [f"{c.name} {c.definition}" for c in desc.of_kind("foreign key")]),
        ("Unique", [f"{c.name} {c.definition}" for c in desc.of_kind("unique")]),
        ("Checks", [f"{c.name} {c.definition}" for c in desc.of_kind("check")]),
        ("Referenced by", [f"{c.table} {c.name} {c.definition}" for c in desc.referenced_by]),
    ]
    for title, lines in sections:
        if not lines:
            continue
        text.append(f"{title}:\n", style="bold")
        for line in lines:
            text.append(f"  {line}\n")
    text.rstrip()
    return text


class VerifyScreen(StepScreen):
    """Tables on the left (or above, when narrow); the chosen table's description beside."""

    STEP_ID = "verify"
    BINDINGS = [
        Binding("r", "reload", "Reload", id="verify-reload",
                tooltip="List the tables again"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[Any] = []
        self.expected: list[str] = []
        self.description: Any | None = None
        self._pending_table: str | None = None
        self._stale = False
        #: core.seeding.is_seeded when the tables were last listed (None: no seed expected)
        self.seeded: bool | None = None
        #: a listing arrived and nothing changed since (else the step does not know yet)
        self.checked = False
        self.ready: Any | None = None
        self._ready_shown = False

    def compose(self) -> ComposeResult:
        yield Static("The guide's \\dt and \\d TABLE: pick a table to describe it.",
                     classes="step-intro")
        yield Static("", id="verify-summary")
        yield DataTable(id="verify-tables", cursor_type="row")
        with VerticalScroll(id="verify-detail"):
            yield Label("", id="verify-title", classes="section-title")
            yield DataTable(id="verify-columns", cursor_type="row", show_cursor=False)
            yield Static("", id="verify-extra")

    def on_mount(self) -> None:
        tables = self.query_one("#verify-tables", DataTable)
        tables.add_column("table", key="table")
        tables.add_column("rows", key="rows")
        tables.add_column("cols", key="cols")
        columns = self.query_one("#verify-columns", DataTable)
        for name in ("column", "type", "null", "default", "key"):
            columns.add_column(name, key=name)
        columns.can_focus = False
        self.watch(self.rf_app.query_one(StepList), "all_done", self._all_done, init=False)

    def first_focus(self) -> Any:
        return self.query_one("#verify-tables", DataTable)

    def step_state(self, report: Any | None) -> StepState:
        return verify_state(report, self.expected, self.seeded,
                            checked=self.checked and not self._stale)

    def status_changed(self, report: Any, previous: Any | None) -> None:
        if not report.database.reachable:
            return
        rows = {t.name: t.rows for t in report.tables}
        old = [t.name for t in previous.tables] if previous is not None and \
            previous.database.reachable else None
        if old is not None and sorted(old) == sorted(rows):
            # the same tables: the panel's newest estimates, so both say the same number
            self._follow_rows(rows)
            return
        if not self.live:
            return
        # the set of tables changed (a migration ran, here or elsewhere): list them again on
        # screen; elsewhere (e.g. while a migration adds tables) once shown
        self.checked = False
        # an empty list is filled at once (ready when shown), but not while a migration adds
        # tables: hundreds of rows built on the UI thread mid-run, for a list not on screen
        migrating = bool(getattr(self.rf_app.step_screen("migrations"), "running", False))
        if self.rf_app.current_step == self.STEP_ID or (not self.tables and not migrating):
            self.load_tables()
        else:
            self._stale = True

    def _follow_rows(self, rows: dict[str, int]) -> None:
        table = self.query_one("#verify-tables", DataTable)
        changed = False
        for index, info in enumerate(self.tables):
            new = rows.get(info.name)
            if new is not None and new != info.rows:
                self.tables[index] = replace(info, rows=new)
                table.update_cell(info.name, "rows", rows_text(new))
                changed = True
        if changed and self.live and self.seeded is False:
            self.load_tables()  # rows arrived: perhaps the seed did; check it again

    def activated(self) -> None:
        if self._stale and self.live:
            self._stale = False
            self.load_tables()
        super().activated()

    def action_reload(self) -> None:
        self.load_tables()

    # -- workers ----------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="verify-tables")
    def load_tables(self) -> None:
        ensure_imported()
        from rfsetup.core.inspect import list_tables
        from rfsetup.core.seeding import is_seeded

        settings = self.settings
        tables = self.attempt("list tables", lambda: list_tables(settings), silent=True)
        if tables is None:
            return
        # the step is done only when the seed is in too (a dry run finds nothing to do)
        seeded = self.attempt("check the seed", lambda: is_seeded(settings), silent=True)
        self.post_message(TablesListed(tables, list(settings.profile.expected_tables()),
                                       seeded=seeded))

    @work(thread=True, exclusive=True, exit_on_error=False, group="verify-ready")
    def read_ready(self) -> None:
        ensure_imported()
        from rfsetup.core.ready import readiness

        ready = self.attempt("read the setup", lambda: readiness(self.settings,
                                                                 self.rf_app.report))
        if ready is not None:
            self.post_message(ReadyRead(ready))

    @work(thread=True, exclusive=True, exit_on_error=False, group="verify-describe")
    def describe(self, name: str) -> None:
        ensure_imported()
        from rfsetup.core.inspect import describe_table

        desc = self.attempt(f"describe {name}", lambda: describe_table(self.settings, name))
        if desc is not None:
            self.post_message(TableDescribed(desc))

    # -- handlers ---------------------------------------------------------------------------
    def on_tables_listed(self, message: TablesListed) -> None:
        self.show_tables(message.tables, message.expected, seeded=message.seeded)

    def show_tables(self, tables: list[Any], expected: list[str], *,
                    seeded: bool | None = None) -> None:
        self.tables, self.expected = list(tables), list(expected)
        self.seeded, self.checked = seeded, True
        table = self.query_one("#verify-tables", DataTable)
        keep = None
        if table.row_count:
            keep, _ = table.coordinate_to_cell_key((table.cursor_row, 0))
        table.clear()
        present = {t.name for t in tables}
        for info in tables:
            mark = "✓ " if info.name in expected else "  "
            table.add_row(Text(mark + info.name), rows_text(info.rows), str(info.columns),
                          key=info.name)
        for name in expected:
            if name not in present:
                table.add_row(Text(f"✗ {name} (missing)", style="bold red"), "", "", key=name)
        table.border_subtitle = f"{len(tables)} tables" + (
            f", {len(set(expected) - present)} of the models' missing" if expected else "")
        if keep is not None and str(keep.value) in present:
            table.move_cursor(row=table.get_row_index(str(keep.value)))
        if not tables:
            self.query_one("#verify-title", Label).update(
                "No tables yet: run the migrations (step 4).")
        self.show_summary()

    def show_summary(self) -> None:
        """One line: what Verify found, and what to do about it (or the ready summary)."""
        present = {t.name for t in self.tables}
        missing = [name for name in self.expected if name not in present]
        text = Text()
        if self.ready is not None and self.ready.ready and not missing and self.seeded is not \
                False:
            # the headline here (the whole summary was the modal's)
            text.append(self.ready.headline()[0], style="bold green")
            box = self.ready.sandbox
            if box is not None and box.running:
                text.append("\nthe sandbox keeps running: rfsetup sandbox stop stops it "
                            "(data kept)")
        elif missing and present:
            migrations = step("migrations")
            text.append(f"✗ {len(missing)} of the models' tables missing: ", style="bold red")
            text.append(f"{migrations.number} {migrations.title} (press "
                        f"{self.key('step-' + str(migrations.number))}) builds them.")
        elif present and self.seeded is False:
            seed = step("seed")
            text.append("! the tables are here, the plans are not seeded: ", style="bold yellow")
            text.append(f"{seed.number} {seed.title} (press "
                        f"{self.key('step-' + str(seed.number))}).")
        elif present:
            text.append("✓ every table the models define is here" +
                        (" and the plans are seeded." if self.seeded else "."),
                        style="bold green")
        self.query_one("#verify-summary", Static).update(text)

    # -- the end: every step done ------------------------------------------------------------
    def _all_done(self, done: bool) -> None:
        if done and self.live:
            self.read_ready()
        elif not done and self.ready is not None:
            self.ready = None
            self.show_summary()

    def on_ready_read(self, message: ReadyRead) -> None:
        self.show_ready(message.ready)

    def show_ready(self, ready: Any) -> None:
        """The ready summary here, and once as a modal (what was set up, how to stop the
        sandbox) when the setup was finished in this session: a database found ready at launch
        (an on-call `rfsetup rollback`, any later start) gets the summary here only, never a
        dialog over the step the user came for."""
        self.ready = ready
        self.show_summary()
        steps = self.rf_app.query_one(StepList)
        finished_here = steps.seen_unfinished and not getattr(self.rf_app, "rollback", False)
        if ready.ready and not self._ready_shown and finished_here and \
                not isinstance(self.app.screen, ModalScreen):
            self._ready_shown = True
            self.app.push_screen(ReadyModal(ready))

    @on(DataTable.RowHighlighted, "#verify-tables")
    def _table_highlighted(self, event: DataTable.RowHighlighted) -> None:
        name = str(event.row_key.value)
        if name in {t.name for t in self.tables}:
            if self.live:
                self.describe(name)
        else:
            self.query_one("#verify-title", Label).update(f"{name}: not in the database")
            self.query_one("#verify-columns", DataTable).clear()
            self.query_one("#verify-extra", Static).update("")

    def on_table_described(self, message: TableDescribed) -> None:
        self.show_description(message.description)

    def show_description(self, desc: Any) -> None:
        self.description = desc
        self.query_one("#verify-title", Label).update(
            f"\\d {desc.name}  ({len(desc.columns)} columns)")
        columns = self.query_one("#verify-columns", DataTable)
        columns.clear()
        pk = set(desc.primary_key)
        fk_cols = _fk_columns(desc)
        unique_cols = _unique_columns(desc)
        for col in desc.columns:
            keys = []
            if col.name in pk:
                keys.append("PK")
            if col.name in fk_cols:
                keys.append("FK")
            if col.name in unique_cols:
                keys.append("UQ")
            columns.add_row(col.name, col.type, "null" if col.nullable else "not null",
                            col.default or "", " ".join(keys))
        self.query_one("#verify-extra", Static).update(description_text(desc))


def _cols_in(definition: str) -> list[str]:
    inner = definition[definition.index("(") + 1: definition.index(")")]
    return [c.strip().strip('"') for c in inner.split(",")]


def _fk_columns(desc: Any) -> set[str]:
    return {c for con in desc.of_kind("foreign key") for c in _cols_in(con.definition)}


def _unique_columns(desc: Any) -> set[str]:
    # a single-column unique constraint marks its column; composite ones are listed below
    return {cols[0] for con in desc.of_kind("unique")
            if len(cols := _cols_in(con.definition)) == 1}
