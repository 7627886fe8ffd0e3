"""What was confirmed is what runs: moves are planned (relative targets resolved) before they
are confirmed, and run compare-and-swap under the lock. Two on-call engineers rolling back at
the same moment undo one revision, not two."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rfsetup.core import alembic as migrations
from tests.cli.conftest import Run
from tests.conftest import ALEMBIC_INI
from tests.helpers.alembic_project import SyntheticProject, make_project
from tests.helpers.db import settings_for, version

RFSETUP = str(Path(sys.executable).parent / "rfsetup")


@pytest.fixture(scope="module")
def slow_down(tmp_path_factory: pytest.TempPathFactory) -> SyntheticProject:
    """Two revisions; the second takes 3 s each way."""
    return make_project(tmp_path_factory.mktemp("cas") / "p", 2, sleep_at=2, sleep_seconds=3)


@pytest.fixture
def at_head(slow_down: SyntheticProject, fresh_db: str, tmp_path: Path) -> Iterator[str]:
    migrations.upgrade(settings_for(slow_down.ini, fresh_db, tmp_path), backup=False)
    yield fresh_db


def _env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DATABASE_URL=url, **extra)
    return env


def test_two_simultaneous_downs_undo_exactly_one_revision(
        slow_down: SyntheticProject, at_head: str, tmp_path: Path) -> None:
    r1, r2 = slow_down.ids
    argv = [RFSETUP, "-c", str(slow_down.ini), "migrate", "down", "--yes", "--no-backup"]
    first = subprocess.Popen(argv, cwd=tmp_path, env=_env(at_head), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    assert first.stdout is not None
    assert first.stdout.readline().strip() == "migration lock acquired"
    # the second engineer confirms while the first rollback is still running: planned from r2
    second = subprocess.run(argv, cwd=tmp_path, env=_env(at_head, RFSETUP_LOCK_WAIT="60"),
                            capture_output=True, text=True, timeout=120, check=False)
    rest, _ = first.communicate(timeout=120)
    assert first.returncode == 0 and f"from {r2} to {r1}" in rest
    assert second.returncode == 1, second.stdout + second.stderr
    assert f"moved from {r2} to {r1} since this was confirmed; nothing was done" in second.stderr
    assert "Running" not in second.stdout
    assert version(at_head) == (r1,)  # one revision undone, not two


def test_from_names_where_a_runbook_expects_the_database(
        run: Run, slow_down: SyntheticProject, at_head: str) -> None:
    r1, r2 = slow_down.ids
    code, out, err = run(at_head, "migrate", "down", "--yes", "--from", r1, "--no-backup",
                         ini=slow_down.ini)
    assert code == 1 and f"is at {r2}, not at {r1} as --from expects" in err
    assert "nothing was done" in err and "Running" not in out
    assert version(at_head) == (r2,)
    code, _, err = run(at_head, "migrate", "stamp", r1, "--yes", "--from", "base",
                       ini=slow_down.ini)
    assert code == 1 and "not at base as --from expects" in err
    assert version(at_head) == (r2,)
    code, out, err = run(at_head, "migrate", "down", "--yes", "--from", r2, "--no-backup",
                         ini=slow_down.ini)
    assert code == 0, err
    assert version(at_head) == (r1,)
    code, _, err = run(at_head, "migrate", "up", "--from", r2, "--no-backup",
                       ini=slow_down.ini)
    assert code == 1 and f"is at {r1}, not at {r2}" in err
    assert version(at_head) == (r1,)


@pytest.mark.parametrize("argv", [("migrate", "down", "--yes", ""), ("migrate", "up", ""),
                                  ("migrate", "stamp", "", "--yes"),
                                  ("migrate", "preview", "")])
def test_an_empty_target_is_bad_input_never_the_default(run: Run, fresh_db: str,
                                                          argv: tuple[str, ...]) -> None:
    migrations.upgrade(settings_for(ALEMBIC_INI, fresh_db, Path.cwd()), backup=False)
    before = version(fresh_db)
    code, _, err = run(fresh_db, *argv)
    assert code == 2, err
    assert "an empty target" in err and "nothing was changed" in err
    assert version(fresh_db) == before
