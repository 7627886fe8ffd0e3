"""Snapshots of issue 12's screens: a production target's frame and panel, the production
upgrade's confirmation, and the Seed step with the dev fixtures added.

Same method as test_snapshots.py: the real app with ``autoload=False``, fed the showcase's fixed
core objects through the messages its workers post.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from tests.tui import showcase

SIZES = [(80, 24), (120, 40)]
PRODUCTION = "the env file is .env.production"


def _production_app(project: Path) -> Any:
    from rfsetup.tui.app import RfsetupApp

    settings = dataclasses.replace(showcase.settings(project), production=PRODUCTION)
    return RfsetupApp(settings, autoload=False)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_production_frame_and_panel(size: tuple[int, int], snap_compare,
                                    project_dir: Path) -> None:
    app = _production_app(project_dir)
    assert snap_compare(app, terminal_size=size,
                        run_before=lambda pilot: showcase.stage(app, pilot, "migrations"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_production_upgrade_asks_for_the_name(size: tuple[int, int], snap_compare,
                                              project_dir: Path) -> None:
    app = _production_app(project_dir)

    async def run_before(pilot: Any) -> None:
        await showcase.stage(app, pilot, "migrations")
        await pilot.press("u")
        await pilot.pause()
        await pilot.press(*"raptor")

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_seed_with_dev_fixtures(size: tuple[int, int], snap_compare, project_dir: Path) -> None:
    from rfsetup.core.devseed import DevSeedReport, load_fixtures
    from rfsetup.tui.messages import DevSeedApplied

    app = showcase.make_app(project_dir, "seed")
    tables = [table for table, _rows in load_fixtures()]
    report = DevSeedReport(added={t: 5 if t == "indicators" else 1 for t in tables}, kept={})

    async def run_before(pilot: Any) -> None:
        await showcase.stage(app, pilot, "seed")
        # the handler itself: the message would also re-read the status (a real server)
        app.step_screen("seed").on_dev_seed_applied(DevSeedApplied(report))
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


STATUS_ALL = "\n".join([
    "ENV FILE         DATABASE                          REVISION                 PENDING",
    ".env             raptorflow@localhost:5432/rf      0004_production_indexes  up to date",
    ".env.production  app@db.internal:5432/raptorflow   0003_intel               1 pending"
    "  PRODUCTION",
    ".env.staging     app@staging.internal:5432/rf      ?                        unreachable",
    "    no PostgreSQL server is accepting connections at staging.internal:5432"])


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_environment(size: tuple[int, int], snap_compare, project_dir: Path) -> None:
    from rfsetup.tui.modals.targets import TargetsModal

    app = showcase.make_app(project_dir, "prerequisites")

    async def run_before(pilot: Any) -> None:
        await showcase.stage(app, pilot, "prerequisites")
        await app.push_screen(TargetsModal(app.settings, STATUS_ALL))
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
