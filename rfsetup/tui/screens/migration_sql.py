"""The Migrations step's SQL pane: a move's SQL rendered, then squawk's findings marked.

``render_move`` is the body of the screen's preview worker: it calls the core (preview, then
lint), highlights in the worker's thread (thousands of lines are work for it, not for the UI)
and posts ``PreviewReady`` then ``LintFinished``. The notes above the SQL say what the move
is and what squawk found, the same words whether rendered here or in the UI thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual.message import Message

from rfsetup.core.alembic.planning import Move, count_text
from rfsetup.core.errors import RfsetupError
from rfsetup.core.errors import unexpected as unexpected_error
from rfsetup.tui.messages import LintFinished, PreviewReady
from rfsetup.tui.offload import in_process
from rfsetup.tui.warmup import ensure_migration_imported
from rfsetup.tui.widgets.sql_view import finding_lines, render_sql

if TYPE_CHECKING:
    from rfsetup.core.alembic import LintFinding, Preview
    from rfsetup.core.alembic.impact import Impact
    from rfsetup.core.settings import Settings

#: a statement longer than this is cut in the digest (the full SQL below has all of it)
DIGEST_WIDTH = 160


def marked_lines(preview: Preview, findings: Sequence[LintFinding]) -> set[int]:
    """Lines of ``preview.sql`` with a finding (squawk counts lines within each revision)."""
    return {n for n in finding_lines(preview, findings) if n is not None}


def lint_note(findings: Sequence[LintFinding], error: RfsetupError | None,
              settings: Settings) -> str:
    """The pane's closing note, true for the timeouts ``settings`` give the run."""
    from rfsetup.core.alembic.squawk import timeout_note
    from rfsetup.core.locking import session_timeouts

    if error is not None:
        return f"\n-- squawk: {error.message}"
    import textwrap

    # said every time: why squawk's missing-timeout rules are not in the findings (wrapped:
    # the pane scrolls sideways, and the reason is at the end)
    note = textwrap.wrap(f"note: {timeout_note(session_timeouts(settings))}", 64,
                         break_on_hyphens=False)
    return ("" if findings else "\n-- squawk: no findings") + "".join(
        f"\n-- {line}" for line in note)


def preview_note(preview: Preview, move: Move) -> str:
    frm = ", ".join(preview.from_revisions) or "base"
    if move.kind == "stamp":
        return f"-- {move.label}: {frm} → {preview.target} (no migration runs)"
    note = f"-- {move.label}: {frm} → {preview.target} ({count_text(len(preview.steps))})"
    gaps = getattr(preview, "offline_gaps", [])
    if gaps:
        names = ", ".join(g.revision for g in gaps)
        note += f"\n-- {names}: no offline SQL; the Python that runs is shown in its place"
    return note


def choice_text(choice: Move | None, key: str, impact: Impact | None = None) -> Text:
    """``Chosen: roll back one step   (d runs it, after you confirm)``; ``key`` as mapped;
    then what it drops, when that is known and something is."""
    text = Text()
    if choice is None:
        text.append("Chosen: nothing (the database is at the selection)", style="dim")
        return text
    text.append("Chosen: ", style="bold")
    text.append(choice.label, style="bold yellow" if choice.needs_confirmation else
                "bold green")
    after = ", after you confirm" if choice.needs_confirmation else ""
    text.append(f"   ({key} runs it{after})", style="dim")
    # a rollback always says what it drops (nothing, too); an upgrade only when data goes
    if impact is not None and (impact.loses_data or impact.unread or choice.kind == "down"):
        text.append("\n")
        text.append_text(impact_text(impact, named=False))
    return text


def impact_text(impact: Impact, *, named: bool = True) -> Text:
    """What the move drops, red when data goes (``3 tables with ~48,210 rows will be
    dropped — the largest: indicators ~48,210, …``; ``named`` False: the headline only)."""
    style = "bold red" if impact.loses_data else "bold"
    words = impact.summary() if named else impact.headline()
    return Text(("! " if impact.loses_data else "") + words, style=style)


def digest_of(preview: Preview, move: Move) -> str | None:
    """The statements that matter, first (core.alembic.statements); None for a stamp, which
    writes only the version table."""
    if move.kind == "stamp" or not preview.steps:
        return None
    from rfsetup.core.alembic.statements import changes_text, statements_of

    lines = changes_text(statements_of(preview)).splitlines()
    return "\n".join(line if len(line) <= DIGEST_WIDTH else line[:DIGEST_WIDTH - 1] + "…"
                     for line in lines)


def no_sql_text(move: Move, error: RfsetupError | None) -> str:
    text = f"✗ no SQL for {move.label}: {error.message if error else 'failed'}"
    if error is not None and error.hint:
        text += f"\n  hint: {error.hint}"
    return text


#: a preview of more revisions than this renders Alembic's SQL in rfsetup's child runner
#: (rfsetup.core.alembic.child): ~1 s of Python for 600 revisions that would otherwise hold
#: the UI process's GIL (keys waited for it, most of all while a migration runs)
LONG_PREVIEW = 50
#: SQL longer than this (lines) is highlighted once, after squawk, not before and after it
LONG_SQL_LINES = 2000


def move_span(parents: Mapping[str, Sequence[str]], heads: Sequence[str],
              current: Sequence[str], move: Move) -> int | None:
    """How many revisions ``move`` runs, from the history on screen (None: not known here,
    e.g. a relative target)."""
    from rfsetup.core.revgraph import ancestors as walk

    def ancestors(revisions: Iterable[str]) -> set[str]:
        return walk(parents, revisions)

    if move.kind == "stamp":
        return 0
    targets = list(heads) if move.target in ("head", "heads") else [move.target]
    if move.kind == "up":
        if not all(t in parents for t in targets):
            return None
        return len(ancestors(targets) - ancestors(current))
    if move.target == "base":
        return len(ancestors(current))
    return len(ancestors(current) - ancestors(targets)) if move.target in parents else None


def render_move(settings: Settings, move: Move, dark: bool, *, cancelled: Callable[[], bool],
                post: Callable[[Message], object], secrets: Callable[[], list[str]],
                in_child: bool = False) -> None:
    """Preview ``move``, post it highlighted, then lint it and post the findings marked;
    ``in_child``: Alembic renders the SQL in the child runner (a long range).

    A failure to render is posted as a PreviewReady without a preview (shown in the pane: a
    modal per highlighted row would be noise); squawk failing never hides the SQL.
    """
    ensure_migration_imported()  # a no-op once the warm-up ran (the imports stay one at a time)
    from rfsetup.core import alembic as migrations
    from rfsetup.core.locking import session_timeouts

    try:
        if in_child:
            from rfsetup.core.alembic.child import run_in_child

            preview = run_in_child("stamp_preview", settings, move.target) \
                if move.kind == "stamp" else \
                run_in_child("preview", settings, move.target, down=move.kind == "down")
        elif move.kind == "stamp":
            preview = migrations.stamp_preview(settings, move.target)
        else:
            preview = migrations.preview(settings, move.target, down=move.kind == "down")
    except Exception as exc:
        error = exc if isinstance(exc, RfsetupError) else unexpected_error(
            f"preview: {move.label}", exc, secrets())
        post(PreviewReady(None, move.label, error=error))
        return
    if cancelled():
        return
    impact = None
    if move.kind != "stamp":
        impact = _impact(settings, preview)
    note = preview_note(preview, move)
    digest = digest_of(preview, move)
    # a long text is highlighted once, with squawk's findings (a second of the UI process's
    # GIL per pass for 600 revisions); the pane shows it when the findings are there too
    once = move.kind != "stamp" and preview.sql.count("\n") > LONG_SQL_LINES
    if not once:
        post(PreviewReady(preview, move.label, render_sql(preview.sql, note=note, dark=dark,
                                                          digest=digest), impact=impact))
    if move.kind == "stamp":  # Alembic's version-table bookkeeping only: nothing to lint
        return
    findings: list[LintFinding] = []
    error: RfsetupError | None = None
    try:
        from rfsetup.core.locking import session_timeouts

        findings = list(migrations.lint(preview, timeouts=session_timeouts(settings)))
    except RfsetupError as exc:
        error = exc
    except Exception as exc:  # squawk is advisory: its failure must not hide the SQL
        error = RfsetupError(f"squawk failed: {type(exc).__name__}", kind="lint_failed")
    if cancelled():
        return
    note += lint_note(findings, error, settings)
    if cancelled():
        return
    marks = finding_lines(preview, findings)
    if once:  # thousands of lines: highlighted in a process of its own (tui/offload.py)
        shown = in_process(render_sql, preview.sql, findings, cancelled=cancelled, note=note,
                           lines=marks, dark=dark, digest=digest)
        if shown is None:
            return
        lines = shown
    else:
        lines = render_sql(preview.sql, findings, note=note, lines=marks, dark=dark,
                           digest=digest)
    if once:
        post(PreviewReady(preview, move.label, lines, impact=impact))
    post(LintFinished(preview, findings, error, lines))


def _impact(settings: Settings, preview: Preview) -> Impact | None:
    """What the move drops (advisory: a failure to read the estimates never hides the SQL)."""
    from rfsetup.core.alembic.impact import rollback_impact

    try:
        return rollback_impact(settings, preview)
    except Exception:  # the server went away meanwhile: the panel says why
        return None
