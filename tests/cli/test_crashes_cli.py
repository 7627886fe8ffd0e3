"""A killed rfsetup, and signals: real `rfsetup` processes on slow migrations.

SIGKILL inside a long statement leaves nothing running on the server for long (the session's
client_connection_check_interval and keepalives), so the next run gets the lock; a session
left behind by an rfsetup that no longer runs is named as such, with the statement that ends
it; SIGTERM and SIGHUP behave like Ctrl-C.
"""

from __future__ import annotations

import contextlib
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
        _, err = proc.communicate(timeout=60)
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


# -- SIGTERM and SIGHUP behave like Ctrl-C ---------------------------------------------------------
@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> SyntheticProject:
    """r1 sleeps 3 seconds in the database, r2 and r3 are quick."""
    return make_project(tmp_path_factory.mktemp("signals") / "p", 3, sleep_at=1,
                        sleep_seconds=3)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_stops_after_the_running_revision(
        signum: signal.Signals, slow: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    proc = rfsetup(slow, fresh_db, tmp_path, "migrate", "up", "--no-backup")
    sleeping_backend(fresh_db)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert f"{signum.name}: stopping after the current revision" in err
    assert "cancelled: stopping before the next revision" in out
    name = fresh_db.rsplit("/", 1)[1]
    assert f"database {name} is at {slow.ids[0]}" in out  # the revision is reported
    assert version(fresh_db) == (slow.ids[0],)  # the running revision was completed
    assert "Traceback" not in err


def test_a_second_sigterm_cancels_the_running_statement(
        sleepy: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    proc = rfsetup(sleepy, fresh_db, tmp_path, "migrate", "up", "--no-backup")
    backend = sleeping_backend(fresh_db)
    proc.send_signal(signal.SIGTERM)  # first: stop after this revision (a minute away)
    assert proc.stderr is not None
    assert "SIGTERM: stopping after the current revision" in proc.stderr.readline()
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)  # second: cancel the statement running on the server
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 10
    assert proc.returncode == 130, err
    name = fresh_db.rsplit("/", 1)[1]
    assert f"revision {sleepy.ids[1]} (create t_0002) was interrupted" in err
    assert "rolled back" in err and f"database {name} is at {sleepy.ids[0]}" in err
    assert "hint: run rfsetup migrate up again to continue" in err
    assert version(fresh_db) == (sleepy.ids[0],) and tables(fresh_db) == {"t_0001"}
    assert not query(fresh_db, "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND state = "
                               "'active'", (backend,))


def test_a_stop_signal_ends_a_wait_for_the_lock_with_nothing_done(
        slow: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    holder = psycopg2.connect(libpq(fresh_db), application_name="on-call laptop")
    holder.autocommit = True
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (locking.lock_key(),))
        proc = rfsetup(slow, fresh_db, tmp_path, "migrate", "stamp", slow.ids[0], "--yes",
                       RFSETUP_LOCK_WAIT="120")
        assert proc.stdout is not None and proc.stderr is not None
        deadline = time.monotonic() + 30
        while not query(fresh_db, "SELECT 1 FROM pg_stat_activity WHERE application_name LIKE "
                                  "'rfsetup stamp%%'"):
            assert time.monotonic() < deadline, "rfsetup never connected"
            time.sleep(0.05)
        time.sleep(0.3)  # into the lock's polling loop
        started = time.monotonic()
        proc.send_signal(signal.SIGHUP)
        _, err = proc.communicate(timeout=30)
        assert time.monotonic() - started < 5
    finally:
        holder.close()
    assert proc.returncode == 130, err
    assert "stopped while waiting for the migration lock" in err and "nothing was done" in err
    assert version(fresh_db) == ()


def _children(pid: int, name: str) -> list[int]:
    import psutil

    found = []
    for child in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if child.name() == name:
                found.append(child.pid)
    return found


def _wait_children(proc: subprocess.Popen[str], name: str) -> list[int]:
    deadline = time.monotonic() + 30
    while not (found := _children(proc.pid, name)):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{name} never started"
        time.sleep(0.05)
    return found


def test_sigterm_stops_a_backup_and_sighup_a_restore_with_nothing_changed(
        slow: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    from tests.helpers.procs import wait_gone

    subprocess.run([RFSETUP, "-c", str(slow.ini), "migrate", "up", "--no-backup"], cwd=tmp_path,
                   env=_env(fresh_db), check=True, capture_output=True)
    made = subprocess.run([RFSETUP, "-c", str(slow.ini), "backup", "create"], cwd=tmp_path,
                          env=_env(fresh_db), check=True, capture_output=True, text=True)
    dump = next(ln for ln in made.stdout.splitlines() if ln.startswith("backup written to "))
    dump = dump.removeprefix("backup written to ")
    blocker = psycopg2.connect(libpq(fresh_db))
    try:
        with blocker.cursor() as cur:  # pg_dump waits for this table (up to 10 minutes)
            cur.execute("LOCK TABLE t_0001 IN ACCESS EXCLUSIVE MODE")
        proc = rfsetup(slow, fresh_db, tmp_path, "backup", "create",
                       RFSETUP_LOCK_TIMEOUT="10min")
        dumps = _wait_children(proc, "pg_dump")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 130, err
        assert "SIGTERM: stopping" in err and "interrupted; nothing was changed" in err
        assert not wait_gone(dumps)
        blocker.rollback()
        with blocker.cursor() as cur:  # readers let the safety backup pass; the restore waits
            cur.execute("SELECT count(*) FROM t_0002")
        proc = rfsetup(slow, fresh_db, tmp_path, "backup", "restore", dump, "--yes",
                       RFSETUP_LOCK_TIMEOUT="10min")
        psqls = _wait_children(proc, "psql")
        proc.send_signal(signal.SIGHUP)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 130, err
        assert "SIGHUP: stopping" in err and "interrupted; nothing was changed" in err
        assert not wait_gone(psqls)
    finally:
        blocker.rollback()
        blocker.close()
    assert version(fresh_db) == tuple(slow.heads)
    listed = subprocess.run([RFSETUP, "-c", str(slow.ini), "backup", "list"], cwd=tmp_path,
                            env=_env(fresh_db), capture_output=True, text=True)
    assert len(listed.stdout.splitlines()) == 2  # the first one and the restore's safety backup
