"""`rfsetup rehearse [TARGET] [--json] [--admin-url URL] [--copy-with …]` on the real server:
the exit codes, the JSON, and Ctrl-C / SIGTERM / SIGKILL in the middle of a rehearsal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rfsetup.core.rehearsecopy import PREFIX
from tests.conftest import ALEMBIC_INI, PgTestServer
from tests.core.test_rehearse import databases, snapshot, write_revision
from tests.helpers.alembic_project import make_project
from tests.helpers.procs import wait_for


def rfsetup(url: str, cwd: Path, ini: Path, *argv: str) -> subprocess.Popen[str]:
    env = dict(os.environ, DATABASE_URL=url)
    return subprocess.Popen([sys.executable, "-m", "rfsetup", "-c", str(ini), *argv], cwd=cwd,
                            env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def copies(pg: PgTestServer) -> list[str]:
    return [d for d in databases(pg) if d.startswith(PREFIX)]


def test_text_and_json(run, pg: PgTestServer, fresh_db: str) -> None:
    listed = databases(pg)
    code, out, err = run(fresh_db, "rehearse", "0002_billing")
    assert code == 0, err
    assert "rehearsal of database" in out and "base → 0002_billing (2 revisions)" in out
    assert "✓ the schema after up → down → up is the schema after the first up" in out
    assert "up locks: organizations SHARE ROW EXCLUSIVE (writes wait)" in out
    assert "was dropped; database" in out
    code, out, err = run(fresh_db, "rehearse", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["passed"] is True and doc["copy"].startswith(PREFIX)
    assert doc["copy_method"] == "template" and doc["copy_dropped"] is True
    first = doc["revisions"][0]
    assert first["revision"] == "0001_auth"
    assert set(first) >= {"up", "down", "again", "lint", "message"}
    assert first["down"]["locks"][0]["mode"] == "AccessExclusiveLock"
    assert "down: 0001_auth" in err  # progress goes to stderr with --json
    assert databases(pg) == listed


def test_exit_1_when_down_does_not_undo_up(run, fresh_db: str, tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", 1)
    write_revision(project.versions, "b_sloppy", project.ids[-1],
                   'op.execute("CREATE TABLE IF NOT EXISTS kept (a int)")', "pass")
    code, out, _ = run(fresh_db, "rehearse", ini=project.ini)
    assert code == 1
    assert "✗ down leaves a schema different from what database" in out
    assert "+CREATE TABLE public.kept" in out


def test_bad_target_is_bad_input(run, pg: PgTestServer, fresh_db: str) -> None:
    listed = databases(pg)
    code, _, err = run(fresh_db, "rehearse", "nope")
    assert code == 2 and "no revision 'nope'" in err
    assert databases(pg) == listed


def _slow_project(root: Path) -> Path:
    return make_project(root, 3, sleep_at=2, sleep_seconds=3).ini


def _wait_running(pg: PgTestServer, proc: subprocess.Popen[str]) -> None:
    """Until the slow revision runs on the copy (its pg_sleep is on the server)."""
    def sleeping() -> bool:
        conn = pg.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname LIKE %s "
                            "AND query LIKE %s", (PREFIX + "%", "%pg_sleep%"))
                return bool(cur.fetchone()[0])
        finally:
            conn.close()

    wait_for(lambda: sleeping() or proc.poll() is not None, timeout=60, what="the slow revision")
    assert proc.poll() is None, proc.communicate()


def test_ctrl_c_mid_rehearsal_drops_the_copy(pg: PgTestServer, fresh_db: str,
                                             tmp_path: Path) -> None:
    ini = _slow_project(tmp_path / "proj")
    before, listed = snapshot(fresh_db), databases(pg)
    proc = rfsetup(fresh_db, tmp_path, ini, "rehearse")
    _wait_running(pg, proc)
    proc.send_signal(signal.SIGINT)  # first: stop after the running revision
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "rehearsal interrupted; the copy rfsetup_rehearsal_" in err
    assert "dropped" in out
    assert databases(pg) == listed and snapshot(fresh_db) == before


def test_second_sigterm_stops_at_once_and_still_drops(pg: PgTestServer, fresh_db: str,
                                                      tmp_path: Path) -> None:
    ini = _slow_project(tmp_path / "proj")
    before, listed = snapshot(fresh_db), databases(pg)
    proc = rfsetup(fresh_db, tmp_path, ini, "rehearse")
    _wait_running(pg, proc)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)  # second: cancels the running statement
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert time.monotonic() - started < 2.5  # it did not wait for the 3 s pg_sleep
    assert databases(pg) == listed and snapshot(fresh_db) == before


def test_sigkill_leaves_a_copy_that_the_next_rehearsal_names(pg: PgTestServer, fresh_db: str,
                                                              tmp_path: Path) -> None:
    ini = _slow_project(tmp_path / "proj")
    listed = databases(pg)
    proc = rfsetup(fresh_db, tmp_path, ini, "rehearse")
    _wait_running(pg, proc)
    (left,) = copies(pg)
    proc.kill()
    proc.communicate(timeout=30)
    try:
        # the server notices the dead client (client_connection_check_interval)
        def nobody_on_it() -> bool:
            conn = pg.admin_connect()
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                                (left,))
                    return cur.fetchone()[0] == 0
            finally:
                conn.close()

        wait_for(nobody_on_it, timeout=30, what="the killed rehearsal's sessions to end")
        proc = rfsetup(fresh_db, tmp_path, ini, "rehearse", "a00000000001")
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert f"note: {left} is left from an earlier rehearsal that was killed" in out
        assert copies(pg) == [left]  # named, not dropped behind anyone's back
    finally:
        pg.drop_database(left)
    assert databases(pg) == listed


def test_raptorflow_project_rehearses_from_an_empty_database(run, fresh_db: str) -> None:
    code, out, err = run(fresh_db, "rehearse", "--json", ini=ALEMBIC_INI)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["round_trip_same"] is True and doc["down_restores"] is True
