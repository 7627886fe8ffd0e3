"""What keeps the UI process's loop free (issue 11): display lines the garbage collector does
not walk, full collections held off while a migration runs, and highlighting in a process of
its own."""

from __future__ import annotations

import gc
import os
import pickle
import time

import pytest
from rich.segment import Segment
from rich.style import Style

from rfsetup.tui import collector
from rfsetup.tui.offload import in_process
from rfsetup.tui.widgets.lines import DisplayLines
from rfsetup.tui.widgets.sql_view import render_sql

SQL = "\n".join(f"CREATE TABLE t{n} (id integer PRIMARY KEY, name text NOT NULL);"
                f"  -- 'quoted' {n}" for n in range(3000))


def test_display_lines_give_back_the_segments_they_were_given() -> None:
    bold, red = Style(bold=True), Style(color="red")
    lines = DisplayLines([[Segment("a", bold), Segment("b", bold), Segment("cd", red)],
                          [], [Segment("x", None), Segment("", red), Segment("ü界", red)]])
    assert len(lines) == 3 and lines.width == 4
    assert list(lines[0]) == [Segment("ab", bold), Segment("cd", red)]  # same style: one run
    assert list(lines[1]) == [] and lines[1].cell_length == 0
    assert list(lines[2]) == [Segment("x", None), Segment("ü界", red)]
    assert lines[2].cell_length == 4 and lines[-1].text == "xü界"
    assert lines.plain == "abcd\n\nxü界"
    assert lines[0] is lines[0]  # what is on screen is built once


def test_a_long_highlight_is_a_few_objects_for_the_collector() -> None:
    render_sql("SELECT 1;")  # pygments' lexer and styles loaded: not counted
    gc.collect()
    before = len(gc.get_objects())
    lines = render_sql(SQL)
    assert len(lines) >= 3000
    gc.collect()  # what is left to walk once the render's temporaries are gone
    grown = len(gc.get_objects()) - before
    # Strips were a dozen tracked objects a line (36,000 here); now the lines are untracked
    assert grown < 200, grown
    assert not gc.is_tracked(lines.text(10))
    shown = [lines[n] for n in range(40)]  # what a pane draws is built, and kept bounded
    assert all(strip.text for strip in shown)


def test_display_lines_cross_a_process_boundary_whole() -> None:
    lines = render_sql(SQL[:2000], lines=[2])
    back = pickle.loads(pickle.dumps(lines))
    assert back.plain == lines.plain and back.width == lines.width
    assert [list(s) for s in back] == [list(s) for s in lines]


def test_full_passes_are_held_nested_and_given_back() -> None:
    first, second, third = gc.get_threshold()
    with collector.full_passes_held():
        assert gc.get_threshold() == (first, second, collector.HELD)
        collector.hold_full_passes()  # a second holder (a restore while a run ends)
        collector.release_full_passes()
        assert gc.get_threshold()[2] == collector.HELD
    assert gc.get_threshold() == (first, second, third)
    collector.release_full_passes()  # one too many is harmless
    assert gc.get_threshold() == (first, second, third)


def test_the_highlight_in_a_process_of_its_own_is_the_same() -> None:
    here = render_sql(SQL[:5000], dark=False)
    there = in_process(render_sql, SQL[:5000], dark=False)
    assert there is not None
    assert [list(s) for s in there] == [list(s) for s in here]


def _fails() -> None:
    raise ValueError("from the other process")


def _sleeps() -> int:
    time.sleep(30)
    return os.getpid()


def _dies(parent: int) -> int:
    if os.getpid() != parent:
        os._exit(9)  # killed before answering, as by the OOM killer
    return 42


def test_a_process_that_dies_without_an_answer_leaves_the_work_done_here() -> None:
    assert in_process(_dies, os.getpid()) == 42


def test_an_error_over_there_is_raised_here_and_cancel_stops_the_process() -> None:
    with pytest.raises(ValueError, match="from the other process"):
        in_process(_fails)
    started = time.monotonic()
    deadline = started + 1.0
    assert in_process(_sleeps, cancelled=lambda: time.monotonic() > deadline) is None
    assert time.monotonic() - started < 10  # terminated, not waited for


class _CapturedStderr:
    """What Textual puts in sys.stderr while an app runs: no file descriptor behind it."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        return -1


def test_the_offload_runs_over_there_while_an_app_holds_stderr(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # multiprocessing's spawn failed here ("bad value(s) in fds_to_keep"), found in a tmux walk
    monkeypatch.setattr("sys.stderr", _CapturedStderr())
    assert in_process(os.getpid) != os.getpid()
