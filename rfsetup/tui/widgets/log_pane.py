"""The log pane: Alembic's and rfsetup's own output, streamed line by line as it happens."""

from __future__ import annotations

from textual.widgets import RichLog

#: lines given with ``add`` are written in batches at most this often (seconds)
FLUSH_EVERY = 0.1


class LogPane(RichLog):
    """A RichLog that never interprets markup in what it is given (SQL has brackets).

    Lines arrive in bursts (hundreds of revisions): ``add`` collects them and writes them
    together at most every ``FLUSH_EVERY`` seconds instead of rendering once per line.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(max_lines=2000, wrap=True, markup=False, highlight=False,
                         auto_scroll=True, min_width=20, id=id)
        self._pending: list[str] = []
        self._flush_scheduled = False

    def add(self, line: str) -> None:
        """Write ``line`` with the next batch."""
        self._pending.append(line)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.set_timer(FLUSH_EVERY, self.flush)

    def flush(self) -> None:
        """Write what ``add`` collected now (before a line that must come after it)."""
        self._flush_scheduled = False
        if self._pending:
            lines, self._pending = self._pending, []
            self.write("\n".join(lines))
