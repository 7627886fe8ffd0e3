"""The migration history as a table: marks, revision, message; base as the last row.

``● current``, ``◆ head``, ``⑂ branch``, ``⑃ merge``; a merge's message names what it merges.
Refilling keeps the cursor on the revision it was on. The columns are fitted to the width the
table has: below ``WIDE`` cells the marks are symbols only (the legend moves to the border)
and long revision ids are cut, so the message column stays readable at 80x24; cut text ends
in ``…``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events
from textual.widgets import DataTable

from rfsetup.core.alembic.planning import BASE

if TYPE_CHECKING:
    from rfsetup.core.alembic import RevisionInfo

#: from this many cells the marks are spelled out ("● current ◆ head")
WIDE = 70
#: a revision id is cut to this many cells in a narrow table (the message needs the rest)
NARROW_REVISION = 16
#: the message column never gets fewer cells than this (the table scrolls sideways then)
MIN_MESSAGE = 12
_SYMBOLS = (("is_current", "●", "current"), ("is_head", "◆", "head"),
            ("is_branch_point", "⑂", "branch"), ("is_merge", "⑃", "merge"))


def marks(rev: RevisionInfo, *, short: bool = False) -> str:
    """``● current ◆ head`` (``short``: ``●◆``)."""
    found = [(symbol, word) for attr, symbol, word in _SYMBOLS if getattr(rev, attr)]
    if short:
        return "".join(symbol for symbol, _ in found)
    return " ".join(f"{symbol} {word}" for symbol, word in found)


def cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, ``…`` where it was cut."""
    return text if len(text) <= width else text[:max(width - 1, 0)] + "…"


class HistoryTable(DataTable[Text | str]):
    """Rows keyed by revision (and ``base``), newest first."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row")
        self._revisions: list[RevisionInfo] = []
        self._current: tuple[str, ...] = ()
        self._known = True
        self._layout: tuple[bool, int | None, int | None, int | None] | None = None

    def on_mount(self) -> None:
        self._add_columns(None, None, None)

    def _add_columns(self, mark_width: int | None, rev_width: int | None,
                     msg_width: int | None) -> None:
        # explicit widths: DataTable measures auto-width columns only when idle, and rows
        # painted before that stay cached with the old widths (the marks showed blank)
        self.add_column("", key="marks", width=mark_width)
        self.add_column("revision", key="revision", width=rev_width)
        self.add_column("message", key="message", width=msg_width)

    def selected(self) -> str | None:
        """The revision (or ``base``) under the cursor; None when the table is empty."""
        if not self.row_count:
            return None
        return str(self.coordinate_to_cell_key((self.cursor_row, 0))[0].value)

    def fitted(self, width: int) -> tuple[bool, int | None, int | None, int | None]:
        """(short marks, marks width, revision width, message width) for a table ``width``
        cells wide (widths None: as wide as the content, before the table has a size)."""
        if width <= 0:
            return False, None, None, None
        short = width < WIDE
        mark_width = max((len(marks(r, short=short)) for r in self._revisions), default=0)
        mark_width = max(mark_width, len("● current") if not short else 1)
        longest = max((len(r.revision) for r in self._revisions), default=len(BASE))
        rev_width = min(longest, NARROW_REVISION) if short else longest
        # three columns with a cell of padding each side, the vertical scrollbar, and one
        # spare cell: a table one cell too wide scrolls sideways and hides the marks
        msg_width = max(MIN_MESSAGE, width - mark_width - rev_width - 8)
        return short, mark_width, rev_width, msg_width

    def fill(self, revisions: Sequence[RevisionInfo], current: tuple[str, ...], *,
             known: bool = True) -> bool:
        """Show ``revisions``; True when the cursor stayed on the revision it was on.
        ``known`` False: the database's revision is unknown (no ● anywhere, base included)."""
        self._revisions, self._current, self._known = list(revisions), tuple(current), known
        keep = self.selected()
        layout = self.fitted(self.size.width)
        self._layout = layout
        short, mark_width, rev_width, msg_width = layout
        self.clear(columns=True)
        self._add_columns(mark_width, rev_width, msg_width)
        for rev in revisions:
            message = rev.message or ""
            if rev.is_merge:
                message = f"{message} (merges {', '.join(rev.down_revisions)})"
            style = "bold" if rev.is_current else ""
            revision = cut(rev.revision, rev_width) if rev_width else rev.revision
            self.add_row(Text(marks(rev, short=short),
                              style="bold cyan" if rev.is_current else "yellow"),
                         Text(revision, style=style),
                         cut(message, msg_width) if msg_width else message, key=rev.revision)
        base_mark = ("●" if short else "● current") if not current and known else ""
        base_text = "empty database (nothing applied)"
        self.add_row(Text(base_mark, style="bold cyan"), Text(BASE),
                     cut(base_text, msg_width) if msg_width else base_text, key=BASE)
        legend = " · ● current ◆ head" if short else ""
        self.border_subtitle = f"{len(revisions)} revisions{legend}"
        if keep is not None and keep in self.rows:
            self.move_cursor(row=self.get_row_index(keep), animate=False)
            return True
        return False

    def on_resize(self, event: events.Resize) -> None:
        if self._layout is not None and self.fitted(event.size.width) != self._layout:
            self.fill(self._revisions, self._current, known=self._known)

    def place(self, revision: str) -> None:
        """Put the cursor on ``revision`` (no animation), when it is a row."""
        if revision in self.rows:
            self.move_cursor(row=self.get_row_index(revision), animate=False)
