"""ChangesModal: what saving the .env will change (envfile.changes, secrets masked)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Label, Static


class ChangesModal(ModalScreen[bool]):
    """Lists (key, old, new) and dismisses with True on Save."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="changes-cancel"),
        Binding("ctrl+s", "save", "Save", id="changes-save"),
    ]

    def __init__(self, path: str, changes: list[tuple[str, str, str]], *,
                 exists: bool = True) -> None:
        super().__init__()
        self.path = path
        self.changes = changes
        #: False: the file is created (there is no previous file to keep)
        self.exists = exists

    def compose(self) -> ComposeResult:
        with Vertical(id="changes-dialog", classes="dialog"):
            yield Label(f"Save {self.path}?", classes="dialog-title")
            yield Static("These keys change (secrets masked); every other byte of the file is "
                         "kept, and the previous file is kept as a backup." if self.exists else
                         "The file does not exist yet: it is created (mode 0600) with these "
                         "keys (secrets masked).")
            yield DataTable(id="changes-table", cursor_type="row")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save (Ctrl+S)", variant="primary", id="changes-save",
                             compact=True)
                yield Button("Cancel (Esc)", id="changes-cancel", compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("key", "old", "new")
        for key, old, new in self.changes:
            table.add_row(key, old or "(unset)", new or "(unset)")
        self.query_one("#changes-save", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "changes-save")

    def action_save(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
