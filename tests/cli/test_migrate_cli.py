"""`rfsetup migrate …` and `rfsetup seed`: output, JSON, every exit code, confirmation, and
concurrent runners, on the real embedded PostgreSQL.

Most runs call rfsetup.cli.main in-process (fast); the concurrency, terminal-confirmation and
on-call walkthrough tests run the real `rfsetup` executable.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from rfsetup.cli import main
from rfsetup.core import alembic as migrations
from rfsetup.core import locking
from rfsetup.core.embedded import free_port
from tests.cli.conftest import Run
from tests.conftest import ALEMBIC_INI
from tests.helpers.alembic_project import GATE_KEY, SyntheticProject, make_project
from tests.helpers.db import libpq, query, settings_for, tables, version

RFSETUP = str(Path(sys.executable).parent / "rfsetup")
REAL_HEADS = ("0004_production_indexes",)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SyntheticProject]:
    root = tmp_path_factory.mktemp("cli-projects")
    return {
        "two_heads": make_project(root / "two_heads", 2, open_heads=2),
        "failing": make_project(root / "failing", 3, fail_at=2),
        "slow": make_project(root / "slow", 3, sleep_at=2, sleep_seconds=0.5),
        "slower": make_project(root / "slower", 2, sleep_at=1, sleep_seconds=3),
        "gated": make_project(root / "gated", 2, gate_at=1),
    }


@pytest.fixture(scope="module")
def at_intel(pg) -> Iterator[str]:
    """RaptorFlow's schema at 0003_intel, one below head; its tests only read."""
    name = pg.create_database()
    url = pg.url(name)
    migrations.upgrade(settings_for(ALEMBIC_INI, url, Path.cwd()), "0003_intel", backup=False)
    yield url
    pg.drop_database(name)


def _one_line_error(err: str) -> None:
    lines = err.strip().splitlines()
    assert lines[0].startswith("error: ")
    assert any(ln.startswith("  hint: ") for ln in lines)


# -- help ------------------------------------------------------------------------------------------
def test_help_names_every_action(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["migrate", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for action in ("history", "preview", "up", "down", "stamp"):
        assert action in out


# -- history ---------------------------------------------------------------------------------------
def test_history_json_and_human(run: Run, at_intel: str) -> None:
    code, out, _ = run(at_intel, "migrate", "history", "--json")
    assert code == 0
    doc = json.loads(out)
    assert [d["revision"] for d in doc] == ["0004_production_indexes", "0003_intel",
                                            "0002_billing", "0001_auth"]
    for d in doc:
        assert {"revision", "down_revisions", "message", "is_head", "is_current",
                "is_branch_point", "is_merge"} <= set(d)
    assert [d["revision"] for d in doc if d["is_current"]] == ["0003_intel"]
    assert [d["revision"] for d in doc if d["is_head"]] == list(REAL_HEADS)
    assert doc[1]["down_revisions"] == ["0002_billing"] and doc[3]["down_revisions"] == []

    code, out, _ = run(at_intel, "migrate", "history")
    assert code == 0
    assert out.splitlines()[0].endswith("is at 0003_intel")
    assert re.search(r"^o 0004_production_indexes .*\(head\)", out, re.M)
    assert re.search(r"^@ 0003_intel .*\(current\)", out, re.M)
    assert re.search(r"^\* 0001_auth ", out, re.M)
    assert "legend:" in out


def test_history_shows_branch_points_merges_and_heads(
        run: Run, synthetic: dict[str, SyntheticProject], fresh_db: str) -> None:
    project = synthetic["two_heads"]
    code, out, _ = run(fresh_db, "migrate", "history", ini=project.ini)
    assert code == 0
    assert "(branch point)" in out
    assert "note: 2 heads" in out and all(h in out for h in project.heads)


# -- preview ---------------------------------------------------------------------------------------
def test_preview_prints_the_sql_from_the_current_revision(run: Run, at_intel: str) -> None:
    code, out, _ = run(at_intel, "migrate", "preview")
    assert code == 0
    assert out.startswith("-- rfsetup migrate preview: upgrade database ")
    assert "from 0003_intel to 0004_production_indexes (1 revision)" in out
    assert "CREATE INDEX CONCURRENTLY ix_indicators_value ON indicators (value)" in out
    assert "CREATE TABLE" not in out  # 0001-0003 are applied already
    assert version(at_intel) == ("0003_intel",)

    code, out, _ = run(at_intel, "migrate", "preview", "--down")
    assert code == 0
    assert "downgrade database" in out and "to 0002_billing" in out
    assert "DROP TABLE threat_reports" in out and "users" not in out

    code, out, _ = run(at_intel, "migrate", "preview", "0003")  # a partial id: nothing to do
    assert code == 0 and out.startswith("-- nothing to upgrade")
    assert version(at_intel) == ("0003_intel",)


def test_preview_lint_lists_findings_per_revision(run: Run, at_intel: str) -> None:
    code, out, _ = run(at_intel, "migrate", "preview", "base", "--down", "--lint")
    assert code == 0
    lint = out[out.index("-- lint (squawk):"):]
    assert re.search(r"^-- 0003_intel ", lint, re.M)
    assert re.search(r"^--   line \d+ warning [a-z-]+: ", lint, re.M)
    assert "ban-drop-table" in lint  # dropping tables is what a downgrade to base does
    assert version(at_intel) == ("0003_intel",)


def test_preview_lint_without_squawk_says_how_to_install_it(
        run: Run, at_intel: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _, err = run(at_intel, "migrate", "preview", "--lint")
    assert code == 1
    assert "squawk is not installed" in err and "squawk-cli" in err


# -- up / down / stamp -----------------------------------------------------------------------------
def test_up_backs_up_first_then_upgrades(run: Run, fresh_db: str, project_dir: Path) -> None:
    code, out, _ = run(fresh_db, "migrate", "up")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "migration lock acquired"
    assert lines[1].startswith("taking a backup of database ")
    assert lines[2].startswith("backup written to ")
    assert [ln.split(" -> ")[1].split(",")[0] for ln in lines if ln.startswith("Running")] == [
        "0001_auth", "0002_billing", "0003_intel", "0004_production_indexes"]
    assert lines[-1].startswith("upgraded database ") and "from base to 0004" in lines[-1]
    dumps = list((project_dir / ".rfsetup" / "backups").glob("*.dump"))
    assert len(dumps) == 1 and dumps[0].name.endswith("_base.dump")
    assert version(fresh_db) == REAL_HEADS

    code, out, _ = run(fresh_db, "migrate", "up")
    assert code == 0 and "nothing to do" in out
    assert len(list((project_dir / ".rfsetup" / "backups").glob("*.dump"))) == 1


def test_up_to_a_target_without_backup(run: Run, fresh_db: str, project_dir: Path) -> None:
    code, out, _ = run(fresh_db, "migrate", "up", "0002_billing", "--no-backup")
    assert code == 0 and "no backup taken" in out
    assert version(fresh_db) == ("0002_billing",)
    assert not (project_dir / ".rfsetup" / "backups").exists()


def test_down_and_stamp_without_confirmation_change_nothing(run: Run, fresh_db: str,
                                                            project_dir: Path) -> None:
    run(fresh_db, "migrate", "up", "--no-backup")
    for argv in (("migrate", "down"), ("migrate", "down", "base"),
                 ("migrate", "stamp", "0001_auth")):
        code, _, err = run(fresh_db, *argv)
        assert code == 2, argv
        assert "needs confirmation; nothing was changed" in err and "--yes" in err
        _one_line_error(err)
    assert version(fresh_db) == REAL_HEADS
    # no backup was taken (the up ran with --no-backup; only rfsetup's cache is written)
    assert not (project_dir / ".rfsetup" / "backups").exists()


def test_down_yes_takes_a_backup_and_steps_down_one(run: Run, fresh_db: str,
                                                    project_dir: Path) -> None:
    run(fresh_db, "migrate", "up", "--no-backup")
    code, out, _ = run(fresh_db, "migrate", "down", "--yes")
    assert code == 0
    assert "backup written to " in out
    assert "Running downgrade 0004_production_indexes -> 0003_intel" in out
    assert version(fresh_db) == ("0003_intel",)
    (dump,) = (project_dir / ".rfsetup" / "backups").glob("*.dump")
    assert dump.name.endswith("_0004_production_indexes.dump")


def test_stamp_yes_records_a_revision_only(run: Run, fresh_db: str) -> None:
    code, out, _ = run(fresh_db, "migrate", "stamp", "0002_billing", "--yes")
    assert code == 0 and "no migration ran" in out
    assert version(fresh_db) == ("0002_billing",) and tables(fresh_db) == set()


def test_multiple_heads_are_named_and_heads_works(
        run: Run, synthetic: dict[str, SyntheticProject], fresh_db: str) -> None:
    project = synthetic["two_heads"]
    code, _, err = run(fresh_db, "migrate", "up", ini=project.ini)
    assert code == 2
    _one_line_error(err)
    assert all(h in err for h in project.heads)
    assert "rfsetup migrate up heads" in err and "alembic merge" in err
    assert version(fresh_db) == ()
    code, _, _ = run(fresh_db, "migrate", "up", "heads", "--no-backup", ini=project.ini)
    assert code == 0 and set(version(fresh_db)) == set(project.heads)


def test_bad_target_is_exit_2(run: Run, fresh_db: str) -> None:
    code, _, err = run(fresh_db, "migrate", "up", "nosuchrevision", "--no-backup")
    assert code == 2 and "nosuchrevision" in err
    _one_line_error(err)
    assert version(fresh_db) == ()


def test_missing_alembic_ini_is_exit_2(run: Run, fresh_db: str, tmp_path: Path) -> None:
    code, _, err = run(fresh_db, "migrate", "history", ini=tmp_path / "alembic.ini")
    assert code == 2 and "no Alembic config" in err


@pytest.mark.parametrize("argv", [("migrate", "history"), ("migrate", "preview"),
                                  ("migrate", "up"), ("migrate", "down", "--yes"),
                                  ("migrate", "stamp", "head", "--yes")])
def test_unreachable_database_is_exit_3_without_password(run: Run, argv: tuple[str, ...]) -> None:
    url = f"postgresql://rf:TopSecret77@127.0.0.1:{free_port()}/raptorflow"
    code, out, err = run(url, *argv)
    assert code == 3
    _one_line_error(err)
    assert "no PostgreSQL server is accepting connections" in err
    assert "TopSecret77" not in out + err


def test_failing_revision_is_exit_1_naming_it_and_where_the_database_is(
        run: Run, synthetic: dict[str, SyntheticProject], fresh_db: str) -> None:
    project = synthetic["failing"]
    code, out, err = run(fresh_db, "migrate", "up", "--no-backup", ini=project.ini)
    assert code == 1
    _one_line_error(err)
    first, bad = project.ids[0], project.ids[1]
    assert f"revision {bad} (create t_0002) failed" in err
    assert f"database {fresh_db.rsplit('/', 1)[1]} is at {first}" in err
    assert "division by zero" in err
    assert version(fresh_db) == (first,)
    assert f"Running upgrade  -> {first}" in out


def test_lock_held_is_exit_1_naming_the_holder(run: Run, fresh_db: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg2

    from tests.helpers.db import libpq

    monkeypatch.setenv(locking.ENV_LOCK_WAIT, "0.2")
    other = psycopg2.connect(libpq(fresh_db), application_name="rfsetup migrate (ann@box pid 1)")
    other.autocommit = True
    try:
        with other.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s), pg_backend_pid()", (locking.lock_key(),))
            pid = cur.fetchone()[1]
        code, _, err = run(fresh_db, "migrate", "up")
    finally:
        other.close()
    assert code == 1
    _one_line_error(err)
    assert f"held by pid {pid}, application 'rfsetup migrate (ann@box pid 1)'" in err
    assert version(fresh_db) == ()


# -- seed ------------------------------------------------------------------------------------------
def test_seed_reports_and_is_idempotent(run: Run, fresh_db: str) -> None:
    code, _, err = run(fresh_db, "seed")
    assert code != 0 and "rfsetup migrate up" in err  # not migrated yet
    run(fresh_db, "migrate", "up", "--no-backup")
    code, out, _ = run(fresh_db, "seed")
    assert code == 0
    assert "inserted: free, pro, enterprise" in out
    code, out, _ = run(fresh_db, "seed", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["inserted"] == [] and doc["updated"] == []
    assert sorted(doc["unchanged"]) == ["enterprise", "free", "pro"]


# -- real processes --------------------------------------------------------------------------------
def _env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DATABASE_URL=url, **extra)
    return env


def test_four_concurrent_upgrades_apply_each_revision_once(
        synthetic: dict[str, SyntheticProject], fresh_db: str, tmp_path: Path) -> None:
    project = synthetic["slow"]
    procs = [subprocess.Popen([RFSETUP, "-c", str(project.ini), "migrate", "up"],
                              cwd=tmp_path, env=_env(fresh_db), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    applied: list[str] = []
    appliers = 0
    for code, out, err in results:
        assert "Traceback" not in err
        ran = [ln.split(" -> ")[1].split(",")[0] for ln in out.splitlines()
               if ln.startswith("Running upgrade")]
        applied += ran
        appliers += bool(ran)
        if code == 0:
            assert ran or "nothing to do" in out
        else:  # gave up waiting: says who holds the lock
            assert code == 1 and "held by pid" in err and "rfsetup migrate (" in err
    assert sorted(applied) == sorted(project.ids), "every revision applied exactly once"
    assert appliers == 1
    assert version(fresh_db) == tuple(project.heads)
    assert tables(fresh_db) == project.tables_at(*project.heads)
    assert len(list((tmp_path / ".rfsetup" / "backups").glob("*.dump"))) == 1


def test_runners_arriving_while_one_migrates_exit_1_naming_it(
        synthetic: dict[str, SyntheticProject], fresh_db: str, tmp_path: Path) -> None:
    project = synthetic["gated"]
    # the first runner's revision waits for the gate this test holds: it holds the migration
    # lock for as long as the others take to arrive (their start-up is slow on a busy machine)
    gate = psycopg2.connect(libpq(fresh_db))
    gate.autocommit = True
    try:
        with gate.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (GATE_KEY,))
        first = subprocess.Popen(
            [RFSETUP, "-c", str(project.ini), "migrate", "up", "--no-backup"], cwd=tmp_path,
            env=_env(fresh_db, **{locking.ENV_LOCK_TIMEOUT: "300s"}), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        assert first.stdout is not None
        assert first.stdout.readline().strip() == "migration lock acquired"
        others = [subprocess.Popen([RFSETUP, "-c", str(project.ini), "migrate", "up"],
                                   cwd=tmp_path,
                                   env=_env(fresh_db, **{locking.ENV_LOCK_WAIT: "0"}),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                  for _ in range(3)]
        outcomes = [(p.wait(timeout=120), *p.communicate()) for p in others]
        assert first.poll() is None  # still at the gate, holding the migration lock
    finally:
        gate.close()  # the gate opens: the first runner goes on
    rest, _ = first.communicate(timeout=120)
    assert first.returncode == 0 and "upgraded database" in rest
    for code, out, err in outcomes:
        assert code == 1, err
        assert "another migration is running" in err
        assert "application 'rfsetup migrate (" in err and f"pid {first.pid})'" in err
        assert "Running" not in out
    assert version(fresh_db) == tuple(project.heads)
    # none of them took a backup (the first ran with --no-backup; rfsetup's cache may exist)
    assert not (tmp_path / ".rfsetup" / "backups").exists()


def _pty_run(argv: list[str], env: dict[str, str], cwd: Path, typed: str) -> tuple[int, str]:
    """Run with stdin on a pseudo-terminal, type ``typed`` at the prompt; (exit code, stderr)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=cwd)
    os.close(slave)
    assert proc.stderr is not None
    prompt = b""
    deadline = time.monotonic() + 60
    while b"type the database name to confirm" not in prompt and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 1)
        if ready:
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                break
            prompt += chunk
    os.write(master, typed.encode() + b"\n")
    _, rest = proc.communicate(timeout=60)
    os.close(master)
    return proc.returncode, (prompt + rest).decode()


def test_down_at_a_terminal_asks_for_the_database_name(fresh_db: str, tmp_path: Path) -> None:
    migrations.upgrade(settings_for(ALEMBIC_INI, fresh_db, tmp_path), backup=False)
    name = fresh_db.rsplit("/", 1)[1]
    argv = [RFSETUP, "-c", str(ALEMBIC_INI), "migrate", "down"]
    code, err = _pty_run(argv, _env(fresh_db), tmp_path, "raptorflow")
    assert code == 2 and "nothing was changed" in err
    assert "this will downgrade database" in err and "0004_production_indexes" in err
    assert version(fresh_db) == REAL_HEADS
    code, err = _pty_run(argv, _env(fresh_db), tmp_path, name)
    assert code == 0, err
    assert version(fresh_db) == ("0003_intel",)


def test_on_call_walkthrough(fresh_db: str, tmp_path: Path) -> None:
    """--help, preview, upgrade, roll back one step (backup first), restore it, read the state."""

    def rf(*argv: str) -> tuple[int, str, str]:
        proc = subprocess.run([RFSETUP, "-c", str(ALEMBIC_INI), *argv], cwd=tmp_path,
                              env=_env(fresh_db), capture_output=True, text=True, timeout=120)
        assert "Traceback" not in proc.stderr
        return proc.returncode, proc.stdout, proc.stderr

    code, out, _ = rf("--help")
    assert code == 0 and "migrate" in out and "backup" in out and "exit codes" in out
    code, out, _ = rf("backup", "--help")
    assert code == 0 and "restore" in out

    code, out, _ = rf("migrate", "preview")
    assert code == 0 and "CREATE TABLE users" in out and version(fresh_db) == ()
    code, out, _ = rf("migrate", "up")
    assert code == 0 and version(fresh_db) == REAL_HEADS
    query(fresh_db, "INSERT INTO plans (id, name, price_cents, currency, billing_period, "
                    "api_requests_per_month, ai_tokens_per_month, features) VALUES "
                    "('free', 'Free', 0, 'INR', 'monthly', 1, 1, '{}')")

    code, out, _ = rf("migrate", "down", "--yes")
    assert code == 0 and version(fresh_db) == ("0003_intel",)
    backup_line = next(ln for ln in out.splitlines() if ln.startswith("backup written to "))
    dump = backup_line.removeprefix("backup written to ")

    code, out, _ = rf("backup", "list", "--json")
    listed = json.loads(out)
    assert listed[0]["path"] == dump and listed[0]["revision"] == REAL_HEADS[0]

    code, out, _ = rf("backup", "restore", dump, "--yes")
    assert code == 0, out
    code, out, _ = rf("migrate", "history", "--json")
    assert [d["revision"] for d in json.loads(out) if d["is_current"]] == list(REAL_HEADS)
    assert query(fresh_db, "SELECT id FROM plans") == [("free",)]
    assert query(fresh_db, "SELECT indexname FROM pg_indexes WHERE indexname = "
                           "'ix_indicators_value'") == [("ix_indicators_value",)]


def _start_up(project: SyntheticProject, url: str, cwd: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([RFSETUP, "-c", str(project.ini), "migrate", "up", "--no-backup"],
                            cwd=cwd, env=_env(url), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # progress is streamed: wait until the slow revision runs
        if line.startswith("Running upgrade"):
            return proc
    raise AssertionError(proc.stderr.read() if proc.stderr else "no progress")


def test_ctrl_c_stops_after_the_running_revision(
        synthetic: dict[str, SyntheticProject], fresh_db: str, tmp_path: Path) -> None:
    project = synthetic["slower"]
    proc = _start_up(project, fresh_db, tmp_path)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "stopping after the current revision" in err and "cancelled" in out
    assert version(fresh_db) == (project.ids[0],)  # the running revision was completed


def test_second_ctrl_c_aborts_the_running_revision(
        synthetic: dict[str, SyntheticProject], fresh_db: str, tmp_path: Path) -> None:
    project = synthetic["slower"]
    proc = _start_up(project, fresh_db, tmp_path)
    deadline = time.monotonic() + 30
    while not query(fresh_db, "SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND "
                              "query LIKE 'SELECT pg_sleep%%' AND application_name LIKE "
                              "'rfsetup migrate%%'"):
        assert time.monotonic() < deadline, "the slow revision never started"
        time.sleep(0.02)  # polling the server, not waiting for an outcome
    proc.send_signal(signal.SIGINT)  # first: stop after this revision
    assert proc.stderr is not None
    assert "stopping after the current revision" in proc.stderr.readline()
    proc.send_signal(signal.SIGINT)  # second: cancel the statement running on the server
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err  # interrupted, like the first one
    assert f"revision {project.ids[0]} (create t_0001) was interrupted" in err
    assert "rolled back" in err and "is at base" in err
    assert version(fresh_db) == () and tables(fresh_db) == set()
