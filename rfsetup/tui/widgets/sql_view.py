"""The SQL of a move, syntax highlighted and scrollable, with squawk's findings marked.

Highlighting (rich's Syntax over pygments; TextArea(language="sql") would need tree-sitter) is
done once, by ``render_sql``, into lines that the widget only crops when it draws: a preview of
hundreds of revisions is thousands of lines, and re-highlighting it on every layout pass would
stall the UI. The lines are kept as DisplayLines (widgets/lines.py), which the garbage
collector does not walk. The preview worker calls ``render_sql`` in its thread; small texts
(the provision plan, a stamp) are rendered in place.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from rich.console import Console, Group
from rich.segment import Segment
from rich.style import Style
from rich.syntax import Syntax
from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from rfsetup.tui.widgets.lines import DisplayLines

LEVEL_SYMBOLS = {"error": "✗", "warning": "!", "warn": "!", "info": "i", "hint": "i"}


def finding_lines(preview: Any, findings: Sequence[Any]) -> list[int | None]:
    """Each finding's line in the pane (1-based over ``preview.sql``, as its gutter numbers
    them): squawk counts lines within each revision's SQL, which starts further down."""
    offsets: dict[str, int] = {}
    position = 0
    for step in preview.steps:
        start = preview.sql.find(step.sql, position) if step.sql else -1
        if start >= 0:
            offsets[step.revision] = preview.sql.count("\n", 0, start)
            position = start + len(step.sql)
    return [offsets[f.revision] + int(f.line) if f.line is not None and f.revision in offsets
            else None for f in findings]


def findings_text(findings: Sequence[Any], lines: Sequence[int | None] | None = None) -> Text:
    """One line per finding: symbol, revision, line, rule and message; ``lines`` are the
    pane's line numbers of the findings (``finding_lines``), else squawk's own."""
    text = Text()
    for index, finding in enumerate(findings):
        symbol = LEVEL_SYMBOLS.get(str(finding.level).lower(), "!")
        line = lines[index] if lines is not None and index < len(lines) else finding.line
        where = []
        if finding.revision:
            where.append(str(finding.revision))
        if line is not None:
            where.append(f"line {line}")
        text.append(f"[{symbol}] ", style="bold yellow")
        if where:
            text.append(" ".join(where) + " ", style="dim")
        text.append(f"{finding.rule}: ", style="bold")
        text.append(f"{finding.message}\n")
    text.rstrip()
    return text


def render_sql(sql: str, findings: Sequence[Any] = (), *, note: str | None = None,
               marked: set[int] | None = None, dark: bool = True,
               lines: Sequence[int | None] | None = None, digest: str | None = None,
               head: Text | None = None) -> DisplayLines:
    """Highlight ``sql`` into display lines (no wrapping: the view scrolls sideways), marking
    the ``marked`` lines (1-based; default: the findings' ``lines``) and listing ``findings``
    below with the pane's line numbers (``lines``, from ``finding_lines``). Safe to call in a
    worker. The background is left to the widget (the theme's, light or dark).

    ``digest`` (the statements that matter, core.alembic.statements.changes_text) is shown
    first, highlighted without line numbers, then the note, then the full SQL (its gutter's
    numbers are the SQL's own, so ``lines`` still point into it); ``head`` (e.g. what a
    rollback drops) above everything."""
    if marked is None and lines is not None:
        marked = {n for n in lines if n is not None}
    parts: list[Any] = []
    if head is not None and head.plain:
        parts.append(head)
    if digest and sql.strip():  # what matters first; the notes and the full SQL below it
        parts.append(Syntax(digest, "sql", theme="monokai" if dark else "friendly",
                            word_wrap=False, background_color="default"))
    if note:
        parts.append(Text(note, style="italic"))
    if digest and sql.strip():
        parts.append(Text("-- the full SQL, in the order it runs:", style="italic dim"))
    if sql.strip():
        parts.append(Syntax(sql.rstrip("\n"), "sql", theme="monokai" if dark else "friendly",
                            line_numbers=True, word_wrap=False, highlight_lines=set(marked or ()),
                            background_color="default"))
    else:
        parts.append(Text("(no SQL: nothing to run)", style="dim"))
    if findings:
        parts.append(Text(f"\nsquawk: {len(findings)} finding(s) (line numbers as in the "
                          "gutter; ❱ marks them)", style="bold"))
        parts.append(findings_text(findings, lines))
    texts = [note or "", sql, digest or "", head.plain if head is not None else "",
             *(f"[!] {f.revision} line {f.line} {f.rule}: {f.message}" for f in findings)]
    width = max((len(line) for t in texts for line in t.splitlines()), default=20) + 10
    console = Console(file=io.StringIO(), width=width, force_terminal=True,
                      color_system="truecolor", legacy_windows=False)
    return DisplayLines(_paced(Segment.split_and_crop_lines(
        console.render(Group(*parts), console.options.update(width=width)), width, pad=False,
        include_new_lines=False)))


def _paced(lines: Iterable[list[Segment]]) -> Iterator[list[Segment]]:
    """``lines``, one at a time (each is dropped once stored: thousands of them never exist
    at once), letting the UI thread have the GIL every 500."""
    for index, line in enumerate(lines):
        yield line
        if index % 500 == 499:
            time.sleep(0)


def on_background(strip: Strip, base: Style) -> Strip:
    """``strip`` drawn on the widget's own style: a segment without a background of its own
    (the gutter, "on default" from the highlighter) gets the theme's, not the terminal's."""
    bgcolor = base.bgcolor
    if bgcolor is None:
        return strip
    fill = Style(bgcolor=bgcolor)
    segments = []
    for segment in strip:
        style = segment.style
        if style is None or style.bgcolor is None or style.bgcolor.is_default:
            style = base + (style or Style()) + fill
        segments.append(Segment(segment.text, style, segment.control))
    return Strip(segments, strip.cell_length)


def message_lines(message: str, wrap: int = 0) -> DisplayLines:
    """A message (not SQL) as lines, wrapped at word boundaries to ``wrap`` cells if given."""
    width = max((len(line) for line in message.splitlines()), default=0) + 2
    if wrap > 0:
        width = min(width, wrap)
    console = Console(file=io.StringIO(), width=max(20, width), force_terminal=True,
                      color_system="truecolor", legacy_windows=False)
    return DisplayLines(console.render_lines(Text(message, style="dim"), pad=False))


class SqlView(ScrollView, can_focus=True):
    """Shows one pre-rendered SQL text; scrolls both ways; focusable for the arrow keys."""

    DEFAULT_CSS = """
    SqlView {
        height: 1fr;
        scrollbar-size-vertical: 1;
        scrollbar-size-horizontal: 1;
    }
    """

    def __init__(self, placeholder: str = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.sql: str = ""
        self.findings: list[Any] = []
        self.lines = message_lines(placeholder) if placeholder else DisplayLines()
        self.message: str = placeholder
        self._set_size()

    @property
    def dark(self) -> bool:
        try:
            return bool(self.app.current_theme.dark)
        except Exception:  # not mounted yet
            return True

    @property
    def text(self) -> str:
        """What is shown, as plain text (for tests and screen readers' copy)."""
        return self.lines.plain

    def show(self, sql: str, findings: Sequence[Any] = (), *, note: str | None = None,
             marked: set[int] | None = None, lines: Sequence[int | None] | None = None,
             digest: str | None = None, head: Text | None = None) -> None:
        """Highlight and display ``sql`` here and now (for small texts); ``lines``: the
        findings' pane lines (``finding_lines``)."""
        self.show_lines(render_sql(sql, findings, note=note, marked=marked, dark=self.dark,
                                   lines=lines, digest=digest, head=head), sql, findings)

    def show_lines(self, lines: DisplayLines, sql: str, findings: Sequence[Any] = ()) -> None:
        """Display lines rendered elsewhere (by a worker) with ``render_sql``."""
        self.sql, self.findings, self.message = sql, list(findings), ""
        self.lines = lines
        self._set_size()
        self.scroll_to(0, 0, animate=False)
        self.refresh()

    def show_message(self, message: str) -> None:
        self.sql, self.findings, self.message = "", [], message
        # a message wraps to the pane (SQL does not: it scrolls sideways)
        self.lines = message_lines(message, wrap=self.size.width - 1)
        self._set_size()
        self.scroll_to(0, 0, animate=False)
        self.refresh()

    def _set_size(self) -> None:
        self.virtual_size = Size(self.lines.width, len(self.lines))

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = y + scroll_y
        width = self.size.width
        base = self.rich_style
        if index >= len(self.lines):
            return Strip.blank(width, base)
        line = self.lines[index].crop_extend(scroll_x, scroll_x + width, base)
        # the theme's background under the gutter and the code (the lines are rendered once,
        # off the UI thread, without it: a theme change only repaints)
        return on_background(line, base)
