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


def target_text(db: Any, width: int | None = None) -> str:
    """``user@host:port/database``; a URL that could not be parsed is shown as it was given
    (masked), never as the ``localhost:5432`` a lenient split would make of it. Given the
    panel's ``width``, a target too long for it is broken before ``/database`` (and after
    ``user@``), never inside ``host:port``."""
    from rfsetup.core.errors import ExitCode

    if not db.url:
        return "(DATABASE_URL not set)"
    if db.error is not None and db.error.exit_code == ExitCode.USAGE:
        return db.url
    shown = short_url(db.url)
    if width is None or len(shown) <= width or "/" not in shown:
        return shown
    server, _, database = shown.partition("/")
    user, at, host = server.rpartition("@")
    if len(server) > width and at:
        server = f"{user}@\n{host}"
    return f"{server}\n/{database}"


#: failures whose libpq cause line the verdict already says
_SAID_BY_VERDICT = ("server_down", "timeout", "host_unresolvable")


def diagnosis_text(error: Any, url: str | None = None) -> Text:
    """Why the connection failed: the verdict (the server answered and refused, or nothing
    answered), the server's own words and the remedy, each wrapped at word boundaries by the
    panel. rfsetup's message is left out where the verdict and the target above say it all;
    a URL's problem keeps it (without the URL, shown above)."""
    from rfsetup.core.connect import server_answered, server_words, verdict
    from rfsetup.core.errors import ExitCode

    text = Text()
    answered = server_answered(error)
    said = verdict(error)
    text.append(f"✗ server {said}\n", style="bold yellow" if answered else "bold red")
    if error.exit_code != ExitCode.CONNECT or said == "not reached":
        message = error.message
        if url and message.endswith(f": {url}"):
            message = message[: -len(url) - 2]
        text.append(f"{message}\n", style="red")
    # the server's own words when it answered; libpq's "Connection refused" or "could not
    # translate host name" only repeat the verdict, in a panel with little room
    words = server_words(error.cause) if answered or error.kind not in _SAID_BY_VERDICT \
        else None
    if words:
        text.append("server said: " if answered else "cause: ", style="bold")
        text.append(f"{words}\n", style="dim")
    if error.hint:
        text.append("hint: ", style="bold")
        text.append(f"{error.hint}\n", style="italic")
    return text


def _short_rev(rev: str) -> str:
    return rev if len(rev) <= 24 else rev[:23] + "…"


def production_header(production: str | None) -> Text:
    """`` PRODUCTION `` and why, for the top of the panel (empty when not production)."""
    text = Text()
    if production:
        # the first reason only: the panel is narrow (the CLI's refusals say them all)
        first, *more = production.split("; ")
        text.append(" PRODUCTION ", style="bold reverse red")
        text.append(f"\n{first}{f' (+{len(more)} more)' if more else ''}\n\n", style="red")
    return text


def render_status(report: Any | None, width: int | None = None,
                  production: str | None = None) -> Text:
    """The panel's text for a StatusReport (None: not read yet), for a panel ``width`` wide
    (None: any; the target is then never broken); ``production``: why the target is
    production (rfsetup.core.guard), said first."""
    text = production_header(production)
    if report is None:
        text.append("reading status…", style="dim")
        return text
    db = report.database
    text.append("Target\n", style="bold")
    text.append(f"{target_text(db, width)}\n")
    if db.reachable:
        text.append(f"PostgreSQL {db.server_version}\n", style="dim")
    elif db.error is not None:
        text.append_text(diagnosis_text(db.error, db.url))
    else:
        text.append("✗ server not reached\n", style="bold red")
    text.append("\nRevision ", style="bold")
    text.append("(● now ◆ head)\n", style="dim")
    if db.reachable and not getattr(report, "revision_known", True):
        text.append("● unknown (env.py: see below)\n", style="bold yellow")
    elif db.reachable:
        current = ", ".join(_short_rev(r) for r in report.current) or "base (none applied)"
        text.append(f"● {current}\n", style="bold cyan")
    else:
        text.append("● unknown (not connected)\n", style="dim")
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
        if report.scripts_error.kind == "unknown_revision":  # a branch switch, most likely
            text.append("→ 4 Migrations: the branch that has it, the ways out\n",
                        style="italic")
    r = report.redis
    if not getattr(report, "redis_checked", True):  # the revision first; Redis is being asked
        text.append("\nRedis\n", style="bold")
        text.append("… checking\n", style="dim")
    elif r is not None:
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
        #: why the target is production (the app sets it), or None
        self.production: str | None = None
        # kept, not queried: a report arriving while the app shuts down must not fail
        self._shown = render_status(None)
        self.body = Static(self._shown, id="status-body")

    def compose(self):  # type: ignore[override]
        yield self.body

    def _width(self) -> int | None:
        """The text's width (a long target is broken to fit it); None before layout."""
        return self.body.content_size.width or None

    def on_resize(self) -> None:
        # the target's line breaks follow the width (a wider terminal joins them again)
        if self.report is not None:
            self.show(self.report)

    def show(self, report: Any) -> None:
        self.report = report
        text = render_status(report, self._width(), self.production)
        # most polls find nothing new: skip the re-layout then
        if text != self._shown:
            self._shown = text
            self.body.update(text)
        db = report.database
        self.set_class(not db.reachable, "-unreachable")

    def show_failure(self, error: Any) -> None:
        """The status itself could not be read: say why, keep the last report's facts below."""
        text = production_header(self.production)
        text.append("✗ status unavailable\n", style="bold red")
        text.append(f"{error.message}\n", style="red")
        if error.cause:
            text.append(f"cause: {error.cause}\n", style="dim")
        if error.hint:
            text.append(f"hint: {error.hint}\n", style="italic")
        if self.report is not None:
            text.append("\nlast known:\n", style="dim")
            text.append_text(render_status(self.report, self._width(), self.production))
        self._shown = text
        self.body.update(text)
        self.set_class(True, "-unreachable")

    def mark_production(self, reason: str | None) -> None:
        """Say PRODUCTION (with why) at the top and in the border, or stop saying it."""
        if reason == self.production:
            return
        self.production = reason
        self.set_class(bool(reason), "-production")
        self.border_title = "Live · PRODUCTION" if reason else "Live"
        self._shown = render_status(self.report, self._width(), reason)
        self.body.update(self._shown)
