"""A killed rfsetup, and signals: real `rfsetup` processes on slow migrations.

SIGKILL inside a long statement leaves nothing running on the server for long (the session's
client_connection_check_interval and keepalives), so the next run gets the lock; a session
left behind by an rfsetup that no longer runs is named as such, with the statement that ends
it; SIGTERM and SIGHUP behave like Ctrl-C.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest

from rfsetup.core import locking
from tests.helpers.alembic_project import SyntheticProject, make_project
from tests.helpers.db import libpq, query, tables, version

RFSETUP = str(Path(sys.executable).parent / "rfsetup")


@pytest.fixture(scope="module")
def sleepy(tmp_path_factory: pytest.TempPathFactory) -> SyntheticProject:
    """r1 quick, r2 sleeps a minute in the database (both ways), r3 quick."""
    return make_project(tmp_path_factory.mktemp("crash") / "p", 3, sleep_at=2,
                        sleep_seconds=60)


def _env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL",
                                                                    "REDIS_URL", "RFSETUP_"))}
    env.update(DATABASE_URL=url, **extra)
    return env


def rfsetup(project: SyntheticProject, url: str, cwd: Path, *argv: str,
            **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([RFSETUP, "-c", str(project.ini), *argv], cwd=cwd,
                            env=_env(url, **env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def sleeping_backend(url: str, timeout: float = 30) -> int:
    """The pid of rfsetup's backend once it runs the revision's pg_sleep."""
    deadline = time.monotonic() + timeout
    while True:
        rows = query(url, "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND "
                          "query LIKE 'SELECT pg_sleep%%' AND application_name LIKE "
                          "'rfsetup migrate%%'")
        if rows:
            return int(rows[0][0])
        assert time.monotonic() < deadline, "the slow revision never started"
        time.sleep(0.05)  # polling the server for a state, not waiting for an outcome


def test_after_a_sigkill_mid_statement_the_next_run_gets_the_lock_within_seconds(
        sleepy: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    first = rfsetup(sleepy, fresh_db, tmp_path, "migrate", "up", "--no-backup")
    backend = sleeping_backend(fresh_db)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=10)
    killed = time.monotonic()
    # the default lock wait (5s): with the statement running on for up to statement_timeout
    # (30min), this run would fail "another migration is running"
    second = rfsetup(sleepy, fresh_db, tmp_path, "migrate", "down", "--yes", "--no-backup")
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert "migration lock acquired" in out
    assert time.monotonic() - killed < 15
    assert not query(fresh_db, "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (backend,))
    # the killed revision was rolled back; the one before it was then undone by the second run
    assert version(fresh_db) == () and tables(fresh_db) == set()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_lock_left_by_a_process_that_no_longer_exists_is_named_with_the_fix(
        sleepy: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    dead = _dead_pid()
    orphan = psycopg2.connect(libpq(fresh_db), application_name=(
        f"rfsetup migrate (ops@{socket.gethostname()} pid {dead})"))
    orphan.autocommit = True
    try:
        with orphan.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s), pg_backend_pid()", (locking.lock_key(),))
            backend = cur.fetchone()[1]
        proc = rfsetup(sleepy, fresh_db, tmp_path, "migrate", "up", sleepy.ids[0],
                       "--no-backup", RFSETUP_LOCK_WAIT="0")
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 1, err
        assert "another migration is running" in err and f"held by pid {backend}" in err
        assert f"process {dead} on this host ({socket.gethostname()}) no longer exists" in err
        fix = re.search(r"SELECT pg_terminate_backend\((\d+)\);", err)
        assert fix is not None and int(fix.group(1)) == backend
        assert version(fresh_db) == ()
        # the statement given is the fix
        assert query(fresh_db, fix.group(0).rstrip(";")) == [(True,)]
        proc = rfsetup(sleepy, fresh_db, tmp_path, "migrate", "up", sleepy.ids[0],
                       "--no-backup", RFSETUP_LOCK_WAIT="10")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert version(fresh_db) == (sleepy.ids[0],)
    finally:
        orphan.close()


def test_a_lock_held_by_a_live_rfsetup_is_not_called_orphaned(
        sleepy: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    first = rfsetup(sleepy, fresh_db, tmp_path, "migrate", "up", "--no-backup")
    try:
        backend = sleeping_backend(fresh_db)
        proc = rfsetup(sleepy, fresh_db, tmp_path, "migrate", "up", RFSETUP_LOCK_WAIT="0")
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 1, err
        assert f"held by pid {backend}" in err and f"pid {first.pid})'" in err
        assert "no longer exists" not in err
        assert f"if it is stuck: SELECT pg_terminate_backend({backend});" in err
    finally:
        first.kill()
        first.communicate(timeout=10)
