"""What a move drops (rfsetup.core.alembic.impact): the SQL's statements sorted, and the drops
estimated from a real database's catalog after real rows were written and analysed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rfsetup.core import alembic as migrations
from rfsetup.core.alembic.impact import drops_in, rollback_impact
from rfsetup.core.alembic.statements import (
    changes_text,
    classify,
    split_statements,
    statements_of,
)
from tests.helpers.alembic_project import SyntheticProject, make_project, rev_id
from tests.helpers.db import query, settings_for


def test_statements_are_cut_outside_quotes_dollar_quotes_and_comments() -> None:
    sql = ("BEGIN;\n-- a comment; with a semicolon\nCREATE FUNCTION f() RETURNS int AS $body$ "
           "SELECT 1; $body$ LANGUAGE sql;\nINSERT INTO t VALUES ('a;b', \"c;d\");\n"
           "/* block; */ COMMIT;")
    assert split_statements(sql) == [
        "BEGIN;",
        "-- a comment; with a semicolon\nCREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; "
        "$body$ LANGUAGE sql;",
        "INSERT INTO t VALUES ('a;b', \"c;d\");",
        "/* block; */ COMMIT;"]


@pytest.mark.parametrize(("statement", "kind"), [
    ("BEGIN;", "transaction"), ("-- Running downgrade a -> b\n\nCOMMIT;", "transaction"),
    ("SET lock_timeout = '10s';", "setting"),
    ("UPDATE alembic_version SET version_num='a' WHERE alembic_version.version_num = 'b';",
     "bookkeeping"),
    ("DELETE FROM alembic_version WHERE alembic_version.version_num = 'a';", "bookkeeping"),
    ("INSERT INTO public.alembic_version (version_num) VALUES ('a');", "bookkeeping"),
    ("DELETE FROM alembic_version_archive;", "change"),
    ("DROP TABLE users;", "change"), ("-- only a comment", "comment"),
])
def test_bookkeeping_is_told_from_what_the_move_changes(statement: str, kind: str) -> None:
    assert classify(statement) == kind


def test_a_custom_version_table_is_bookkeeping_too() -> None:
    assert classify('UPDATE ops."Versions" SET v = 1;', 'ops.Versions') == "bookkeeping"
    assert classify("UPDATE alembic_version SET v = 1;", "ops.Versions") == "change"


@pytest.mark.parametrize(("statement", "drops"), [
    ('DROP TABLE IF EXISTS public."My Table", b CASCADE;',
     [("table", "public.My Table", "public.My Table"), ("table", "b", "b")]),
    ("ALTER TABLE users DROP COLUMN email, DROP CONSTRAINT uq, ALTER COLUMN a DROP DEFAULT, "
     'DROP "Odd, name" CASCADE;',
     [("column", "users.email", "users"), ("column", "users.Odd, name", "users")]),
    ("ALTER TABLE users DROP CONSTRAINT pk_users;", []),
    ("DROP INDEX CONCURRENTLY IF EXISTS ix_a;", [("index", "ix_a", None)]),
    ("DROP MATERIALIZED VIEW v;", [("materialized view", "v", None)]),
    ("DROP TRIGGER trg ON public.users;", [("trigger", "trg", "public.users")]),
    ("TRUNCATE TABLE a, b RESTART IDENTITY;", [("truncate", "a", "a"), ("truncate", "b", "b")]),
    ("DELETE FROM plans WHERE id = 'x';", [("delete", "plans", "plans")]),
    ("CREATE INDEX ix ON t (a);", []),
])
def test_what_a_statement_drops(statement: str, drops: list[tuple[str, str, str | None]]
                                ) -> None:
    assert drops_in(statement) == drops


COLUMN_REVISION = '''\
    """add t_0001.note

    Revision ID: {rev}
    Revises: {down}
    """
    import sqlalchemy as sa
    from alembic import op

    revision = {rev!r}
    down_revision = {down!r}
    branch_labels = None
    depends_on = None


    def upgrade():
        op.add_column("t_0001", sa.Column("note", sa.Text(), nullable=True))


    def downgrade():
        op.drop_column("t_0001", "note")
'''


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> SyntheticProject:
    project = make_project(tmp_path_factory.mktemp("impact") / "p", 3)
    rev = rev_id(90)
    (project.versions / f"{rev}_note.py").write_text(textwrap.dedent(COLUMN_REVISION).format(
        rev=rev, down=project.heads[0]))
    return project


def _with_rows(project: SyntheticProject, url: str, cwd: Path) -> object:
    settings = settings_for(project.ini, url, cwd)
    migrations.upgrade(settings, backup=False)
    query(url, "INSERT INTO t_0001 (name) SELECT 'a' FROM generate_series(1, 300);"
               "INSERT INTO t_0002 (name) SELECT 'b' FROM generate_series(1, 1210);"
               "INSERT INTO t_0003 (name) SELECT 'c' FROM generate_series(1, 4821);"
               "CREATE TABLE audit_log (id int); ANALYZE")
    return settings


def test_a_rollback_says_which_tables_and_columns_go_with_their_rows(
        project: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    settings = _with_rows(project, fresh_db, tmp_path)
    preview = migrations.preview(settings, project.ids[0], down=True)
    impact = rollback_impact(settings, preview)
    assert impact.headline() == "2 tables with ~6,031 rows and 1 column will be dropped"
    assert impact.rows_lost == 6031 + 300  # the column's values: every row of t_0001
    assert impact.summary() == ("2 tables with ~6,031 rows and 1 column will be dropped — the "
                                "largest: t_0003 ~4,821, t_0002 ~1,210, t_0001.note ~300")
    assert impact.details() == [
        "table t_0003  ~4,821 rows", "table t_0002  ~1,210 rows",
        "column t_0001.note  ~300 rows in its table"]
    # the statements that matter first; BEGIN/COMMIT and the version table counted below
    text = changes_text(statements_of(preview))
    assert text.splitlines()[0] == "-- 3 statements change the schema or data (3 revisions):"
    assert "ALTER TABLE t_0001 DROP COLUMN note;" in text
    assert "BEGIN" not in text.replace("(BEGIN/COMMIT", "") and "alembic_version" not in text
    assert query(fresh_db, "SELECT count(*) FROM t_0003") == [(4821,)]  # nothing ran


def test_a_rollback_to_base_states_the_data_lost(project: SyntheticProject, fresh_db: str,
                                                 tmp_path: Path) -> None:
    settings = _with_rows(project, fresh_db, tmp_path)
    impact = rollback_impact(settings, migrations.preview(settings, "base", down=True))
    assert impact.to_base
    assert impact.headline() == ("rollback to base: 3 tables with ~6,331 rows and 1 column "
                                 "will be dropped; all their data is lost; 1 other table stays")
    assert impact.kept_tables == ("audit_log",)


def test_an_upgrade_that_drops_nothing_says_so(project: SyntheticProject, fresh_db: str,
                                               tmp_path: Path) -> None:
    settings = settings_for(project.ini, fresh_db, tmp_path)
    impact = rollback_impact(settings, migrations.preview(settings, "head"))
    assert impact.dropped == () and impact.headline() == "no table or column is dropped"
