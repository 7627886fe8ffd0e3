"""The log pane: Alembic's and rfsetup's own output, streamed line by line as it happens."""

from __future__ import annotations

from textual.widgets import RichLog


class LogPane(RichLog):
    """A RichLog that never interprets markup in what it is given (SQL has brackets)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(max_lines=2000, wrap=True, markup=False, highlight=False,
                         auto_scroll=True, min_width=20, id=id)
