"""The log pane: Alembic's and rfsetup's own output, streamed line by line as it happens."""

from __future__ import annotations

from collections import deque
from typing import Any

from rich.text import Text
from textual.events import Resize
from textual.timer import Timer
from textual.widgets import RichLog

#: lines given with ``add`` are written in batches at most this often (seconds)
FLUSH_EVERY = 0.1


class LogPane(RichLog):
    """A RichLog that never interprets markup in what it is given (SQL has brackets).

    Lines arrive in bursts (hundreds of revisions): ``add`` collects them and writes them
    together at most every ``FLUSH_EVERY`` seconds instead of rendering once per line.

    RichLog keeps lines as rendered for the width they were written at; this one also keeps
    what was written and renders it again when its width changes, so the log reflows on
    resize (a wider terminal unwraps it, a narrower one wraps it instead of cutting it).
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(max_lines=2000, wrap=True, markup=False, highlight=False,
                         auto_scroll=True, min_width=20, id=id)
        self._pending: list[str] = []
        self._flush_scheduled = False
        # what was written (as given, with its write arguments), for the reflow
        self._written: deque[tuple[Any, int | None, bool, bool]] = deque(maxlen=2000)
        self._replaying = False
        self._width = 0
        self._reflow_timer: Timer | None = None

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

    # -- reflow on resize (issue 10 item 10) ---------------------------------------------------
    def write(self, content: Any, width: int | None = None, expand: bool = False,
              shrink: bool = True, scroll_end: bool | None = None,
              animate: bool = False) -> LogPane:
        # before the size is known RichLog defers the write and calls write again later:
        # kept then, once
        if not self._replaying and self._size_known:
            kept = content.copy() if isinstance(content, Text) else content
            self._written.append((kept, width, expand, shrink))
        super().write(content, width, expand, shrink, scroll_end, animate)
        return self

    def clear(self) -> LogPane:
        if not self._replaying:
            self._written.clear()
        super().clear()
        return self

    def on_resize(self, event: Resize) -> None:
        width = event.size.width
        if width == self._width:
            return
        first, self._width = self._width == 0, width
        if first or not self._written:
            return  # RichLog renders what was deferred until its size was known
        # a drag resizes many times: reflow once it settles
        if self._reflow_timer is not None:
            self._reflow_timer.stop()
        self._reflow_timer = self.set_timer(0.05, self.reflow)

    def reflow(self) -> None:
        """Render everything written again for the current width, keeping the scroll end."""
        self._reflow_timer = None
        at_end = self.scroll_offset.y >= self.max_scroll_y
        self._replaying = True
        try:
            super().clear()
            for content, width, expand, shrink in self._written:
                super().write(content, width, expand, shrink, scroll_end=False)
        finally:
            self._replaying = False
        if at_end:
            self.scroll_end(animate=False, immediate=False, x_axis=False)
