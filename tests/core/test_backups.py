"""rfsetup.core.backups on the real embedded PostgreSQL with the real pg_dump: naming, sidecars,
partial files, a pg_dump blocked by a lock, cancel, pruning, and disk and path errors."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg2
import pytest

from rfsetup.core import alembic as migrations
from rfsetup.core import backups, locking
from rfsetup.core.backupfiles import sha256_of
from rfsetup.core.errors import ExitCode, RfsetupError
from rfsetup.core.settings import normalize_database_url
from tests.helpers.alembic_project import SyntheticProject, make_project
from tests.helpers.db import db, libpq, query, settings_for, tables, version
from tests.helpers.procs import programs, wait_for, wait_gone

SYSTEM_PG_DUMP_DIR = Path("/usr/lib/postgresql/15/bin")
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> SyntheticProject:
    return make_project(tmp_path_factory.mktemp("backups") / "p", 3)


@contextlib.contextmanager
def table_locked(url: str, table: str, mode: str = "ACCESS EXCLUSIVE") -> Iterator[int]:
    """Another session holding ``table`` in ``mode`` (an open transaction); yields its pid."""
    conn = psycopg2.connect(libpq(url))
    try:
        with conn.cursor() as cur:
            cur.execute(f"LOCK TABLE {table} IN {mode} MODE")
            cur.execute("SELECT pg_backend_pid()")
            yield int(cur.fetchone()[0])
    finally:
        conn.rollback()
        conn.close()


def dumping(pid: int) -> list[int]:
    """The pg_dump children of ``pid`` writing a dump (not the ``--version`` probes)."""
    found = []
    for child in psutil.Process(pid).children():
        with contextlib.suppress(psutil.Error):
            if child.name() == "pg_dump" and any(a.startswith("--file=") for a in child.cmdline()):
                found.append(child.pid)
    return found


@contextlib.contextmanager
def mounted_tmpfs(where: Path, options: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_the_old_tool_names_still_work_from_backups(pg) -> None:
    with pg.admin_connect() as conn:
        server = int(conn.server_version)
    tools = backups.choose_tools(server, need=("pg_dump", "pg_restore", "psql"))
    assert tools.major == backups.server_major(server) and backups.ENV_BINDIR
    assert backups.revision_label(["b", "a"]) == "a,b" and backups.revision_label(()) is None


@pytest.mark.skipif(not (SYSTEM_PG_DUMP_DIR / "pg_dump").is_file(), reason="no pg_dump 15 here")
def test_an_older_pg_dump_stops_the_migration_before_any_change(
        project: SyntheticProject, fresh_db: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(backups.ENV_BINDIR, str(SYSTEM_PG_DUMP_DIR))
    with pytest.raises(RfsetupError) as info:
        migrations.upgrade(settings_for(project.ini, fresh_db, tmp_path))
    assert info.value.kind == "pg_dump_too_old"
    assert version(fresh_db) == () and tables(fresh_db) == set()


# -- creating and listing --------------------------------------------------------------------------
def test_backup_is_private_named_described_and_listed(
        project: SyntheticProject, fresh_db: str, tmp_path: Path, pg) -> None:
    settings = settings_for(project.ini, fresh_db, tmp_path)
    migrations.upgrade(settings, project.ids[0], backup=False)
    first = backups.create_backup(settings)
    second = backups.create_backup(settings)
    database = normalize_database_url(fresh_db).database
    (system_id,) = query(fresh_db, "SELECT system_identifier::text FROM pg_control_system()")[0]

    folder = settings.backups_dir
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for info in (first, second):
        assert info.path.parent == folder
        assert stat.S_IMODE(info.path.stat().st_mode) == 0o600
        assert info.path.read_bytes()[:5] == b"PGDMP"
        assert info.database == database and info.revision == project.ids[0]
        assert info.path.name.startswith(f"{database}_")
        assert info.path.name.endswith(f"_{project.ids[0]}.dump")
        assert info.created_at.tzinfo is not None
        sidecar = json.loads(info.path.with_suffix(".json").read_text())
        assert stat.S_IMODE(info.path.with_suffix(".json").stat().st_mode) == 0o600
        assert sidecar["revision"] == project.ids[0] and sidecar["database"] == database
        assert sidecar["revisions"] == [project.ids[0]]
        assert sidecar["version_table"] == "alembic_version"
        assert sidecar["system_identifier"] == system_id == info.system_identifier
        assert sidecar["size"] == info.path.stat().st_size
        assert sidecar["sha256"] == sha256_of(info.path) == info.sha256
        assert sidecar["server_version"] and sidecar["pg_dump_version"]
        assert sidecar["written_by"].startswith("rfsetup ")
    assert first.path != second.path  # same second: never overwritten
    assert not list(folder.glob(".partial-*"))

    listed = backups.list_backups(settings)
    assert [b.path for b in listed] == [second.path, first.path]
    assert listed[0].to_json().keys() >= {"path", "database", "revision", "created_at", "size",
                                          "sha256", "system_identifier", "version_table"}

    # a dump copied elsewhere without its sidecar is still described from its name
    elsewhere = tmp_path / "copied"
    elsewhere.mkdir()
    copy = Path(shutil.copy(first.path, elsewhere))
    info = backups.read_backup_info(copy)
    assert (info.database, info.revision) == (database, project.ids[0])
    assert info.created_at == first.created_at.replace(microsecond=0)  # names hold seconds


def test_list_without_backups_is_empty(project: SyntheticProject, tmp_path: Path) -> None:
    assert backups.list_backups(settings_for(project.ini, "postgresql://u@h/d", tmp_path)) == []


def test_the_version_table_is_a_parameter(project: SyntheticProject, fresh_db: str,
                                          tmp_path: Path) -> None:
    settings = settings_for(project.ini, fresh_db, tmp_path)
    query(fresh_db, "CREATE SCHEMA meta; CREATE TABLE meta.versions (version_num varchar(32) "
                    "PRIMARY KEY); INSERT INTO meta.versions VALUES ('x2'), ('x1')")
    info = backups.create_backup(settings, version_table="meta.versions")
    assert info.revision == "x1,x2" and info.path.name.endswith("_x1+x2.dump")
    sidecar = json.loads(info.path.with_suffix(".json").read_text())
    assert sidecar["version_table"] == "meta.versions"
    assert sidecar["revisions"] == ["x1", "x2"]


def test_a_password_given_as_a_query_parameter_reaches_pg_dump(
        project: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    url = normalize_database_url(fresh_db)
    moved = fresh_db.replace(f":{url.password}@", "@") + f"?password={url.password}"
    info = backups.create_backup(settings_for(project.ini, moved, tmp_path))
    assert info.path.is_file()  # on main: pg_dump failed "no password supplied"


def test_the_system_identifier_falls_back_honestly(project: SyntheticProject, fresh_db: str,
                                                   tmp_path: Path, pg) -> None:
    role = f"reader_{uuid.uuid4().hex[:8]}"
    query(fresh_db, f"REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC; "
                    f"CREATE ROLE {role} LOGIN PASSWORD 'Reader99'")
    try:
        url = fresh_db.replace("postgres:", f"{role}:", 1).replace(
            str(normalize_database_url(fresh_db).password), "Reader99")
        info = backups.create_backup(settings_for(project.ini, url, tmp_path))
        sidecar = json.loads(info.path.with_suffix(".json").read_text())
        assert sidecar["system_identifier"] is None and info.system_identifier is None
        assert "permission denied" in sidecar["system_identifier_error"]
    finally:
        pg.drop_role(role)


# -- partial files ---------------------------------------------------------------------------------
def test_partial_files_are_never_listed_and_stale_ones_are_removed(
        project: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    settings = settings_for(project.ini, fresh_db, tmp_path)
    folder = settings.backups_dir
    folder.mkdir(parents=True)
    stale = folder / ".partial-dead.dump"
    fresh = folder / ".partial-just-created.dump"
    busy = folder / ".partial-being-written.dump"
    for path in (stale, fresh, busy):
        path.write_bytes(b"PGDMP" + b"\0" * 100)
    old = time.time() - 3600
    os.utime(stale, (old, old))
    os.utime(busy, (old, old))  # a dump waiting on a lock writes nothing for a while
    holder = os.open(busy, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        assert backups.list_backups(settings) == []  # on main: three "? base" backups
        info = backups.create_backup(settings)
        assert [b.path for b in backups.list_backups(settings)] == [info.path]
        assert not stale.exists()
        assert fresh.exists() and busy.exists()  # too recent / locked by a live process
    finally:
        os.close(holder)


# -- bounded, interruptible ------------------------------------------------------------------------
def test_a_table_locked_by_another_session_fails_the_backup_instead_of_stalling_up(
        project: SyntheticProject, fresh_db: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for(project.ini, fresh_db, tmp_path)
    migrations.upgrade(settings, project.ids[0], backup=False)
    settings = dataclasses.replace(settings, lock_timeout="1s")
    outcome: list[BaseException | migrations.MigrationResult] = []

    def run() -> None:
        try:
            outcome.append(migrations.upgrade(settings))
        except BaseException as exc:
            outcome.append(exc)

    with table_locked(fresh_db, "t_0001") as holder:
        worker = threading.Thread(target=run, daemon=True)
        started = time.monotonic()
        worker.start()
        worker.join(20)
        finished = not worker.is_alive()
    worker.join(30)  # on main it only ends once the lock above is gone
    assert finished, "migrate up stalled behind a locked table"
    assert time.monotonic() - started < 20
    (err,) = outcome
    assert isinstance(err, RfsetupError) and err.kind == "backup_lock_timeout"
    assert err.exit_code == ExitCode.FAILED
    assert "within 1s" in err.message and f"pid {holder}" in err.message
    assert "t_0001" in err.message and "--no-backup" in (err.hint or "")
    assert version(fresh_db) == (project.ids[0],)  # nothing changed
    assert not any(settings.backups_dir.iterdir())
    with db(fresh_db) as conn:
        assert locking.try_lock(conn)  # and the migration lock was given back


def test_progress_shows_elapsed_time_and_cancel_stops_pg_dump(
        project: SyntheticProject, fresh_db: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for(project.ini, fresh_db, tmp_path)
    migrations.upgrade(settings, project.ids[0], backup=False)
    # a dump that would wait a long time
    settings = dataclasses.replace(settings, lock_timeout="5min")
    cancel = threading.Event()
    lines: list[str] = []
    before = set(programs("pg_dump"))
    with table_locked(fresh_db, "t_0001"):
        threading.Timer(2.6, cancel.set).start()
        started = time.monotonic()
        with pytest.raises(RfsetupError) as info:
            backups.create_backup(settings, on_progress=lines.append, cancel=cancel)
        assert time.monotonic() - started < 6
    err = info.value
    assert err.kind == "interrupted" and err.exit_code == ExitCode.INTERRUPTED == 130
    assert "nothing was changed" in err.message
    database = normalize_database_url(fresh_db).database
    assert lines[0] == f"taking a backup of database {database}…"
    ticks = [ln for ln in lines if isinstance(ln, backups.ProgressTick)]
    assert [str(t) for t in ticks[:2]] == [f"{lines[0]} 1s", f"{lines[0]} 2s"]
    assert not any(settings.backups_dir.iterdir())  # the partial file went too
    assert not wait_gone(set(programs("pg_dump")) - before)


def test_pg_dump_ends_when_the_process_running_it_is_sigkilled(
        project: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    settings = settings_for(project.ini, fresh_db, tmp_path)
    migrations.upgrade(settings, project.ids[0], backup=False)
    code = ("import sys; from rfsetup.core import backups; from rfsetup.core.settings import "
            "load_settings; backups.create_backup(load_settings(None, sys.argv[1]))")
    env = dict(os.environ, DATABASE_URL=fresh_db, RFSETUP_LOCK_TIMEOUT="10min")
    with table_locked(fresh_db, "t_0001"):
        proc = subprocess.Popen([sys.executable, "-c", code, str(project.ini)], env=env,
                                cwd=tmp_path)
        try:
            dumps = wait_for(lambda: dumping(proc.pid), what="pg_dump to start")
            proc.kill()
            proc.wait(10)
            assert not wait_gone(dumps), "pg_dump outlived rfsetup"  # on main: still waiting
        finally:
            proc.kill()
    # its partial file is left (nobody could remove it) but is never listed, and goes once stale
    (partial,) = settings.backups_dir.glob(".partial-*")
    assert backups.list_backups(settings) == []
    os.utime(partial, (time.time() - 3600,) * 2)
    backups.create_backup(settings)
    assert not partial.exists()


# -- pruning ---------------------------------------------------------------------------------------
def test_only_the_newest_backups_are_kept_and_nothing_else_is_touched(
        project: SyntheticProject, fresh_db: str, tmp_path: Path, pg) -> None:
    settings = settings_for(project.ini, fresh_db, tmp_path)
    other_db = pg.create_database()
    try:
        other = backups.create_backup(settings_for(project.ini, pg.url(other_db), tmp_path))
        folder = settings.backups_dir
        theirs = folder / "hand-made.dump"  # not rfsetup's name, no sidecar
        shutil.copy(other.path, theirs)
        notes = folder / "notes.txt"
        notes.write_text("keep me")
        keep2 = dataclasses.replace(settings, backup_keep=2)
        made = [backups.create_backup(keep2) for _ in range(4)]
        mine = [b.path for b in backups.list_backups(settings)
                if b.database == normalize_database_url(fresh_db).database]
        assert mine == [made[3].path, made[2].path]  # on main: all four, forever
        database = normalize_database_url(fresh_db).database
        assert sorted(p.name for p in folder.iterdir() if p.name.startswith(database)) == sorted(
            p.name for b in made[2:] for p in (b.path, b.path.with_suffix(".json")))
        assert other.path.exists() and theirs.exists() and notes.exists()

        # manual prune: never below one, and only what it names
        with pytest.raises(RfsetupError) as info:
            backups.prune_backups(settings, 0)
        assert info.value.exit_code == ExitCode.USAGE
        planned = backups.prune_backups(settings, 1, dry_run=True)
        assert [b.path for b in planned] == [made[2].path] and made[2].path.exists()
        removed = backups.prune_backups(settings, 1)
        assert [b.path for b in removed] == [made[2].path] and not made[2].path.exists()
        assert made[3].path.exists() and other.path.exists() and theirs.exists()
    finally:
        pg.drop_database(other_db)


def test_migrate_up_prunes_by_rfsetup_backup_keep(project: SyntheticProject, fresh_db: str,
                                                  tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from rfsetup.core.settings import load_settings

    # RFSETUP_BACKUP_KEEP reaches the run through Settings, as the CLI builds them
    env = {"DATABASE_URL": fresh_db, "RFSETUP_BACKUP_KEEP": "1"}
    settings = load_settings(None, project.ini, environ=env, cwd=tmp_path)
    migrations.upgrade(settings, project.ids[0])
    result = migrations.upgrade(settings)
    assert [b.path for b in backups.list_backups(settings)] == [result.backup.path]
    settings = replace(settings, backup_keep=0)  # 0 keeps everything
    migrations.downgrade(settings, project.ids[1])
    assert len(backups.list_backups(settings)) == 2


def test_rfsetup_backup_keep_must_be_a_whole_number(project: SyntheticProject,
                                                    tmp_path: Path) -> None:
    from rfsetup.core.settings import load_settings

    with pytest.raises(RfsetupError) as info:
        load_settings(None, project.ini, environ={"RFSETUP_BACKUP_KEEP": "-3"}, cwd=tmp_path)
    assert info.value.exit_code == ExitCode.USAGE and "RFSETUP_BACKUP_KEEP" in info.value.message
    assert load_settings(None, project.ini, environ={}, cwd=tmp_path).backup_keep == 20


# -- disk and path errors --------------------------------------------------------------------------
@pytest.mark.parametrize("blocker", [".rfsetup/backups", ".rfsetup"])
def test_a_file_where_the_backups_folder_should_be_is_named(
        project: SyntheticProject, fresh_db: str, tmp_path: Path, blocker: str) -> None:
    settings = settings_for(project.ini, fresh_db, tmp_path)
    (tmp_path / blocker).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / blocker).write_text("not a folder")
    with pytest.raises(RfsetupError) as info:
        backups.create_backup(settings)
    err = info.value
    assert err.kind == "backup_folder_unusable" and str(tmp_path / blocker) in err.message
    assert "bug" not in (err.hint or "")


def test_a_read_only_backups_folder_is_named(project: SyntheticProject, fresh_db: str,
                                             tmp_path: Path) -> None:
    settings = settings_for(project.ini, fresh_db, tmp_path)
    folder = settings.backups_dir
    with contextlib.ExitStack() as stack:
        if IS_ROOT:  # root ignores mode bits: a read-only mount is what stops it
            stack.enter_context(mounted_tmpfs(folder, "ro,size=1m"))
        else:
            folder.mkdir(parents=True)
            folder.chmod(0o500)
            stack.callback(folder.chmod, 0o700)
        with pytest.raises(RfsetupError) as info:
            backups.create_backup(settings)
    err = info.value
    assert err.kind == "backup_folder_unwritable" and str(folder) in err.message
    assert err.exit_code == ExitCode.FAILED


@pytest.mark.skipif(not IS_ROOT, reason="mounting a small tmpfs needs root")
def test_a_full_disk_is_named_with_its_free_space(project: SyntheticProject, fresh_db: str,
                                                  tmp_path: Path) -> None:
    settings = settings_for(project.ini, fresh_db, tmp_path)
    migrations.upgrade(settings, project.ids[0], backup=False)
    query(fresh_db, "INSERT INTO t_0001 (name) SELECT md5(random()::text) || md5(random()::text)"
                    " FROM generate_series(1, 100000)")
    with mounted_tmpfs(settings.backups_dir, "size=1m"):
        with pytest.raises(RfsetupError) as info:
            backups.create_backup(settings)
        assert not any(settings.backups_dir.iterdir())  # the partial file was removed
    err = info.value
    assert err.kind == "disk_full" and str(settings.backups_dir) in err.message
    assert "free)" in err.message and "bug" not in (err.hint or "")
