"""The live panel, always in view: target, revision against head, tables, Redis.

It renders a StatusReport and nothing else; the app refreshes it on an interval and right
after every operation. When the server is gone it shows the diagnosis (message and hint of
``report.database.error``) and returns to normal by itself on the next good report.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

#: the panel lists this many tables at most (RaptorFlow has 15; Verify lists them all)
MAX_TABLES = 40


def short_url(masked: str) -> str:
    """``user@host:port/database`` from a masked URL (the password is not shown at all)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(masked)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
    except ValueError:  # a URL too broken to split: show it as it is (already masked)
        return masked
    user = f"{parts.username}@" if parts.username else ""
    database = parts.path.lstrip("/")
    return f"{user}{host}:{port}/{database}"


def _short_rev(rev: str) -> str:
    return rev if len(rev) <= 24 else rev[:23] + "…"


def render_status(report: Any | None) -> Text:
    """The panel's text for a StatusReport (None: not read yet)."""
    text = Text()
    if report is None:
        text.append("reading status…", style="dim")
        return text
    db = report.database
    text.append("Target\n", style="bold")
    text.append(f"{short_url(db.url) if db.url else '(DATABASE_URL not set)'}\n")
    if db.reachable:
        text.append(f"PostgreSQL {db.server_version}\n", style="dim")
    else:
        text.append("✗ unreachable\n", style="bold red")
        if db.error is not None:
            text.append(f"{db.error.message}\n", style="red")
            if db.error.hint:
                text.append(f"hint: {db.error.hint}\n", style="italic")
    text.append("\nRevision ", style="bold")
    text.append("(● now ◆ head)\n", style="dim")
    if db.reachable and not getattr(report, "revision_known", True):
        text.append("● unknown (env.py: see below)\n", style="bold yellow")
    elif db.reachable:
        current = ", ".join(_short_rev(r) for r in report.current) or "base (none applied)"
        text.append(f"● {current}\n", style="bold cyan")
    else:
        text.append("● unknown (server unreachable)\n", style="dim")
    heads = ", ".join(_short_rev(h) for h in report.heads) or "(no revisions)"
    text.append(f"◆ {heads}\n")
    if len(report.heads) > 1:
        text.append(f"! {len(report.heads)} heads: merge them\n", style="bold yellow")
    if report.pending is not None:
        if report.pending == 0:
            text.append("✓ up to date\n", style="green")
        else:
            text.append(f"! {report.pending} pending\n", style="bold yellow")
    if report.scripts_error is not None:
        text.append(f"✗ {report.scripts_error.message}\n", style="red")
    r = report.redis
    if r is not None:
        text.append("\nRedis\n", style="bold")
        if r.reachable:
            text.append(f"✓ Redis {r.version}\n", style="green")
        else:
            text.append(f"✗ {r.error}\n", style="red")
    if db.reachable:
        text.append(f"\nTables ({len(report.tables)})\n", style="bold")
        shown = report.tables[:MAX_TABLES]
        width = max((len(t.name) for t in shown), default=0)
        for table in shown:
            text.append(f"{table.name:<{width}} ", style="")
            text.append(f"~{table.rows}\n", style="dim")
        if len(report.tables) > MAX_TABLES:
            text.append(f"… {len(report.tables) - MAX_TABLES} more: see 6 Verify\n",
                        style="dim")
    text.rstrip()
    return text


class StatusPanel(VerticalScroll, can_focus=True):
    """A scrollable Static that shows the latest StatusReport.

    Focusable (``l``, binding id ``focus-status``, or Tab): at 80x24 it holds more than it
    shows, and the arrow keys, PgUp/PgDn, Home and End scroll it once focused."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.report: Any | None = None
        # kept, not queried: a report arriving while the app shuts down must not fail
        self._shown = render_status(None)
        self.body = Static(self._shown, id="status-body")

    def compose(self):  # type: ignore[override]
        yield self.body

    def show(self, report: Any) -> None:
        self.report = report
        text = render_status(report)
        # most polls find nothing new: skip the re-layout then
        if text != self._shown:
            self._shown = text
            self.body.update(text)
        db = report.database
        self.set_class(not db.reachable, "-unreachable")

    def show_failure(self, error: Any) -> None:
        """The status itself could not be read: say why, keep the last report's facts below."""
        text = Text()
        text.append("✗ status unavailable\n", style="bold red")
        text.append(f"{error.message}\n", style="red")
        if error.cause:
            text.append(f"cause: {error.cause}\n", style="dim")
        if error.hint:
            text.append(f"hint: {error.hint}\n", style="italic")
        if self.report is not None:
            text.append("\nlast known:\n", style="dim")
            text.append_text(render_status(self.report))
        self._shown = text
        self.body.update(text)
        self.set_class(True, "-unreachable")
