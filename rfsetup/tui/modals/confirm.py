"""ConfirmModal: shows what will run and asks for the database name typed in.

Every downgrade, stamp, restore and prune goes through it; the confirm button stays disabled
until the typed name matches, and Enter in the field confirms only then. A wrong name is said
in the modal, under the field, which keeps its size and shows the text selected, so typing
again replaces it. What a rollback drops (``impact``) stands above the SQL, which shows the
statements that matter first (the SQL pane's lines, reused) — or a ``body`` text (a restore's
plan) in its place.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from rfsetup.tui.widgets.sql_view import SqlView

#: what the empty field says (never the name itself: the field would look filled in)
PLACEHOLDER = "type the database name"


class ConfirmModal(ModalScreen[bool]):
    """Dismisses with True only after the database name was typed exactly."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="confirm-cancel")]

    def __init__(self, title: str, summary: str, sql: str, database: str, *,
                 backup_note: str | None = None, findings: list | None = None,
                 marked: set[int] | None = None, lines: list | None = None,
                 impact: Text | None = None, digest: str | None = None,
                 body: Text | None = None, confirm_label: str = "Confirm (Enter)") -> None:
        super().__init__()
        self.title_text = title
        self.summary = summary
        self.sql = sql
        self.database = database
        self.backup_note = backup_note
        self.findings = findings or []
        self.marked = marked or set()
        #: the SQL already highlighted (the Migrations screen's), so opening is instant
        self.lines = lines
        self.impact = impact
        self.digest = digest
        self.body = body
        self.confirm_label = confirm_label
        #: wrong names typed so far (the tests and the walk read it)
        self.refused: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog"):
            yield Label(self.title_text, id="confirm-title", classes="dialog-title")
            yield Static(self.summary, id="confirm-summary")
            if self.impact is not None and self.impact.plain:
                yield Static(self.impact, id="confirm-impact")
            if self.body is not None:
                with VerticalScroll(id="confirm-body"):
                    yield Static(self.body)
            else:
                yield SqlView(id="confirm-sql")
            if self.backup_note:
                yield Static(self.backup_note, id="confirm-backup", classes="note")
            yield Label(f"Type the database name ({self.database}) to confirm:")
            yield Input(placeholder=PLACEHOLDER, id="confirm-input", compact=True)
            yield Static("", id="confirm-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.confirm_label, variant="error", id="confirm-ok",
                             disabled=True, compact=True)
                yield Button("Cancel (Esc)", id="confirm-cancel", compact=True)

    def on_mount(self) -> None:
        if self.body is not None:
            self.call_after_refresh(self._fit_sql)
        else:
            view = self.query_one(SqlView)
            if self.lines is not None:
                view.show_lines(self.lines, self.sql, self.findings)
            else:
                view.show(self.sql, self.findings, marked=self.marked, digest=self.digest)
            # an explicit height: an auto-height dialog would otherwise reserve the SQL's full
            # length before max-height clamps it, leaving a blank band under the buttons
            view.styles.height = max(4, min(len(view.lines) + 2,
                                            int(self.app.size.height * 0.45)))
            self.call_after_refresh(self._fit_sql)
        self.query_one("#confirm-error", Static).display = False
        self.query_one(Input).focus()

    def _fit_sql(self) -> None:
        """The SQL gets what the dialog has left (one line kept for a wrong name's error),
        so the field and the buttons are never pushed out of an 80x24 terminal."""
        view: SqlView | VerticalScroll
        if self.body is None:
            view = self.query_one(SqlView)
            wanted = len(view.lines) + 3  # its border and the sideways scrollbar
        else:
            view = self.query_one("#confirm-body", VerticalScroll)
            wanted = view.virtual_size.height + 2
        dialog = self.query_one("#confirm-dialog")
        error = self.query_one("#confirm-error", Static)
        others = sum(w.outer_size.height for w in dialog.children if w not in (view, error))
        room = int(self.app.size.height * 0.9) - 2 - others - max(1, error.outer_size.height)
        view.styles.height = max(4, min(wanted, room))

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#confirm-ok", Button).disabled = event.value != self.database
        if event.value != (self.refused[-1] if self.refused else None):
            self._say(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value == self.database:
            self.dismiss(True)
            return
        self.refused.append(event.value)
        typed = event.value.strip()
        why = (f"{typed!r} is not {self.database}" if typed else "nothing was typed") + \
            ": type it exactly (Esc cancels)"
        self._say(why)
        event.input.select_all()  # typing again replaces what was wrong

    def _say(self, error: str | None) -> None:
        field = self.query_one(Input)
        field.set_class(error is not None, "-invalid")
        line = self.query_one("#confirm-error", Static)
        shown = line.display
        line.display = error is not None
        line.update(Text(f"✗ {error}", style="bold red") if error else "")
        if shown != line.display:
            self.call_after_refresh(self._fit_sql)  # a long name's error may take two lines

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-ok")

    def action_cancel(self) -> None:
        self.dismiss(False)
