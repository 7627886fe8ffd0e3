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
                   what: str = "condition", shown: Callable[[], object] | None = None) -> None:
    """Let the app run until ``predicate()`` is true (workers post their messages).

    A timeout names the screens open then and, given ``shown``, what it returns (the text the
    predicate looked at), so a failure in CI says what the app was showing instead.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            screens = " > ".join(type(s).__name__ for s in pilot.app.screen_stack)
            seen = f"; it showed: {shown()!r}" if shown is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what} "
                                 f"(screens: {screens}){seen}")
        await pilot.pause(0.05)


def confirm_ready(app) -> bool:
    """The name confirmation is on top, mounted, its field focused: keys typed before that
    (the dialog still mounting) reach no field and the name would come out short."""
    from rfsetup.tui.modals.confirm import ConfirmModal

    screen = app.screen
    if not isinstance(screen, ConfirmModal) or not screen.is_mounted:
        return False
    fields = screen.query("#confirm-input")
    return bool(fields) and screen.focused is fields.first()


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
