"""Migrations in a child process of rfsetup's runner: the same results and errors as in-process,
progress and steps streamed as they happen, cancel as a signal answered at a revision boundary,
and env.py's side effects kept out of the parent."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from rfsetup.core import alembic as migrations
from rfsetup.core.alembic.child import run_in_child
from rfsetup.core.errors import RfsetupError
from tests.helpers.alembic_project import SyntheticProject, make_project
from tests.helpers.db import settings_for, tables, version
from tests.helpers.foreign import make_foreign, version_in


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SyntheticProject]:
    root = tmp_path_factory.mktemp("child")
    return {"plain": make_project(root / "plain", 4),
            "failing": make_project(root / "failing", 3, fail_at=2),
            "slow": make_project(root / "slow", 4, sleep_at=2, sleep_seconds=1.5)}


def test_an_upgrade_in_the_child_streams_its_steps_and_returns_the_result(
        projects: dict[str, SyntheticProject], fresh_db: str, tmp_path: Path) -> None:
    project = projects["plain"]
    settings = settings_for(project.ini, fresh_db, tmp_path)
    lines: list[str] = []
    steps: list[tuple[int, int, str]] = []
    result = run_in_child("upgrade", settings, backup=True, on_progress=lines.append,
                          on_step=lambda i, n, r: steps.append((i, n, r)))
    assert result.applied == project.ids and result.to_revisions == tuple(project.heads)
    assert steps == [(i, 4, rev) for i, rev in enumerate(project.ids, 1)]
    assert lines[0] == "migration lock acquired"
    assert any(line.startswith("backup written to ") for line in lines)
    assert result.backup is not None and result.backup.path.is_file()
    assert version(fresh_db) == tuple(project.heads)
    down = run_in_child("downgrade", settings, "-1", backup=False)
    assert down.to_revisions == (project.ids[-2],)


def test_a_failure_in_the_child_is_the_same_error_as_in_process(
        projects: dict[str, SyntheticProject], pg, tmp_path: Path) -> None:
    names = [pg.create_database(name) for name in ("child_fails", "child_fails_2")]
    try:
        errors = []
        for name, how in zip(names, ("child", "in-process"), strict=True):
            settings = settings_for(projects["failing"].ini, pg.url(name), tmp_path)
            with pytest.raises(RfsetupError) as info:
                if how == "child":
                    run_in_child("upgrade", settings, backup=False)
                else:
                    migrations.upgrade(settings, backup=False)
            errors.append(info.value.to_dict())
    finally:
        for name in names:
            pg.drop_database(name)
    child, in_process = errors
    assert child == {**in_process, "message": in_process["message"].replace(
        "child_fails_2", "child_fails")}
    assert "failed to upgrade" in child["message"]


def test_cancel_stops_the_child_at_the_next_revision_boundary(
        projects: dict[str, SyntheticProject], fresh_db: str, tmp_path: Path) -> None:
    project = projects["slow"]
    settings = settings_for(project.ini, fresh_db, tmp_path)
    cancel = threading.Event()

    def on_step(index: int, total: int, revision: str) -> None:
        if index == 2:  # the slow one started: ask to stop after it
            cancel.set()

    result = run_in_child("upgrade", settings, backup=False, on_step=on_step, cancel=cancel)
    assert result.cancelled and result.applied == project.ids[:2]
    assert version(fresh_db) == (project.ids[1],)
    assert tables(fresh_db) == project.tables_at(project.ids[1])


def test_env_py_printing_and_configuring_logging_stays_in_the_child(
        fresh_db: str, tmp_path: Path, pg) -> None:
    import logging

    other = pg.create_database()
    try:
        project = make_foreign(tmp_path, "generic", pg.url(other))
        project.edit_env("config = context.config\n",
                         "config = context.config\nprint('hello from env.py')\n")
        root_handlers = logging.getLogger().handlers[:]
        settings = settings_for(project.ini, fresh_db, tmp_path)
        lines: list[str] = []
        result = run_in_child("upgrade", settings, backup=False, on_progress=lines.append)
        assert result.to_revisions == (project.head,)
        assert version_in(fresh_db) == (project.head,)
        assert logging.getLogger().handlers == root_handlers
        preview = run_in_child("preview", settings, "-1", down=True)
        assert preview.steps and preview.steps[0].revision == project.head
    finally:
        pg.drop_database(other)


def test_interrupt_cancels_the_running_statement_and_rolls_its_revision_back(
        projects: dict[str, SyntheticProject], fresh_db: str, tmp_path: Path) -> None:
    import time

    project = make_project(tmp_path / "slower", 2, sleep_at=2, sleep_seconds=60)
    settings = settings_for(project.ini, fresh_db, tmp_path)
    interrupt = threading.Event()

    def on_step(index: int, total: int, revision: str) -> None:
        if index == 2:  # a minute-long statement: interrupt it rather than wait
            interrupt.set()

    started = time.monotonic()
    with pytest.raises(RfsetupError) as info:
        run_in_child("upgrade", settings, backup=False, on_step=on_step, interrupt=interrupt)
    assert time.monotonic() - started < 30
    assert info.value.kind == "interrupted"
    assert "was interrupted" in info.value.message and f"is at {project.ids[0]}" in \
        info.value.message
    assert version(fresh_db) == (project.ids[0],)
