"""Step 6, Verify: the guide's ``\\dt`` and ``\\d TABLE`` without psql.

The tables (with the planner's row estimates, and the model tables still missing marked) and,
for the highlighted table, its columns, types, nullability, defaults, keys, indexes, foreign
keys and checks, all from rfsetup.core.inspect.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Label, Static

from rfsetup.tui.messages import TableDescribed, TablesListed
from rfsetup.tui.screens.base import StepScreen
from rfsetup.tui.state import StepState, verify_state
from rfsetup.tui.warmup import ensure_imported


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

    def compose(self) -> ComposeResult:
        yield Static("The guide's \\dt and \\d TABLE: pick a table to describe it.",
                     classes="step-intro")
        yield DataTable(id="verify-tables", cursor_type="row")
        with VerticalScroll(id="verify-detail"):
            yield Label("", id="verify-title", classes="section-title")
            yield DataTable(id="verify-columns", cursor_type="row", show_cursor=False)
            yield Static("", id="verify-extra")

    def on_mount(self) -> None:
        tables = self.query_one("#verify-tables", DataTable)
        tables.add_column("table", key="table")
        tables.add_column("rows~", key="rows")
        tables.add_column("cols", key="cols")
        columns = self.query_one("#verify-columns", DataTable)
        for name in ("column", "type", "null", "default", "key"):
            columns.add_column(name, key=name)
        columns.can_focus = False

    def first_focus(self) -> Any:
        return self.query_one("#verify-tables", DataTable)

    def step_state(self, report: Any | None) -> StepState:
        return verify_state(report, self.expected)

    def status_changed(self, report: Any, previous: Any | None) -> None:
        # reload when the set of tables changed (a migration ran, here or elsewhere)
        names = [t.name for t in report.tables] if report.database.reachable else None
        old = [t.name for t in previous.tables] if previous is not None and \
            previous.database.reachable else None
        if names != old and names is not None and self.live:
            # only reload on screen; elsewhere (e.g. while a migration adds tables) once shown
            if self.rf_app.current_step == self.STEP_ID or not self.tables:
                self.load_tables()
            else:
                self._stale = True

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

        tables = self.attempt("list tables", lambda: list_tables(self.settings), silent=True)
        if tables is not None:
            self.post_message(TablesListed(tables, list(self.settings.profile.expected_tables())))

    @work(thread=True, exclusive=True, exit_on_error=False, group="verify-describe")
    def describe(self, name: str) -> None:
        ensure_imported()
        from rfsetup.core.inspect import describe_table

        desc = self.attempt(f"describe {name}", lambda: describe_table(self.settings, name))
        if desc is not None:
            self.post_message(TableDescribed(desc))

    # -- handlers ---------------------------------------------------------------------------
    def on_tables_listed(self, message: TablesListed) -> None:
        self.show_tables(message.tables, message.expected)

    def show_tables(self, tables: list[Any], expected: list[str]) -> None:
        self.tables, self.expected = list(tables), list(expected)
        table = self.query_one("#verify-tables", DataTable)
        keep = None
        if table.row_count:
            keep, _ = table.coordinate_to_cell_key((table.cursor_row, 0))
        table.clear()
        present = {t.name for t in tables}
        for info in tables:
            mark = "✓ " if info.name in expected else "  "
            table.add_row(Text(mark + info.name), str(info.rows), str(info.columns),
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
