"""Rehearsals on a real copy: the real database (catalog, rows, the server's database list) is
the same afterwards, each revision's locks and rows are read from the server, a downgrade that
does not undo its upgrade is caught, failures are findings, and the copy is always dropped."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import psycopg2
import pytest
from alembic import command

from rfsetup.core.errors import RfsetupError
from rfsetup.core.rehearse import rehearse
from rfsetup.core.rehearsecopy import PREFIX, copy_name
from rfsetup.core.rehearsereport import report_lines
from tests.conftest import ALEMBIC_INI, PgTestServer
from tests.helpers.alembic_project import make_project
from tests.helpers.db import alembic_config, catalog, db, query, settings_for


def databases(pg: PgTestServer) -> list[str]:
    conn = pg.admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database ORDER BY 1")
            return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


def snapshot(url: str) -> tuple[object, ...]:
    """What must not change in the real database: catalog, version, every row of every table."""
    rows = {}
    for (table,) in query(url, "SELECT quote_ident(tablename) FROM pg_tables "
                               "WHERE schemaname = 'public'"):
        rows[table] = sorted(map(repr, query(url, f"SELECT * FROM {table}")))
    return catalog(url), rows


def write_revision(versions: Path, rev: str, down: str, upgrade: str, downgrade: str) -> None:
    """A hand-written revision: ``upgrade`` and ``downgrade`` are their bodies."""
    source = (f'"""{rev}"""\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
              f"revision = {rev!r}\ndown_revision = {down!r}\nbranch_labels = None\n"
              "depends_on = None\n\n\ndef upgrade():\n" + textwrap.indent(upgrade, "    ")
              + "\n\ndef downgrade():\n" + textwrap.indent(downgrade, "    ") + "\n")
    (versions / f"{rev}.py").write_text(source)


def test_raptorflow_rehearsal_reads_only(pg: PgTestServer, fresh_db: str,
                                         project_dir: Path) -> None:
    command.upgrade(alembic_config(fresh_db), "0001_auth")
    with db(fresh_db) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO users (auth_sub, email) VALUES ('sub-a', 'a@example.com')")
    before, listed = snapshot(fresh_db), databases(pg)
    lines: list[str] = []
    report = rehearse(settings_for(ALEMBIC_INI, fresh_db, project_dir), on_progress=lines.append)
    assert report.passed, report_lines(report)
    assert report.from_revisions == ("0001_auth",)
    assert [r.revision for r in report.revisions] == ["0002_billing", "0003_intel",
                                                      "0004_production_indexes"]
    assert report.round_trip_same is True and report.down_restores is True
    assert report.copy.startswith(PREFIX) and report.method == "template"
    billing = report.revisions[0]
    assert set(billing.runs) == {"up", "down", "again"}
    # the billing tables reference organizations: a foreign key locks the existing table
    assert ("organizations", "ShareRowExclusiveLock") in {
        (lock.relation, lock.mode) for lock in billing.runs["up"].locks}
    # the tables it creates are nobody else's yet: no lock on them is reported
    assert "plans" not in {lock.relation for lock in billing.runs["up"].locks}
    assert "plans" in {lock.relation for lock in billing.runs["down"].locks}
    assert any(f.rule == "prefer-bigint-over-int" for f in billing.findings)
    assert snapshot(fresh_db) == before
    assert databases(pg) == listed
    assert any(line.startswith("down: 0002_billing") for line in lines)


def _rows_project(root: Path) -> Path:
    project = make_project(root, 1)
    write_revision(project.versions, "b_rows", project.ids[-1], textwrap.dedent("""\
        op.execute("INSERT INTO t_0001 (id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c')")
        op.execute("UPDATE t_0001 SET name = 'z' WHERE id = 3")
        op.add_column('t_0001', sa.Column('extra', sa.Text()))
        op.execute("SELECT pg_sleep(0.3)")  # the ACCESS EXCLUSIVE lock stays for a while
        """), textwrap.dedent("""\
        op.drop_column('t_0001', 'extra')
        op.execute("DELETE FROM t_0001 WHERE id IN (1, 2, 3)")
        """))
    return project.ini


def test_rows_and_locks_of_each_revision(pg: PgTestServer, fresh_db: str, tmp_path: Path,
                                         project_dir: Path) -> None:
    ini = _rows_project(tmp_path / "proj")
    settings = settings_for(ini, fresh_db, project_dir)
    from rfsetup.core import alembic as migrations

    migrations.upgrade(settings, "a00000000001", backup=False)
    before = snapshot(fresh_db)
    report = rehearse(settings)
    assert report.passed, report_lines(report)
    (rev,) = report.revisions
    up = rev.runs["up"]
    assert [(r.table, r.inserted, r.updated, r.deleted) for r in up.rows] == [
        ("public.t_0001", 3, 1, 0)]
    assert ("t_0001", "AccessExclusiveLock") in {(x.relation, x.mode) for x in up.locks}
    assert up.seconds >= 0.3
    down = rev.runs["down"]
    assert [(r.table, r.deleted) for r in down.rows] == [("public.t_0001", 3)]
    assert snapshot(fresh_db) == before


def test_a_downgrade_that_does_not_undo_its_upgrade(pg: PgTestServer, fresh_db: str,
                                                    tmp_path: Path, project_dir: Path) -> None:
    project = make_project(tmp_path / "proj", 1)
    write_revision(project.versions, "b_sloppy", project.ids[-1],
                   'op.execute("CREATE TABLE IF NOT EXISTS kept (a int)")',
                   'op.execute("ALTER TABLE kept ADD COLUMN leftover int")')
    settings = settings_for(project.ini, fresh_db, project_dir)
    listed = databases(pg)
    report = rehearse(settings)
    assert not report.passed
    assert report.failure is None
    assert report.round_trip_same is False and "leftover" in report.round_trip_diff
    assert report.down_restores is False and "kept" in report.down_diff
    text = "\n".join(report_lines(report))
    assert "differs from the schema after the first up" in text
    assert databases(pg) == listed


def test_a_failing_revision_is_a_finding_and_the_copy_goes(pg: PgTestServer, fresh_db: str,
                                                           tmp_path: Path,
                                                           project_dir: Path) -> None:
    project = make_project(tmp_path / "proj", 3, fail_at=2)
    settings = settings_for(project.ini, fresh_db, project_dir)
    before, listed = snapshot(fresh_db), databases(pg)
    report = rehearse(settings)
    assert not report.passed
    assert report.failure is not None and report.failure.kind == "rehearse_revision_failed"
    assert project.ids[1] in report.failure.message and "division by zero" in str(
        report.failure.cause)
    assert set(report.revisions[0].runs) == {"up"}
    assert report.revisions[1].runs["up"].error is not None
    assert report.round_trip_same is None
    assert snapshot(fresh_db) == before and databases(pg) == listed


def test_busy_source_is_copied_with_pg_dump(pg: PgTestServer, fresh_db: str,
                                            tmp_path: Path, project_dir: Path) -> None:
    project = make_project(tmp_path / "proj", 2)
    settings = settings_for(project.ini, fresh_db, project_dir)
    from rfsetup.core import alembic as migrations

    migrations.upgrade(settings, project.ids[0], backup=False)
    listed = databases(pg)
    with db(fresh_db):  # somebody else is connected: no template copy
        report = rehearse(settings)
    assert report.method == "dump" and report.passed, report_lines(report)
    assert databases(pg) == listed


@pytest.fixture
def role(pg: PgTestServer) -> tuple[str, str]:
    name, password = f"r_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    conn = pg.admin_connect()
    with conn.cursor() as cur:
        cur.execute(f"CREATE ROLE {name} LOGIN PASSWORD %s", (password,))
    conn.close()
    yield name, password
    for database in databases(pg):
        if database.startswith(f"own_{name}"):
            pg.drop_database(database)
    pg.drop_role(name)


def _owned_database(pg: PgTestServer, role: str, password: str) -> str:
    name = f"own_{role}"
    pg._admin_execute(psycopg2.sql.SQL("CREATE DATABASE {} OWNER {}").format(
        psycopg2.sql.Identifier(name), psycopg2.sql.Identifier(role)))
    return f"postgresql+psycopg2://{role}:{password}@127.0.0.1:{pg.port}/{name}"


def test_a_role_that_cannot_create_databases(pg: PgTestServer, role: tuple[str, str],
                                             tmp_path: Path, project_dir: Path) -> None:
    name, password = role
    url = _owned_database(pg, name, password)
    project = make_project(tmp_path / "proj", 2)
    settings = settings_for(project.ini, url, project_dir)
    listed = databases(pg)
    with pytest.raises(RfsetupError) as caught:
        rehearse(settings)
    assert caught.value.kind == "rehearse_needs_createdb" and caught.value.exit_code == 1
    assert f"ALTER ROLE {name} CREATEDB" in (caught.value.hint or "")
    assert "--admin-url" in (caught.value.hint or "")
    assert databases(pg) == listed
    # an admin makes (and drops) the copy; the migrations still run as the role
    report = rehearse(settings, admin_url=__import__("sqlalchemy").engine.make_url(
        pg.admin_url()))
    assert report.passed, report_lines(report)
    assert databases(pg) == listed


def test_a_createdb_role_copies_by_dump(pg: PgTestServer, role: tuple[str, str],
                                        tmp_path: Path, project_dir: Path) -> None:
    name, password = role
    pg._admin_execute(psycopg2.sql.SQL("ALTER ROLE {} CREATEDB").format(
        psycopg2.sql.Identifier(name)))
    url = _owned_database(pg, name, password)
    project = make_project(tmp_path / "proj", 2)
    settings = settings_for(project.ini, url, project_dir)
    listed = databases(pg)
    report = rehearse(settings, method="dump")
    assert report.method == "dump" and report.passed, report_lines(report)
    report = rehearse(settings, method="template")
    assert report.method == "template" and report.passed, report_lines(report)
    assert databases(pg) == listed


def test_nothing_pending_makes_no_copy(pg: PgTestServer, fresh_db: str, tmp_path: Path,
                                       project_dir: Path) -> None:
    project = make_project(tmp_path / "proj", 1)
    settings = settings_for(project.ini, fresh_db, project_dir)
    from rfsetup.core import alembic as migrations

    migrations.upgrade(settings, "head", backup=False)
    report = rehearse(settings)
    assert report.nothing_pending and report.passed and report.copy == ""
    assert "nothing to rehearse" in report_lines(report)[0]


def test_copy_names_say_what_they_are() -> None:
    name = copy_name("Raptor Flow-Prod " + "x" * 80)
    assert name.startswith(f"{PREFIX}raptor_flow_prod_x") and len(name.encode()) <= 63
    assert name != copy_name("Raptor Flow-Prod " + "x" * 80)
