"""The SQL of a move, syntax highlighted and scrollable, with squawk's findings marked.

Rendered with rich's Syntax (pygments) rather than TextArea(language="sql"), which needs
tree-sitter; lines with a finding are highlighted and the findings are listed under the SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Group
from rich.syntax import Syntax
from rich.text import Text
from textual.containers import ScrollableContainer
from textual.widgets import Static

LEVEL_SYMBOLS = {"error": "✗", "warning": "!", "warn": "!", "info": "i", "hint": "i"}


def findings_text(findings: Sequence[Any]) -> Text:
    """One line per finding: symbol, revision, line, rule and message."""
    text = Text()
    for finding in findings:
        symbol = LEVEL_SYMBOLS.get(str(finding.level).lower(), "!")
        where = []
        if finding.revision:
            where.append(str(finding.revision))
        if finding.line is not None:
            where.append(f"line {finding.line}")
        text.append(f"[{symbol}] ", style="bold yellow")
        if where:
            text.append(" ".join(where) + " ", style="dim")
        text.append(f"{finding.rule}: ", style="bold")
        text.append(f"{finding.message}\n")
    text.rstrip()
    return text


class SqlView(ScrollableContainer, can_focus=True):
    """Shows one SQL text; ``show`` replaces it. Scrolls both ways; focusable for the keys."""

    def __init__(self, placeholder: str = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.placeholder = placeholder
        self.sql: str = ""
        self.findings: list[Any] = []

    def compose(self):  # type: ignore[override]
        yield Static(Text(self.placeholder, style="dim"), classes="sql-body")

    def _theme(self) -> str:
        try:
            dark = self.app.current_theme.dark
        except Exception:  # no app yet (rendering before mount)
            dark = True
        return "monokai" if dark else "friendly"

    def show(self, sql: str, findings: Sequence[Any] = (), *, note: str | None = None,
             marked: set[int] | None = None) -> None:
        """Display ``sql`` (highlighted), marking ``marked`` lines (1-based, in ``sql``)."""
        self.sql = sql
        self.findings = list(findings)
        marked = set(marked or ())
        parts: list[Any] = []
        if note:
            parts.append(Text(note, style="italic"))
        if sql.strip():
            parts.append(Syntax(sql.rstrip("\n"), "sql", theme=self._theme(), line_numbers=True,
                                word_wrap=False, highlight_lines=marked,
                                background_color="default"))
        else:
            parts.append(Text("(no SQL: nothing to run)", style="dim"))
        if self.findings:
            parts.append(Text(f"\nsquawk: {len(self.findings)} finding(s)", style="bold"))
            parts.append(findings_text(self.findings))
        self.query_one(".sql-body", Static).update(Group(*parts))
        self.scroll_home(animate=False)

    def show_message(self, message: str) -> None:
        self.sql = ""
        self.findings = []
        self.query_one(".sql-body", Static).update(Text(message, style="dim"))
