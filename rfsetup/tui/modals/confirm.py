"""ConfirmModal: shows what will run and asks for the database name typed in.

Every downgrade and stamp goes through it; the confirm button stays disabled until the typed
name matches, and Enter in the field confirms only then.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from rfsetup.tui.widgets.sql_view import SqlView


class ConfirmModal(ModalScreen[bool]):
    """Dismisses with True only after the database name was typed exactly."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="confirm-cancel")]

    def __init__(self, title: str, summary: str, sql: str, database: str, *,
                 backup_note: str | None = None, findings: list | None = None,
                 marked: set[int] | None = None, lines: list | None = None) -> None:
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

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog"):
            yield Label(self.title_text, id="confirm-title", classes="dialog-title")
            yield Static(self.summary, id="confirm-summary")
            yield SqlView(id="confirm-sql")
            if self.backup_note:
                yield Static(self.backup_note, id="confirm-backup", classes="note")
            yield Label(f"Type the database name ({self.database}) to confirm:")
            yield Input(placeholder=self.database, id="confirm-input", compact=True)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Confirm (Enter)", variant="error", id="confirm-ok",
                             disabled=True, compact=True)
                yield Button("Cancel (Esc)", id="confirm-cancel", compact=True)

    def on_mount(self) -> None:
        view = self.query_one(SqlView)
        if self.lines is not None:
            view.show_lines(self.lines, self.sql, self.findings)
        else:
            view.show(self.sql, self.findings, marked=self.marked)
        # an explicit height: an auto-height dialog would otherwise reserve the SQL's full
        # length before max-height clamps it, leaving a blank band under the buttons
        view.styles.height = max(4, min(len(view.lines) + 2, int(self.app.size.height * 0.45)))
        self.query_one(Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#confirm-ok", Button).disabled = event.value != self.database

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value == self.database:
            self.dismiss(True)
        else:
            self.query_one(Input).add_class("-invalid")
            self.notify(f"type {self.database!r} exactly to confirm", severity="warning")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-ok")

    def action_cancel(self) -> None:
        self.dismiss(False)
