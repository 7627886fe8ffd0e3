"""The migration history as a table: marks, revision, message; base as the last row.

``● current``, ``◆ head``, ``⑂ branch``, ``⑃ merge``; a merge's message names what it merges.
Refilling keeps the cursor on the revision it was on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import DataTable

from rfsetup.core.alembic.planning import BASE

if TYPE_CHECKING:
    from rfsetup.core.alembic import RevisionInfo


def marks(rev: RevisionInfo) -> str:
    parts = []
    if rev.is_current:
        parts.append("● current")
    if rev.is_head:
        parts.append("◆ head")
    if rev.is_branch_point:
        parts.append("⑂ branch")
    if rev.is_merge:
        parts.append("⑃ merge")
    return " ".join(parts)


class HistoryTable(DataTable[Text | str]):
    """Rows keyed by revision (and ``base``), newest first."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row")

    def on_mount(self) -> None:
        self.add_column("", key="marks")
        self.add_column("revision", key="revision")
        self.add_column("message", key="message")

    def selected(self) -> str | None:
        """The revision (or ``base``) under the cursor; None when the table is empty."""
        if not self.row_count:
            return None
        return str(self.coordinate_to_cell_key((self.cursor_row, 0))[0].value)

    def fill(self, revisions: Sequence[RevisionInfo], current: tuple[str, ...]) -> bool:
        """Show ``revisions``; True when the cursor stayed on the revision it was on."""
        keep = self.selected()
        self.clear()
        for rev in revisions:
            message = rev.message or ""
            if rev.is_merge:
                message = f"{message} (merges {', '.join(rev.down_revisions)})"
            style = "bold" if rev.is_current else ""
            self.add_row(Text(marks(rev), style="bold cyan" if rev.is_current else "yellow"),
                         Text(rev.revision, style=style), message, key=rev.revision)
        self.add_row(Text("● current" if not current else "", style="bold cyan"),
                     Text(BASE), "empty database (nothing applied)", key=BASE)
        self.border_subtitle = f"{len(revisions)} revisions"
        if keep is not None and keep in self.rows:
            self.move_cursor(row=self.get_row_index(keep))
            return True
        return False

    def place(self, revision: str) -> None:
        """Put the cursor on ``revision`` (no animation), when it is a row."""
        if revision in self.rows:
            self.move_cursor(row=self.get_row_index(revision), animate=False)
