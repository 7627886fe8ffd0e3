"""The SQL pane's speed paths (issue 11) show what the plain path shows: a long range previewed
in the child runner, a long text highlighted once after squawk, the revisions a move spans."""

from __future__ import annotations

from pathlib import Path

import pytest

from rfsetup.core.alembic.planning import DOWN_BASE, UPGRADE_HEAD, Move
from rfsetup.tui.messages import LintFinished, PreviewReady
from rfsetup.tui.screens import migration_sql
from rfsetup.tui.screens.migration_sql import move_span, render_move
from tests.tui.conftest import settings_for


def _render(settings, move: Move, *, in_child: bool) -> list[object]:
    posted: list[object] = []
    render_move(settings, move, True, cancelled=lambda: False, post=posted.append,
                secrets=list, in_child=in_child)
    return posted


def _texts(posted: list[object]) -> list[tuple[str, str]]:
    out = []
    for message in posted:
        assert isinstance(message, (PreviewReady, LintFinished)), message
        lines = message.lines
        assert lines is not None
        out.append((type(message).__name__, "\n".join(strip.text for strip in lines)))
    return out


def test_child_preview_shows_what_the_in_process_one_shows(tmp_path: Path, fresh_db: str
                                                           ) -> None:
    settings = settings_for(tmp_path, fresh_db)
    here = _render(settings, UPGRADE_HEAD, in_child=False)
    there = _render(settings, UPGRADE_HEAD, in_child=True)
    assert here[0].preview.sql == there[0].preview.sql  # type: ignore[attr-defined]
    assert "CREATE TABLE" in here[0].preview.sql  # type: ignore[attr-defined]
    assert _texts(here) == _texts(there)


def test_a_long_text_is_highlighted_once_and_ends_the_same(tmp_path: Path, fresh_db: str,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    settings = settings_for(tmp_path, fresh_db)
    twice = _render(settings, UPGRADE_HEAD, in_child=False)
    monkeypatch.setattr(migration_sql, "LONG_SQL_LINES", 0)  # every text counts as long
    once = _render(settings, UPGRADE_HEAD, in_child=False)
    assert [type(m).__name__ for m in once] == ["PreviewReady", "LintFinished"]
    # the same last screen: the preview arrives with the findings' rendering
    assert _texts(once)[-1] == _texts(twice)[-1]
    assert once[0].lines is once[1].lines  # type: ignore[attr-defined]


def test_move_span_counts_the_revisions_a_move_runs() -> None:
    # a - b - c (head), with a branch b - d merged at e? kept simple: a line and a merge
    parents = {"a": (), "b": ("a",), "c": ("b",), "d": ("b",), "e": ("c", "d")}
    heads = ["e"]
    assert move_span(parents, heads, (), UPGRADE_HEAD) == 5
    assert move_span(parents, heads, ("b",), UPGRADE_HEAD) == 3
    assert move_span(parents, heads, ("e",), DOWN_BASE) == 5
    assert move_span(parents, heads, ("e",), Move("down", "b", "down to b")) == 3
    assert move_span(parents, heads, ("e",), Move("down", "-1", "one")) is None
    assert move_span(parents, heads, (), Move("up", "zzz", "unknown")) is None
