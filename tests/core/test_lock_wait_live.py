"""The wait for the migration lock, live: about once a second a ProgressTick that a UI draws
in place ("waiting 2 s of 5 s for the migration lock held by alice@ops-1 pid 4242"), after
the one full line that names the holder."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg2
import pytest

from rfsetup.core import locking
from rfsetup.core.errors import RfsetupError
from rfsetup.core.progress import ProgressTick
from tests.helpers.db import libpq

COLLEAGUE = "rfsetup migrate (alice@ops-1 pid 4242)"


@pytest.fixture
def held_by(fresh_db: str, request: pytest.FixtureRequest) -> Iterator[int]:
    """A colleague's session holding the lock, named as their rfsetup names itself."""
    conn = psycopg2.connect(libpq(fresh_db), application_name=request.param)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s), pg_backend_pid()", (locking.lock_key(),))
        pid = cur.fetchone()[1]
    yield pid
    conn.close()


@pytest.mark.parametrize("held_by", [COLLEAGUE], indirect=True)
def test_the_wait_ticks_once_a_second_naming_the_colleague(fresh_db: str, held_by: int
                                                          ) -> None:
    lines: list[str] = []
    conn = psycopg2.connect(libpq(fresh_db))
    conn.autocommit = True
    try:
        with pytest.raises(RfsetupError) as info:
            locking.acquire(conn, wait=2.6, on_progress=lines.append)
    finally:
        conn.close()
    assert info.value.kind == "locked"
    first, *ticks = lines
    assert not isinstance(first, ProgressTick) and COLLEAGUE in first
    assert [str(t) for t in ticks] == [
        f"waiting {s} s of 2.6 s for the migration lock held by alice@ops-1 pid 4242"
        for s in (1, 2)]
    assert all(isinstance(t, ProgressTick) for t in ticks)


@pytest.mark.parametrize("held_by", ["psql"], indirect=True)
def test_another_tool_is_named_by_pid_application_and_user(fresh_db: str, held_by: int
                                                          ) -> None:
    lines: list[str] = []
    conn = psycopg2.connect(libpq(fresh_db))
    conn.autocommit = True
    try:
        with pytest.raises(RfsetupError):
            locking.acquire(conn, wait=1.3, on_progress=lines.append)
    finally:
        conn.close()
    assert lines[-1] == (f"waiting 1 s of 1.3 s for the migration lock held by pid {held_by} "
                         "('psql', user postgres)")
