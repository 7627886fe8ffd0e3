"""Helpers for driving the real app with Pilot against the session's real servers."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rfsetup.core.settings import Settings
from tests.conftest import ALEMBIC_INI, PgTestServer

#: the live panel polls this often in tests (the app's default is 2 s)
FAST_POLL = 0.3


async def wait_for(pilot, predicate: Callable[[], object], timeout: float = 30.0,
                   what: str = "condition") -> None:
    """Let the app run until ``predicate()`` is true (workers post their messages)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await pilot.pause(0.05)


async def open_migrations(pilot, app) -> Any:
    """Press 4 and wait for the history: the Migrations screen, ready for its keys."""
    await pilot.press("4")
    mig = app.step_screen("migrations")
    await wait_for(pilot, lambda: mig.history_loaded, what="the history")
    return mig


async def type_into(pilot, text: str) -> None:
    """Type ``text`` key by key into the focused widget."""
    await pilot.press(*text)


def settings_for(project: Path, database_url: str | None, redis_url: str | None = None,
                 alembic_ini: Path = ALEMBIC_INI) -> Settings:
    """Settings as the CLI builds them for `rfsetup` run in ``project``."""
    from rfsetup.core.settings import load_settings

    base = load_settings(None, alembic_ini, environ={}, cwd=project)
    if database_url is None and redis_url is None:
        return base
    return base.with_urls(database_url, redis_url, "test")


@pytest.fixture
def role_name(pg: PgTestServer) -> Iterator[str]:
    """A unique role (and database) name, dropped afterwards with everything it owns."""
    name = f"tui_{uuid.uuid4().hex[:10]}"
    yield name
    pg.drop_database(name)
    pg.drop_role(name)


def run(coro):  # pragma: no cover - convenience for debugging a test by hand
    return asyncio.run(coro)
