"""Issue 10's readability items: the SQL pane's timeout note and line numbers, the gutter on
the theme's background, and the log reflowing on resize.

RaptorFlow's real preview and squawk's real findings (tests.tui.showcase renders them offline).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App, ComposeResult

from rfsetup.core.alembic import lint
from rfsetup.core.alembic.squawk import timeout_note
from rfsetup.core.locking import session_timeouts
from rfsetup.tui.widgets.log_pane import LogPane
from rfsetup.tui.widgets.sql_view import SqlView, finding_lines, render_sql
from tests.tui import showcase


def _base_to_head() -> object:
    return showcase.preview((), "head", down=False)


def test_finding_line_numbers_are_the_panes() -> None:
    preview = _base_to_head()
    findings = lint(preview)
    if not findings:
        pytest.skip("squawk found nothing (not installed?)")
    lines = finding_lines(preview, findings)
    whole = preview.sql.split("\n")
    steps = {s.revision: s.sql.split("\n") for s in preview.steps}
    shown = "\n".join(strip.text for strip in render_sql(preview.sql, findings, lines=lines))
    moved = 0
    for finding, line in zip(findings, lines, strict=True):
        assert line is not None
        # the pane's line N is the very line squawk flagged in its revision
        assert whole[line - 1] == steps[finding.revision][finding.line - 1]
        assert f"{finding.revision} line {line} {finding.rule}" in shown
        moved += line != finding.line
    assert moved, "the findings are past the first revision: their numbers must move"


def test_the_timeout_note_is_shown_and_true(monkeypatch: pytest.MonkeyPatch) -> None:
    preview = _base_to_head()
    from rfsetup.core.settings import load_settings

    defaults = session_timeouts(load_settings(environ={}))
    rules = {f.rule for f in lint(preview, timeouts=defaults)}
    assert not rules & {"require-lock-timeout", "require-statement-timeout"}
    note = timeout_note(defaults)
    assert "rfsetup sets lock_timeout=10s, statement_timeout=30min" in note
    # statement_timeout off: its rule is squawk's again, and the note says so
    off_timeouts = session_timeouts(load_settings(environ={"RFSETUP_STATEMENT_TIMEOUT": "0"}))
    off = {f.rule for f in lint(preview, timeouts=off_timeouts)}
    assert "require-statement-timeout" in off and "require-lock-timeout" not in off
    assert "statement_timeout is 0: off" in timeout_note(off_timeouts)


async def test_the_migrations_pane_says_rfsetup_sets_the_timeouts(project_dir: Path) -> None:
    app = showcase.make_app(project_dir, "migrations")
    async with app.run_test(size=(120, 40)) as pilot:
        await showcase.stage(app, pilot, "migrations")
        await pilot.pause()
        text = app.query_one("#mig-sql", SqlView).text
        said = " ".join(line.strip().removeprefix("-- ") for line in text.splitlines()
                        if line.startswith("-- "))
        assert "note: rfsetup sets lock_timeout=10s, statement_timeout=30min on every " \
               "connection of a run, so squawk's missing-lock/statement-timeout rules do " \
               "not apply" in said
        assert "require-lock-timeout" not in text


class _Panes(App[None]):
    def compose(self) -> ComposeResult:
        yield SqlView(id="sql")
        yield LogPane(id="log")


@pytest.mark.parametrize("theme", ["textual-light", "textual-dark", "gruvbox"])
async def test_the_sql_gutter_is_on_the_themes_background(theme: str) -> None:
    app = _Panes()
    async with app.run_test(size=(60, 12)) as pilot:
        app.theme = theme
        view = app.query_one(SqlView)
        view.show("CREATE TABLE a (id int);\nSELECT 1;", marked={2}, note="-- a note")
        await pilot.pause()
        background = view.rich_style.bgcolor
        assert background is not None and not background.is_default
        for y in range(4):
            for segment in view.render_line(y):
                assert segment.style is not None and segment.style.bgcolor == background, (
                    theme, y, segment)


async def test_the_log_reflows_on_resize() -> None:
    app = _Panes()
    long = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi"
    async with app.run_test(size=(40, 24)) as pilot:
        log = app.query_one(LogPane)
        log.add(long)
        log.flush()
        log.write("second: " + long)
        await pilot.pause()
        narrow = len(log.lines)
        assert narrow >= 4
        await pilot.resize_terminal(160, 24)
        await pilot.pause(0.3)
        assert [s.text.rstrip() for s in log.lines] == [long, "second: " + long]
        await pilot.resize_terminal(40, 24)
        await pilot.pause(0.3)
        assert len(log.lines) == narrow  # wrapped again, nothing lost or doubled
        log.clear()
        await pilot.resize_terminal(100, 24)
        await pilot.pause(0.3)
        assert not log.lines  # a cleared log stays clear


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_light_migrations_snapshot(size: tuple[int, int], snap_compare,
                                   project_dir: Path) -> None:
    app = showcase.make_app(project_dir, "migrations")

    async def run_before(pilot) -> None:
        app.theme = "textual-light"
        await showcase.stage(app, pilot, "migrations")

    assert snap_compare(app, terminal_size=size, run_before=run_before)
