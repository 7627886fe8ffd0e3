"""`rfsetup backup create | list [--json] | restore FILE [--yes] [--drop-extra]
[--into-other-database] | prune --keep N [--yes] [--dry-run]` on the real PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import psutil
import psycopg2
import pytest

from rfsetup.cli import main
from rfsetup.core import alembic as migrations
from rfsetup.core import backups
from rfsetup.core.embedded import free_port
from tests.conftest import ALEMBIC_INI
from tests.helpers.db import libpq, query, settings_for, tables, version
from tests.helpers.procs import wait_for, wait_gone


def written(out: str) -> Path:
    (line,) = [ln for ln in out.splitlines() if ln.startswith("backup written to ")]
    return Path(line.removeprefix("backup written to "))


def rfsetup(url: str, cwd: Path, *argv: str, **kwargs: object) -> subprocess.Popen[str]:
    env = dict(os.environ, DATABASE_URL=url, **kwargs.pop("env", {}))  # type: ignore[arg-type]
    return subprocess.Popen([sys.executable, "-m", "rfsetup", "-c", str(ALEMBIC_INI), *argv],
                            cwd=cwd, env=env, text=True, **kwargs)  # type: ignore[call-overload]


def test_create_list_and_json(run, fresh_db: str, project_dir: Path) -> None:
    migrations.upgrade(settings_for(ALEMBIC_INI, fresh_db, project_dir), "0002_billing",
                       backup=False)
    code, out, _ = run(fresh_db, "backup", "list")
    assert code == 0 and out.startswith("no backups in ")

    code, out, _ = run(fresh_db, "backup", "create")
    assert code == 0
    path = written(out)
    assert path.is_file() and path.parent == project_dir / ".rfsetup" / "backups"
    assert "at revision 0002_billing" in out and "sha256 " in out

    code, out, _ = run(fresh_db, "backup", "list")
    assert code == 0 and str(path) in out and "0002_billing" in out

    code, out, _ = run(fresh_db, "backup", "list", "--json")
    (entry,) = json.loads(out)
    assert entry["path"] == str(path)
    assert entry["database"] == fresh_db.rsplit("/", 1)[1]
    assert entry["revision"] == "0002_billing"
    assert len(entry["sha256"]) == 64 and entry["version_table"] == "alembic_version"
    stamp = re.search(r"_(\d{8}T\d{6}Z)_", path.name)
    created = datetime.fromisoformat(entry["created_at"])
    assert stamp and created.utcoffset() == timedelta(0)
    assert created.strftime("%Y%m%dT%H%M%SZ") == stamp[1]  # named by its UTC time


def test_restore_refuses_then_confirms_then_puts_everything_back(run, fresh_db: str,
                                                                 project_dir: Path) -> None:
    settings = settings_for(ALEMBIC_INI, fresh_db, project_dir)
    migrations.upgrade(settings, "0001_auth", backup=False)
    code, out, _ = run(fresh_db, "backup", "create")
    dump = str(written(out))
    migrations.upgrade(settings, backup=False)
    newer = tables(fresh_db)

    code, _, err = run(fresh_db, "backup", "restore", dump, "--yes")
    assert code == 2 and "does not contain" in err and "table public.plans" in err
    assert "--drop-extra" in err and tables(fresh_db) == newer

    code, _, err = run(fresh_db, "backup", "restore", dump, "--drop-extra")
    assert code == 2 and "needs confirmation; nothing was changed" in err
    assert tables(fresh_db) == newer

    code, out, _ = run(fresh_db, "backup", "restore", dump, "--yes", "--drop-extra")
    assert code == 0
    assert "replacing database" in out and "verified: SHA-256 matches" in out
    assert "backup of the current state written to" in out
    assert out.splitlines()[-1].endswith("is at 0001_auth")
    assert version(fresh_db) == ("0001_auth",)
    assert tables(fresh_db) == {"users", "organizations", "memberships", "workspaces"}


def test_the_confirmation_shows_what_will_be_replaced(fresh_db: str, project_dir: Path) -> None:
    settings = settings_for(ALEMBIC_INI, fresh_db, project_dir)
    migrations.upgrade(settings, "0001_auth", backup=False)
    dump = backups.create_backup(settings).path
    query(fresh_db, "INSERT INTO users (auth_sub, email) VALUES ('sub-1', 'a@b.c')")
    main, child = pty.openpty()
    proc = rfsetup(fresh_db, project_dir, "backup", "restore", str(dump), stdin=child,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(child)
    try:
        os.write(main, (fresh_db.rsplit("/", 1)[1] + "\n").encode())
        _, err = proc.communicate(timeout=60)
    finally:
        os.close(main)
    assert proc.returncode == 0, err
    assert f"this will replace everything in database {fresh_db.rsplit('/', 1)[1]}" in err
    assert "now:  revision 0001_auth" in err and "public.users" in err
    assert "with: database" in err and "at revision 0001_auth" in err
    assert "verified: SHA-256 matches" in err
    assert "type the database name to confirm:" in err
    assert query(fresh_db, "SELECT count(*) FROM users") == [(0,)]


@pytest.mark.parametrize("name, content, words", [
    ("missing.dump", None, "no such backup file"),
    ("notes.sql", b"SELECT 1;", "not a pg_dump custom-format backup"),
    ("garbage.dump", b"PGDMPgarbage-garbage", "header is damaged"),
])
def test_restore_of_something_else_is_exit_2(run, fresh_db: str, project_dir: Path, name: str,
                                              content: bytes | None, words: str) -> None:
    path = project_dir / name
    if content is not None:
        path.write_bytes(content)
    code, _, err = run(fresh_db, "backup", "restore", str(path), "--yes")
    assert code == 2 and words in err and "newer" not in err


def test_restore_has_no_no_backup_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["backup", "restore", "x.dump", "--no-backup"])
    assert info.value.code == 2
    assert "unrecognized arguments: --no-backup" in capsys.readouterr().err


def test_a_tampered_or_foreign_dump_is_exit_2(run, fresh_db: str, project_dir: Path, pg) -> None:
    settings = settings_for(ALEMBIC_INI, fresh_db, project_dir)
    migrations.upgrade(settings, "0001_auth", backup=False)
    dump = backups.create_backup(settings).path
    other = pg.create_database()
    try:
        code, _, err = run(pg.url(other), "backup", "restore", str(dump), "--yes")
        assert code == 2 and "--into-other-database" in err
        assert "not of " + other in err and version(pg.url(other)) == ()
        code, _, _ = run(pg.url(other), "backup", "restore", str(dump), "--yes",
                         "--into-other-database")
        assert code == 0 and version(pg.url(other)) == ("0001_auth",)
    finally:
        pg.drop_database(other)
    data = bytearray(dump.read_bytes())
    data[-10] ^= 0xFF  # one flipped byte, same length
    dump.write_bytes(bytes(data))
    code, _, err = run(fresh_db, "backup", "restore", str(dump), "--yes")
    assert code == 2 and "changed after it was written" in err


def test_backup_of_an_unreachable_database_is_exit_3(run, project_dir: Path) -> None:
    code, _, err = run(f"postgresql://rf:Hidden99@127.0.0.1:{free_port()}/raptorflow",
                       "backup", "create")
    assert code == 3 and "Hidden99" not in err
    assert not (project_dir / ".rfsetup" / "backups").exists()


def test_prune_needs_confirmation_and_keeps_the_newest(run, fresh_db: str,
                                                       project_dir: Path) -> None:
    made = [written(run(fresh_db, "backup", "create")[1]) for _ in range(3)]
    code, _, err = run(fresh_db, "backup", "prune", "--keep", "0", "--yes")
    assert code == 2 and "at least the newest" in err
    code, out, _ = run(fresh_db, "backup", "prune", "--keep", "1", "--dry-run")
    assert code == 0 and "would remove 2 backup(s)" in out and all(p.exists() for p in made)
    code, _, err = run(fresh_db, "backup", "prune", "--keep", "1")
    assert code == 2 and "needs confirmation" in err and all(p.exists() for p in made)
    code, out, _ = run(fresh_db, "backup", "prune", "--keep", "1", "--yes")
    assert code == 0 and out.count("removed ") == 2
    listed = [b.path for b in backups.list_backups(
        settings_for(ALEMBIC_INI, fresh_db, project_dir))]
    assert listed == [made[-1]]
    code, out, _ = run(fresh_db, "backup", "prune", "--keep", "1", "--yes")
    assert code == 0 and out.startswith("nothing to prune")


def test_ctrl_c_stops_a_blocked_backup_with_exit_130(fresh_db: str, project_dir: Path) -> None:
    migrations.upgrade(settings_for(ALEMBIC_INI, fresh_db, project_dir), "0001_auth",
                       backup=False)
    blocker = psycopg2.connect(libpq(fresh_db))
    try:
        with blocker.cursor() as cur:
            cur.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        proc = rfsetup(fresh_db, project_dir, "backup", "create",
                       env={"RFSETUP_LOCK_TIMEOUT": "10min"}, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
        try:
            def dumping() -> list[int]:
                found = []
                for c in psutil.Process(proc.pid).children():
                    with contextlib.suppress(psutil.Error):
                        if c.name() == "pg_dump" and "--format=custom" in c.cmdline():
                            found.append(c.pid)
                return found

            dumps = wait_for(dumping, what="pg_dump to start")
            time.sleep(0.3)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=20)
        finally:
            proc.kill()
    finally:
        blocker.rollback()
        blocker.close()
    assert proc.returncode == 130, err
    assert "interrupt: stopping" in err and "interrupted; nothing was changed" in err
    assert "Traceback" not in err and not wait_gone(dumps)
    assert not any((project_dir / ".rfsetup" / "backups").iterdir())
