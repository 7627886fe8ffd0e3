"""F1 (and ? outside a text field) opens rfsetup's help for the step on screen.

What the step does, its keys as mapped now, the marker legend, the incident path; F1, Esc and
q close it. Snapshots at 80x24 and 120x40 with the showcase's fixed data.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from textual.widgets import Input

from rfsetup.core.settings import parse_keymap
from rfsetup.tui.app import RfsetupApp
from rfsetup.tui.modals.help import HelpModal, plain
from rfsetup.tui.state import STEPS, StepState
from rfsetup.tui.steps import REGISTRY
from tests.tui import showcase
from tests.tui.conftest import settings_for


def _app(project: Path, keymap: str = "") -> RfsetupApp:
    settings = replace(settings_for(project, None), keymap=parse_keymap(keymap))
    return RfsetupApp(settings, autoload=False)


async def test_f1_opens_the_help_of_every_step_and_f1_esc_q_close_it(project_dir: Path) -> None:
    app = _app(project_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        for info, closer in zip(STEPS, ["f1", "escape", "q", "f1", "escape", "q"], strict=True):
            app.show_step(info.id)
            app.query_one("#steps").focus()  # outside any field, as after Esc
            await pilot.pause()
            await pilot.press("f1")
            await pilot.pause()
            assert isinstance(app.screen, HelpModal), info.id
            text = plain(app.screen.body)
            assert app.screen.step_id == info.id
            assert f"rfsetup help · {info.number} {info.title}" in str(
                app.screen.query_one(".dialog-title").render())
            entry = next(e for e in REGISTRY if e.step.id == info.id)
            for binding in entry.screen.BINDINGS:
                assert (binding.tooltip or binding.description) in text, (info.id, binding.id)
            for state in StepState:
                assert f"[{state.symbol}]" in text
            assert "rfsetup rollback" in text and "F1 / ?" in text
            await pilot.press(closer)
            await pilot.pause()
            assert not isinstance(app.screen, HelpModal), (info.id, closer)


async def test_question_mark_opens_it_outside_a_field_and_types_inside_one(
        project_dir: Path) -> None:
    app = _app(project_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        await pilot.press("?")
        await pilot.pause()
        assert isinstance(app.screen, HelpModal) and app.screen.step_id == "database"
        await pilot.press("escape")
        await pilot.pause()
        name = app.query_one("#db-name", Input)
        name.focus()
        await pilot.press("end", "?")
        await pilot.pause()
        assert not isinstance(app.screen, HelpModal)
        assert name.value.endswith("?")


async def test_the_keys_are_shown_as_mapped(project_dir: Path) -> None:
    app = _app(project_dir, "migrate-down-one=ctrl+d,help=f2")
    async with app.run_test(size=(100, 30)) as pilot:
        app.show_step("migrations")
        app.query_one("#steps").focus()
        await pilot.pause()
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, HelpModal)
        text = plain(app.screen.body)
        assert "Ctrl+D" in text and "read the SQL, Ctrl+D, type" in text
        assert "F2" in text
        await pilot.press("f2")  # the help key as mapped closes it too
        await pilot.pause()
        assert not isinstance(app.screen, HelpModal)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_help_snapshot(size: tuple[int, int], snap_compare, project_dir: Path) -> None:
    app = showcase.make_app(project_dir, "migrations")

    async def run_before(pilot) -> None:
        await showcase.stage(app, pilot, "migrations")
        app.query_one("#steps").focus()
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
