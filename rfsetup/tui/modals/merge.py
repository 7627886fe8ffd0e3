"""MergeModal: the .env changed on disk while the form held unsaved edits.

What the file changed is taken, what the user edited is kept, and each key changed on both
sides is a conflict the user decides (Enter or Space on its row: yours, the default, or the
file's). Values
are masked as everywhere (secrets, URL passwords). Dismisses with a MergeDecision, or None
(Escape: decide later; the form stays as it is and saving asks again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Label, Static

if TYPE_CHECKING:
    from collections.abc import Callable

    from rfsetup.core.envmerge import Merge


@dataclass(frozen=True)
class MergeDecision:
    """``reload``: drop the form's edits for the file; else merge, keeping the form's value
    for the conflicting keys in ``keep_mine``."""

    reload: bool = False
    keep_mine: frozenset[str] = field(default_factory=frozenset)


def _keys(names: tuple[str, ...]) -> str:
    return ", ".join(names) or "none"


class MergeModal(ModalScreen[MergeDecision | None]):
    """The keys taken from the file, the edits kept, the conflicts to decide."""

    BINDINGS = [
        Binding("escape", "later", "Decide later", id="merge-later"),
        Binding("ctrl+s", "merge", "Merge", id="merge-apply"),
        Binding("ctrl+l", "reload", "Reload from disk", id="merge-reload"),
        Binding("space", "toggle", "Yours / the file's", id="merge-toggle", show=False),
    ]

    def __init__(self, path: str, merge: Merge, mask: Callable[[str, str], str], *,
                 saving: bool = False) -> None:
        super().__init__()
        self.path = path
        self.merge = merge
        self.mask = mask
        self.saving = saving
        #: conflicting keys for which the form's value wins (default: all of them, what the
        #: form shows stays until the user picks the file's)
        self.keep_mine: set[str] = {c.key for c in merge.conflicts}

    def compose(self) -> ComposeResult:
        m = self.merge
        with Vertical(id="merge-dialog", classes="dialog"):
            yield Label(f"{self.path} changed on disk", classes="dialog-title")
            text = Text()
            text.append("Since the form loaded it, the file changed. Nothing is lost:\n")
            text.append("taken from the file: ", style="bold")
            text.append(_keys(m.theirs + m.same) + "\n")
            text.append("your edits kept: ", style="bold")
            text.append(_keys(m.mine))
            if m.conflicts:
                text.append("\nchanged on both sides: ", style="bold yellow")
                text.append("Enter or Space on a row chooses which value to keep.")
            yield Static(text, id="merge-summary")
            if m.conflicts:
                yield DataTable(id="merge-table", cursor_type="row")
            with Horizontal(classes="dialog-buttons"):
                label = "Merge, then save" if self.saving else "Merge"
                yield Button(f"{label} (^S)", variant="primary", id="merge-apply",
                             compact=True)
                yield Button("Reload, drop my edits (^L)", id="merge-reload", compact=True)
                yield Button("Later (Esc)", id="merge-later", compact=True)

    def on_mount(self) -> None:
        if self.merge.conflicts:
            table = self.query_one(DataTable)
            table.add_column("keep", key="keep")
            table.add_column("key", key="key")
            table.add_column("yours", key="mine")
            table.add_column("in the file", key="theirs")
            for c in self.merge.conflicts:
                table.add_row(self._choice(c.key), c.key, self._shown(c.key, c.mine),
                              self._shown(c.key, c.theirs), key=c.key)
            table.focus()
        else:
            self.query_one("#merge-apply", Button).focus()

    def _shown(self, key: str, value: str) -> str:
        return self.mask(key, value) if value else "(unset)"

    def _choice(self, key: str) -> Text:
        return Text("yours", style="bold cyan") if key in self.keep_mine else \
            Text("the file's", style="bold")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self._toggle(str(event.row_key.value))

    def action_toggle(self) -> None:
        if not self.merge.conflicts:
            return
        table = self.query_one(DataTable)
        key, _ = table.coordinate_to_cell_key((table.cursor_row, 0))
        self._toggle(str(key.value))

    def _toggle(self, key: str) -> None:
        self.keep_mine.symmetric_difference_update({key})
        self.query_one(DataTable).update_cell(key, "keep", self._choice(key))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        {"merge-apply": self.action_merge, "merge-reload": self.action_reload}.get(
            event.button.id or "", self.action_later)()

    def action_merge(self) -> None:
        self.dismiss(MergeDecision(keep_mine=frozenset(self.keep_mine)))

    def action_reload(self) -> None:
        self.dismiss(MergeDecision(reload=True))

    def action_later(self) -> None:
        self.dismiss(None)
