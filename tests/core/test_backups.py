"""rfsetup.core.backups on the real embedded PostgreSQL with real pg_dump / pg_restore / psql."""

from __future__ import annotations

import json
import shutil
import stat
import uuid
from pathlib import Path

import pytest

from rfsetup.core import alembic as migrations
from rfsetup.core import backups, locking
from rfsetup.core.errors import ExitCode, RfsetupError
from rfsetup.core.settings import normalize_database_url
from tests.helpers.alembic_project import SyntheticProject, make_project
from tests.helpers.db import catalog, db, query, settings_for, tables, version

SYSTEM_PG_DUMP_DIR = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> SyntheticProject:
    return make_project(tmp_path_factory.mktemp("backups") / "p", 3)


@pytest.fixture(scope="module")
def server_version(pg) -> int:
    with pg.admin_connect() as conn:
        return int(conn.server_version)


# -- choosing the tools ----------------------------------------------------------------------------
def test_tools_match_the_server_version(server_version: int) -> None:
    tools = backups.choose_tools(server_version, need=("pg_dump", "pg_restore", "psql"))
    assert tools.major == backups.server_major(server_version)
    assert tools.has("pg_restore") and tools.has("psql")
    assert backups.server_major(90624) == (9, 6)
    assert backups.server_major(160002) == (16,)


@pytest.mark.skipif(not (SYSTEM_PG_DUMP_DIR / "pg_dump").is_file(), reason="no pg_dump 15 here")
def test_an_older_pg_dump_is_detected_and_explained(server_version: int) -> None:
    major = backups.server_major(server_version)[0]
    with pytest.raises(RfsetupError) as info:
        backups.choose_tools(server_version, candidates=[SYSTEM_PG_DUMP_DIR])
    err = info.value
    assert err.kind == "pg_dump_too_old"
    assert "pg_dump 15." in err.message and f"PostgreSQL {major}" in err.message
    assert f"postgresql-client-{major}" in (err.hint or "")
    assert backups.ENV_BINDIR in (err.hint or "")


@pytest.mark.skipif(not (SYSTEM_PG_DUMP_DIR / "pg_dump").is_file(), reason="no pg_dump 15 here")
def test_an_older_pg_dump_stops_the_migration_before_any_change(
        project: SyntheticProject, fresh_db: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(backups.ENV_BINDIR, str(SYSTEM_PG_DUMP_DIR))
    with pytest.raises(RfsetupError) as info:
        migrations.upgrade(settings_for(project.ini, fresh_db, tmp_path))
    assert info.value.kind == "pg_dump_too_old"
    assert version(fresh_db) == () and tables(fresh_db) == set()


def test_no_pg_dump_at_all(server_version: int, tmp_path: Path) -> None:
    with pytest.raises(RfsetupError) as info:
        backups.choose_tools(server_version, candidates=[tmp_path])
    assert info.value.kind == "pg_dump_missing"
    assert "postgresql-client-" in (info.value.hint or "")


def test_the_password_is_never_in_the_tools_argv(fresh_db: str) -> None:
    url = normalize_database_url(fresh_db)
    assert url.password
    conninfo = backups._conninfo(url, "rfsetup backup")
    assert str(url.password) not in conninfo
    assert f"dbname={url.database}" in conninfo and "host=127.0.0.1" in conninfo
    assert backups._tool_env(url)["PGPASSWORD"] == str(url.password)


# -- creating and listing --------------------------------------------------------------------------
def test_backup_is_private_named_described_and_listed(
        project: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    settings = settings_for(project.ini, fresh_db, tmp_path)
    migrations.upgrade(settings, project.ids[0], backup=False)
    first = backups.create_backup(settings)
    second = backups.create_backup(settings)
    database = normalize_database_url(fresh_db).database

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
        assert sidecar["revision"] == project.ids[0] and sidecar["database"] == database
    assert first.path != second.path  # same second: never overwritten
    assert not list(folder.glob(".partial-*"))

    listed = backups.list_backups(settings)
    assert [b.path for b in listed] == [second.path, first.path]
    assert listed[0].to_json().keys() >= {"path", "database", "revision", "created_at"}

    # a dump copied elsewhere without its sidecar is still described from its name
    elsewhere = tmp_path / "copied"
    elsewhere.mkdir()
    copy = Path(shutil.copy(first.path, elsewhere))
    info = backups.read_backup_info(copy)
    assert (info.database, info.revision) == (database, project.ids[0])
    assert info.created_at == first.created_at.replace(microsecond=0)  # names hold seconds


def test_list_without_backups_is_empty(project: SyntheticProject, tmp_path: Path) -> None:
    assert backups.list_backups(settings_for(project.ini, "postgresql://u@h/d", tmp_path)) == []


# -- restoring -------------------------------------------------------------------------------------
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
    restored = backups.restore_backup(settings, taken.path, on_progress=lines.append)
    assert restored.revision == project.heads[0] == version(fresh_db)[0]
    assert catalog(fresh_db) == before
    assert query(fresh_db, "SELECT name FROM t_0003 ORDER BY name") == [("also kept",),
                                                                     ("kept",)]
    assert lines[0] == "migration lock acquired"
    assert any(ln.startswith("backup of the current state written to") for ln in lines)
    safety = [b for b in backups.list_backups(settings) if b.path != taken.path]
    assert safety and safety[0].revision == project.ids[0]  # the state just replaced


def test_restoring_an_older_backup_removes_everything_newer(
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
    backups.restore_backup(settings, old.path, backup=False)
    assert version(fresh_db) == (project.ids[0],)
    assert tables(fresh_db) == {"t_0001"}
    assert catalog(fresh_db) == at_backup
    assert query(fresh_db, "SELECT extname FROM pg_extension ORDER BY 1") == [("plpgsql",)]


def test_a_failing_restore_changes_nothing(
        project: SyntheticProject, fresh_db: str, tmp_path: Path, pg) -> None:
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
        backups.restore_backup(settings, doomed.path, backup=False)
    err = info.value
    assert err.kind == "restore_failed" and "not changed" in err.message
    assert role in (err.cause or "")
    assert catalog(fresh_db) == before
    assert version(fresh_db) == tuple(project.heads)


def test_a_truncated_backup_changes_nothing(
        project: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
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
        backups.restore_backup(settings, broken, backup=False)
    assert info.value.kind == "restore_failed"
    assert catalog(fresh_db) == before and version(fresh_db) == (project.ids[1],)


def test_restore_rejects_what_is_not_a_backup(project: SyntheticProject, tmp_path: Path) -> None:
    settings = settings_for(project.ini, "postgresql://u@127.0.0.1:1/d", tmp_path)
    text = tmp_path / "notes.sql"
    text.write_text("SELECT 1;\n")
    for path, words in ((text, "not a pg_dump"), (tmp_path / "missing.dump", "no such")):
        with pytest.raises(RfsetupError) as info:
            backups.restore_backup(settings, path)
        assert info.value.exit_code == ExitCode.USAGE and words in info.value.message


def test_restore_waits_for_the_migration_lock(
        project: SyntheticProject, fresh_db: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for(project.ini, fresh_db, tmp_path)
    migrations.upgrade(settings, project.ids[0], backup=False)
    taken = backups.create_backup(settings)
    migrations.upgrade(settings, backup=False)
    monkeypatch.setenv(locking.ENV_LOCK_WAIT, "0.2")
    with db(fresh_db) as other:
        with other.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (locking.lock_key(),))
        with pytest.raises(RfsetupError) as info:
            backups.restore_backup(settings, taken.path)
    assert info.value.kind == "locked"
    assert version(fresh_db) == tuple(project.heads)
    assert len(backups.list_backups(settings)) == 1  # not even the safety backup was taken
