"""rfsetup.core.restore on the real embedded PostgreSQL with the real pg_restore and psql: exact
round trips, and every way a restore must refuse or fail with nothing changed."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
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
from rfsetup.core import backups, locking, restore
from rfsetup.core.embedded import EmbeddedPostgres
from rfsetup.core.errors import ExitCode, RfsetupError
from rfsetup.core.settings import normalize_database_url
from tests.conftest import FAST
from tests.helpers.alembic_project import SyntheticProject, make_project
from tests.helpers.db import catalog, db, libpq, query, settings_for, tables, version
from tests.helpers.procs import wait_for, wait_gone


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> SyntheticProject:
    return make_project(tmp_path_factory.mktemp("restore") / "p", 3)


@contextlib.contextmanager
def reading(url: str, table: str) -> Iterator[None]:
    """Another session in an open transaction that has read ``table`` (ACCESS SHARE): pg_dump
    is not blocked, DROP TABLE is."""
    conn = psycopg2.connect(libpq(url))
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {table}")
        yield
    finally:
        conn.rollback()
        conn.close()


def children_running(pid: int, name: str) -> list[int]:
    found = []
    for child in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if child.name() == name and any(a.startswith("--file=") for a in child.cmdline()):
                found.append(child.pid)
    return found


def at_first_then_head(project: SyntheticProject, url: str, cwd: Path):
    """A database at the first revision backed up, then upgraded to head: (settings, dump)."""
    settings = settings_for(project.ini, url, cwd)
    migrations.upgrade(settings, project.ids[0], backup=False)
    query(url, "INSERT INTO t_0001 (name) VALUES ('one'), ('two')")
    taken = backups.create_backup(settings)
    migrations.upgrade(settings, backup=False)
    return settings, taken


# -- exact round trips -----------------------------------------------------------------------------
def test_round_trip_brings_back_revision_tables_and_rows(
        project: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    settings = settings_for(project.ini, fresh_db, tmp_path)
    migrations.upgrade(settings, backup=False)
    query(fresh_db, "INSERT INTO t_0003 (name) VALUES ('kept'), ('also kept')")
    taken = backups.create_backup(settings)
    before = catalog(fresh_db)

    migrations.downgrade(settings, project.ids[0], backup=False)
    assert tables(fresh_db) == {"t_0001"}

    lines: list[str] = []
    done = restore.restore_backup(settings, taken.path, on_progress=lines.append)
    assert done.revision == project.heads[0] == version(fresh_db)[0]
    assert catalog(fresh_db) == before
    assert query(fresh_db, "SELECT name FROM t_0003 ORDER BY name") == [("also kept",),
                                                                     ("kept",)]
    assert lines[0] == "migration lock acquired"
    assert lines[1].startswith(f"replacing database {normalize_database_url(fresh_db).database} "
                               f"(at {project.ids[0]}, 2 tables) with {taken.path.name}")
    assert "verified: SHA-256 matches" in lines[1]
    assert any(ln.startswith("backup of the current state written to") for ln in lines)
    assert done.safety is not None and done.safety.revision == project.ids[0]
    assert done.plan.dump_revision == project.heads[0] and not done.plan.extra_objects


def test_the_plan_shows_what_will_be_replaced(project: SyntheticProject, fresh_db: str,
                                              tmp_path: Path) -> None:
    settings, taken = at_first_then_head(project, fresh_db, tmp_path)
    query(fresh_db, "INSERT INTO t_0002 (name) SELECT 'x' FROM generate_series(1, 500); "
                    "ANALYZE t_0002")
    plan = restore.plan_restore(settings, taken.path)
    assert plan.database == normalize_database_url(fresh_db).database == plan.dump_database
    assert plan.target_revision == project.heads[0] and plan.dump_revision == project.ids[0]
    rows = {t.name: t.rows for t in plan.target_tables}
    assert rows["public.t_0002"] == 500 and set(rows) >= {"public.t_0001", "public.t_0003"}
    assert set(plan.dump_tables) == {"public.t_0001", "public.alembic_version"}
    assert plan.verified and not plan.other_database and not plan.other_server
    assert set(plan.extra_objects) >= {"table public.t_0002", "table public.t_0003"}
    assert plan.to_json()["extra_objects"] == list(plan.extra_objects)


def test_restoring_an_older_backup_removes_everything_newer_when_asked(
        project: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    settings = settings_for(project.ini, fresh_db, tmp_path)
    migrations.upgrade(settings, project.ids[0], backup=False)
    old = backups.create_backup(settings)
    at_backup = catalog(fresh_db)

    migrations.upgrade(settings, backup=False)
    query(fresh_db, """
        CREATE EXTENSION vector;
        CREATE SCHEMA reporting;
        CREATE TABLE reporting.daily (id bigint);
        CREATE TYPE mood AS ENUM ('ok', 'bad');
        CREATE DOMAIN positive AS int CHECK (VALUE > 0);
        CREATE SEQUENCE loose_seq;
        CREATE VIEW recent AS SELECT * FROM t_0002;
        CREATE MATERIALIZED VIEW counts AS SELECT count(*) FROM t_0003;
        CREATE FUNCTION answer() RETURNS int LANGUAGE sql AS 'SELECT 42';
        CREATE TABLE embeddings (id bigint, v vector(3), m mood, p positive);
    """)
    newer = catalog(fresh_db)
    with pytest.raises(RfsetupError) as info:
        restore.restore_backup(settings, old.path, backup=False)
    err = info.value
    assert err.exit_code == ExitCode.USAGE and "nothing was changed" in err.message
    for word in ("extension vector", "schema reporting", "table public.t_0002",
                 "type public.mood", "domain public.positive", "sequence public.loose_seq",
                 "view public.recent", "materialized view public.counts",
                 "function public.answer()", "table public.embeddings"):
        assert word in (err.cause or "")
    assert "would drop 12 object(s)" in err.message  # not the tables' own sequences
    assert err.message.index("extension vector") < err.message.index("schema reporting")
    assert "--drop-extra" in (err.hint or "")
    assert catalog(fresh_db) == newer  # on main: all of it dropped without a word

    restore.restore_backup(settings, old.path, backup=False, drop_extra=True)
    assert version(fresh_db) == (project.ids[0],)
    assert tables(fresh_db) == {"t_0001"}
    assert catalog(fresh_db) == at_backup
    assert query(fresh_db, "SELECT extname FROM pg_extension ORDER BY 1") == [("plpgsql",)]


def test_a_superuser_restore_never_drops_a_schema_or_extension_silently(
        project: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    settings = settings_for(project.ini, fresh_db, tmp_path)
    migrations.upgrade(settings, project.ids[0], backup=False)
    taken = backups.create_backup(settings)  # as the superuser, like the defect's report
    query(fresh_db, "CREATE SCHEMA audit; CREATE TABLE audit.events (id int); "
                    "INSERT INTO audit.events VALUES (1); CREATE EXTENSION vector")
    with pytest.raises(RfsetupError) as info:
        restore.restore_backup(settings, taken.path)
    assert info.value.exit_code == ExitCode.USAGE
    assert "schema audit" in info.value.message and "extension vector" in info.value.message
    assert "table audit.events" in info.value.message
    assert query(fresh_db, "SELECT id FROM audit.events") == [(1,)]
    assert len(backups.list_backups(settings)) == 1  # refused before the safety backup


# -- failing restores change nothing ---------------------------------------------------------------
def test_a_failing_restore_changes_nothing(project: SyntheticProject, fresh_db: str,
                                           tmp_path: Path) -> None:
    settings = settings_for(project.ini, fresh_db, tmp_path)
    role = f"ghost_{uuid.uuid4().hex[:8]}"
    migrations.upgrade(settings, project.ids[0], backup=False)
    query(fresh_db, f"CREATE ROLE {role}; CREATE TABLE haunted (id int); "
                    f"ALTER TABLE haunted OWNER TO {role}")
    doomed = backups.create_backup(settings)  # says: ALTER TABLE haunted OWNER TO <role>
    query(fresh_db, f"DROP TABLE haunted; DROP ROLE {role}")
    migrations.upgrade(settings, backup=False)
    before = catalog(fresh_db)

    with pytest.raises(RfsetupError) as info:
        restore.restore_backup(settings, doomed.path, backup=False, drop_extra=True)
    err = info.value
    assert err.kind == "restore_failed" and "not changed" in err.message
    assert role in (err.cause or "") and "role" in (err.hint or "")
    assert catalog(fresh_db) == before
    assert version(fresh_db) == tuple(project.heads)


def test_a_truncated_backup_changes_nothing(project: SyntheticProject, fresh_db: str,
                                            tmp_path: Path) -> None:
    settings = settings_for(project.ini, fresh_db, tmp_path)
    migrations.upgrade(settings, backup=False)
    query(fresh_db, "INSERT INTO t_0001 (name) SELECT md5(g::text) FROM generate_series(1, 2000) g")
    full = backups.create_backup(settings)
    broken = tmp_path / "broken.dump"
    data = full.path.read_bytes()
    broken.write_bytes(data[: len(data) * 2 // 3])
    migrations.downgrade(settings, project.ids[1], backup=False)
    before = catalog(fresh_db)
    with pytest.raises(RfsetupError) as info:
        restore.restore_backup(settings, broken, backup=False)
    assert info.value.kind == "restore_failed" and "damaged" in (info.value.hint or "")
    assert catalog(fresh_db) == before and version(fresh_db) == (project.ids[1],)


def test_restore_rejects_what_is_not_a_backup_by_its_real_cause(
        project: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    settings = settings_for(project.ini, fresh_db, tmp_path)
    text = tmp_path / "notes.sql"
    text.write_text("SELECT 1;\n")
    garbage = tmp_path / "garbage.dump"
    garbage.write_bytes(b"PGDMPgarbage-garbage-garbage")
    for path, words in ((text, "not a pg_dump"), (tmp_path / "missing.dump", "no such"),
                        (garbage, "header is damaged")):
        with pytest.raises(RfsetupError) as info:
            restore.restore_backup(settings, path)
        err = info.value
        assert err.exit_code == ExitCode.USAGE and words in err.message
        assert "newer" not in f"{err.message} {err.hint}"  # on main: "from a newer pg_dump"

    # a sane header with an archive version this pg_restore does not know: that IS newer
    real = backups.create_backup(settings)
    future = tmp_path / "future.dump"
    data = bytearray(real.path.read_bytes())
    data[6] = 99  # archive format 1.99
    future.write_bytes(bytes(data))
    with pytest.raises(RfsetupError) as info:
        restore.restore_backup(settings, future)
    assert "newer pg_dump" in info.value.message and "RFSETUP_PG_BINDIR" in info.value.hint


def test_a_dump_edited_after_it_was_written_is_refused(project: SyntheticProject, fresh_db: str,
                                                       tmp_path: Path) -> None:
    settings = settings_for(project.ini, fresh_db, tmp_path)
    migrations.upgrade(settings, project.ids[0], backup=False)
    query(fresh_db, "ALTER TABLE t_0001 ALTER COLUMN name SET DEFAULT 'kept'")
    taken = backups.create_backup(settings)
    data = taken.path.read_bytes()
    assert data.count(b"'kept'") == 1  # the default, in the uncompressed table of contents
    taken.path.write_bytes(data.replace(b"'kept'", b"'evil'"))  # same length
    migrations.upgrade(settings, backup=False)
    before = catalog(fresh_db)
    with pytest.raises(RfsetupError) as info:
        restore.restore_backup(settings, taken.path, drop_extra=True)
    err = info.value
    assert err.exit_code == ExitCode.USAGE and "changed after it was written" in err.message
    assert "SHA-256" in err.message
    assert catalog(fresh_db) == before and version(fresh_db) == tuple(project.heads)


def test_a_damaged_dump_without_a_sidecar_is_called_damaged(
        project: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    settings = settings_for(project.ini, fresh_db, tmp_path)
    migrations.upgrade(settings, project.ids[0], backup=False)
    taken = backups.create_backup(settings)
    plain = tmp_path / "plain.dump"  # as if made by plain pg_dump: no sidecar
    plain.write_bytes(taken.path.read_bytes().replace(b"CREATE TABLE public.t_0001",
                                                      b"CREATE TABLX public.t_0001"))
    before = catalog(fresh_db)
    with pytest.raises(RfsetupError) as info:
        restore.restore_backup(settings, plain, backup=False)
    err = info.value
    assert "damaged or was edited" in err.message and "another backup" in (err.hint or "")
    assert "role" not in (err.hint or "")  # on main: "restore as a role that can create …"
    assert catalog(fresh_db) == before


def test_a_dump_without_a_sidecar_restores_said_to_be_unverified(
        project: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    settings, taken = at_first_then_head(project, fresh_db, tmp_path)
    plain = tmp_path / "plain.dump"
    shutil.copy(taken.path, plain)
    lines: list[str] = []
    done = restore.restore_backup(settings, plain, on_progress=lines.append, drop_extra=True)
    assert not done.plan.verified and "unverified" in done.plan.verification
    assert any("unverified: no sidecar" in ln for ln in lines)
    assert version(fresh_db) == (project.ids[0],)


# -- not over the wrong database -------------------------------------------------------------------
def test_a_dump_of_another_database_is_refused_unless_asked(
        project: SyntheticProject, fresh_db: str, tmp_path: Path, pg) -> None:
    _, taken = at_first_then_head(project, fresh_db, tmp_path)
    target = pg.create_database()
    try:
        url_b = pg.url(target)
        other = settings_for(project.ini, url_b, tmp_path)
        migrations.upgrade(other, backup=False)
        query(url_b, "INSERT INTO t_0003 (name) SELECT 'b' FROM generate_series(1, 553)")
        with pytest.raises(RfsetupError) as info:
            restore.restore_backup(other, taken.path, drop_extra=True)
        err = info.value
        database = normalize_database_url(fresh_db).database
        assert err.exit_code == ExitCode.USAGE
        assert f"a dump of database {database}, not of {target}" in err.message
        assert "--into-other-database" in (err.hint or "")
        assert query(url_b, "SELECT count(*) FROM t_0003") == [(553,)]  # on main: replaced

        restore.restore_backup(other, taken.path, drop_extra=True, into_other_database=True)
        assert version(url_b) == (project.ids[0],)
    finally:
        pg.drop_database(target)


def test_a_dump_from_another_server_is_flagged(project: SyntheticProject, fresh_db: str,
                                               tmp_path: Path) -> None:
    name = normalize_database_url(fresh_db).database
    second = EmbeddedPostgres(tmp_path / "pg2", server_settings=FAST)
    second.start()
    try:
        admin = psycopg2.connect(libpq(second.url("postgres")))
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        admin.close()
        there = settings_for(project.ini, second.url(name), tmp_path)
        migrations.upgrade(there, project.ids[0], backup=False)
        taken = backups.create_backup(there)  # same database name, other server

        here = settings_for(project.ini, fresh_db, tmp_path)
        plan = restore.plan_restore(here, taken.path)
        assert plan.other_server and not plan.other_database
        with pytest.raises(RfsetupError) as info:
            restore.restore_backup(here, taken.path)
        assert "taken on another server" in info.value.message
        assert version(fresh_db) == ()
        restore.restore_backup(here, taken.path, into_other_database=True)
        assert version(fresh_db) == (project.ids[0],)
    finally:
        second.destroy()


# -- timeouts, interrupts, children ----------------------------------------------------------------
def test_the_lock_timeout_holds_even_when_the_url_sets_options(
        project: SyntheticProject, fresh_db: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    url = fresh_db + "?options=-c%20search_path%3Dpublic"
    settings, taken = at_first_then_head(project, url, tmp_path)
    settings = dataclasses.replace(settings, lock_timeout="1s")
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(restore.restore_backup(settings, taken.path, drop_extra=True))
        except BaseException as exc:
            outcome.append(exc)

    with reading(fresh_db, "t_0002"):
        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        worker.join(20)
        finished = not worker.is_alive()
    worker.join(30)
    assert finished, "the restore waited on the lock without a timeout"
    (err,) = outcome
    assert isinstance(err, RfsetupError) and err.kind == "restore_lock_timeout"
    assert "1s" in err.message and "not changed" in err.message
    assert version(fresh_db) == tuple(project.heads)


def test_pg_restores_own_timeout_resets_are_pointed_at_the_sessions(
        project: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    settings = settings_for(project.ini, fresh_db, tmp_path)
    taken = backups.create_backup(settings)
    tools = backups.choose_tools(int(query(fresh_db, "SHOW server_version_num")[0][0]),
                                 need=("pg_restore",))
    script = tmp_path / "restore.sql"
    subprocess.run([str(tools.path("pg_restore")), f"--file={script}", str(taken.path)],
                   check=True)
    before = script.read_bytes()
    assert b"\nSET lock_timeout = 0;\n" in before
    restore._patch_header(script)
    after = script.read_bytes()
    assert len(after) == len(before)
    assert b"\nSET lock_timeout=:LT;\n" in after and b"\nSET statement_timeout=:ST;\n" in after
    assert b"= 0;" not in after.split(b"SET idle_in_transaction")[0]


def test_a_safety_backup_failure_during_restore_offers_restores_real_options(
        project: SyntheticProject, fresh_db: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings, taken = at_first_then_head(project, fresh_db, tmp_path)
    settings = dataclasses.replace(settings, lock_timeout="1s")
    conn = psycopg2.connect(libpq(fresh_db))
    try:
        with conn.cursor() as cur:
            cur.execute("LOCK TABLE t_0002 IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(RfsetupError) as info:
            restore.restore_backup(settings, taken.path, drop_extra=True)
    finally:
        conn.rollback()
        conn.close()
    err = info.value
    assert err.kind == "backup_lock_timeout"
    assert "--no-backup" not in (err.hint or "")
    assert "rfsetup backup restore again" in (err.hint or "")
    assert version(fresh_db) == tuple(project.heads)


def test_cancel_stops_a_restore_with_nothing_changed(
        project: SyntheticProject, fresh_db: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings, taken = at_first_then_head(project, fresh_db, tmp_path)
    settings = dataclasses.replace(settings, lock_timeout="5min")
    before = catalog(fresh_db)
    cancel = threading.Event()
    with reading(fresh_db, "t_0002"):
        threading.Timer(2.0, cancel.set).start()
        started = time.monotonic()
        with pytest.raises(RfsetupError) as info:
            restore.restore_backup(settings, taken.path, drop_extra=True, backup=False,
                                   cancel=cancel)
        assert time.monotonic() - started < 8
    assert info.value.kind == "interrupted" and info.value.exit_code == 130
    assert catalog(fresh_db) == before and version(fresh_db) == tuple(project.heads)
    with db(fresh_db) as conn:
        assert locking.try_lock(conn)


def test_psql_ends_when_the_restoring_process_is_sigkilled(
        project: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    _, taken = at_first_then_head(project, fresh_db, tmp_path)
    before = catalog(fresh_db)
    code = ("import sys; from rfsetup.core import restore; from rfsetup.core.settings import "
            "load_settings; restore.restore_backup(load_settings(None, sys.argv[1]), sys.argv[2],"
            " drop_extra=True, backup=False)")
    env = dict(os.environ, DATABASE_URL=fresh_db, RFSETUP_LOCK_TIMEOUT="10min")
    with reading(fresh_db, "t_0002"):
        proc = subprocess.Popen([sys.executable, "-c", code, str(project.ini), str(taken.path)],
                                env=env, cwd=tmp_path)
        try:
            psqls = wait_for(lambda: children_running(proc.pid, "psql"), what="psql to start")
            proc.kill()
            proc.wait(10)
            assert not wait_gone(psqls), "psql outlived rfsetup"  # on main: still waiting
        finally:
            proc.kill()
    # the orphaned session can only roll back; nothing was changed
    wait_for(lambda: not query(fresh_db, "SELECT 1 FROM pg_stat_activity WHERE "
                                         "application_name LIKE 'rfsetup restore psql%'"),
             what="the restore's session to end")
    assert catalog(fresh_db) == before and version(fresh_db) == tuple(project.heads)


def test_restore_waits_for_the_migration_lock(
        project: SyntheticProject, fresh_db: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings, taken = at_first_then_head(project, fresh_db, tmp_path)
    settings = dataclasses.replace(settings, lock_wait=0.2)
    with db(fresh_db) as other:
        with other.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (locking.lock_key(),))
        with pytest.raises(RfsetupError) as info:
            restore.restore_backup(settings, taken.path, drop_extra=True)
    assert info.value.kind == "locked"
    assert version(fresh_db) == tuple(project.heads)
    assert len(backups.list_backups(settings)) == 1  # not even the safety backup was taken
