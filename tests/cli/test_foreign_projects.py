"""Any Alembic project, observed rather than assumed: projects made by Alembic's own templates,
with the hand edits real ones carry, migrated on DATABASE_URL's database with the truth told,
or refused with nothing changed anywhere."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from tests.cli.conftest import Run
from tests.conftest import PgTestServer
from tests.helpers.db import query
from tests.helpers.foreign import (
    TEMPLATES,
    alembic_current,
    make_foreign,
    relations,
    version_in,
)


@pytest.fixture
def two_dbs(pg: PgTestServer) -> Iterator[tuple[str, str]]:
    """Database A (DATABASE_URL) and database B (what the project's own config names)."""
    a, b = pg.create_database(), pg.create_database()
    yield pg.url(a), pg.url(b)
    pg.drop_database(a)
    pg.drop_database(b)


# -- the stock templates: DATABASE_URL is migrated, not the ini's database ------------------------
@pytest.mark.parametrize("template", TEMPLATES)
def test_stock_project_migrates_database_url_and_leaves_the_ini_database_alone(
        template: str, run: Run, two_dbs: tuple[str, str], tmp_path: Path,
        project_dir: Path) -> None:
    a, b = two_dbs
    project = make_foreign(tmp_path, template, b)
    code, out, err = run(a, "migrate", "up", ini=project.ini)
    assert code == 0, err
    assert f"to {project.head} (3 revisions)" in out
    assert version_in(a) == (project.head,) and {"a", "b"} <= relations(a)
    assert query(a, "SELECT count(*) FROM a")[0][0] == 100
    assert relations(b) == set()  # nothing in the database alembic.ini names
    # status tells what alembic current tells of that database
    code, out, _ = run(a, "status", "--json", ini=project.ini)
    doc = json.loads(out)
    assert code == 0 and set(doc["current"]) == alembic_current(project, a) == {project.head}
    assert doc["pending"] == 0 and doc["redis"] is None  # a generic project: no Redis
    # one step down, with a backup of A labelled with the revision it holds
    code, out, err = run(a, "migrate", "down", "--yes", ini=project.ini)
    assert code == 0, err
    assert version_in(a) == (project.revisions[1],) and "b" not in relations(a)
    assert relations(b) == set()
    dumps = sorted(p.name for p in (project_dir / ".rfsetup" / "backups").glob("*.dump"))
    assert len(dumps) == 2  # before the up (at base) and before the down (at the head)
    assert any(n.endswith("_base.dump") for n in dumps)
    assert any(n.endswith(f"_{project.head}.dump") for n in dumps)


# -- env.py that opens its own connection elsewhere: refused, nothing changed ---------------------
def test_env_py_reading_its_own_variable_is_refused_naming_both_targets(
        run: Run, two_dbs: tuple[str, str], tmp_path: Path, project_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = two_dbs
    project = make_foreign(tmp_path, "generic", b)
    project.edit_env('''    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )''', "    import os\n    from sqlalchemy import create_engine\n"
                     "    connectable = create_engine(os.environ['APP_DB_URL'], "
                     "poolclass=pool.NullPool)")
    monkeypatch.setenv("APP_DB_URL", b)
    for argv in (("migrate", "up"), ("migrate", "down", "--yes", "base"), ("status",),
                 ("migrate", "preview")):
        code, out, err = run(a, *argv, ini=project.ini)
        assert code == 2, (argv, out, err)
        assert "env.py migrates database " + b.rsplit("/", 1)[1] in out + err
        assert "rfsetup's target (DATABASE_URL) is database " + a.rsplit("/", 1)[1] in out + err
        assert "nothing was changed" in out + err
        assert "config.attributes.get('connection')" in out + err
    assert relations(a) == set() and relations(b) == set()
    assert not (project_dir / ".rfsetup" / "backups").exists()
    # the same variable naming the target is fine (and gets rfsetup's session settings)
    monkeypatch.setenv("APP_DB_URL", a)
    code, out, err = run(a, "migrate", "up", "--no-backup", ini=project.ini)
    assert code == 0, err
    assert version_in(a) == (project.head,) and relations(b) == set()


# -- the version table env.py names ---------------------------------------------------------------
def test_version_table_named_in_env_py_is_what_every_command_reads(
        run: Run, two_dbs: tuple[str, str], tmp_path: Path, project_dir: Path) -> None:
    a, b = two_dbs
    project = make_foreign(tmp_path, "generic", b)
    project.configure_with('version_table="alembic_version_x"')
    r1, r2, r3 = project.revisions
    assert run(a, "migrate", "up", r2, "--no-backup", ini=project.ini)[0] == 0
    assert version_in(a, "alembic_version_x") == (r2,) and version_in(a) == ()
    code, out, _ = run(a, "status", ini=project.ini)
    assert code == 0 and f"revision  {r2}" in out and "1 pending" in out
    code, out, _ = run(a, "migrate", "history", "--json", ini=project.ini)
    assert [i["revision"] for i in json.loads(out) if i["is_current"]] == [r2]
    code, out, _ = run(a, "migrate", "preview", ini=project.ini)
    assert code == 0 and f"from {r2} to {r3} (1 revision)" in out
    assert "UPDATE alembic_version_x SET version_num=" in out
    code, out, _ = run(a, "migrate", "preview", "--down", ini=project.ini)
    assert f"from {r2} to {r1}" in out
    code, out, err = run(a, "migrate", "down", "--yes", ini=project.ini)
    assert code == 0, err
    assert version_in(a, "alembic_version_x") == (r1,)
    (dump,) = (project_dir / ".rfsetup" / "backups").glob("*.dump")
    assert dump.name.endswith(f"_{r2}.dump")
    code, out, err = run(a, "migrate", "stamp", r3, "--yes", ini=project.ini)
    assert code == 0, err
    assert version_in(a, "alembic_version_x") == (r3,) and version_in(a) == ()


def test_env_py_configuring_the_context_twice_is_read_at_its_last_call(
        run: Run, two_dbs: tuple[str, str], tmp_path: Path) -> None:
    a, b = two_dbs
    project = make_foreign(tmp_path, "generic", b)
    project.edit_env("    with connectable.connect() as connection:\n",
                     "    with connectable.connect() as connection:\n"
                     "        context.configure(connection=connection)\n")
    project.configure_with('version_table="alembic_version_y"')
    assert run(a, "migrate", "up", "--no-backup", ini=project.ini)[0] == 0
    assert version_in(a, "alembic_version_y") == (project.head,) and version_in(a) == ()
    _code, out, _ = run(a, "status", "--json", ini=project.ini)
    assert json.loads(out)["current"] == [project.head]


def test_two_trees_in_one_database_each_read_their_own_version_table(
        run: Run, two_dbs: tuple[str, str], tmp_path: Path) -> None:
    a, b = two_dbs
    one = make_foreign(tmp_path / "one", "generic", b, bodies=("create_a",))
    two = make_foreign(tmp_path / "two", "generic", b, bodies=("create_a", "alter_a"))
    one.configure_with('version_table="version_one"')
    two.configure_with('version_table="version_two", include_schemas=False')
    # the second tree owns table a2 (rename in its files) so both can live in one database
    for path in two.versions.glob("*.py"):
        path.write_text(path.read_text().replace('"a"', '"a2"'))
    assert run(a, "migrate", "up", "--no-backup", ini=one.ini)[0] == 0
    assert run(a, "migrate", "up", two.revisions[0], "--no-backup", ini=two.ini)[0] == 0
    assert version_in(a, "version_one") == (one.head,)
    assert version_in(a, "version_two") == (two.revisions[0],)
    doc_one = json.loads(run(a, "status", "--json", ini=one.ini)[1])
    doc_two = json.loads(run(a, "status", "--json", ini=two.ini)[1])
    assert (doc_one["current"], doc_one["pending"]) == ([one.head], 0)
    assert (doc_two["current"], doc_two["pending"]) == ([two.revisions[0]], 1)


# -- transactions as env.py runs them -------------------------------------------------------------
def test_without_transaction_per_migration_a_failure_says_the_whole_run_was_rolled_back(
        run: Run, two_dbs: tuple[str, str], tmp_path: Path) -> None:
    a, b = two_dbs
    project = make_foreign(tmp_path, "generic", b, bodies=("create_a", "fill_a", "fails"))
    code, _out, err = run(a, "migrate", "up", "--no-backup", ini=project.ini)
    assert code == 1
    r1, r2, r3 = project.revisions
    assert f"revision {r3} (a revision that fails) failed to upgrade" in err
    assert f"the whole run was rolled back ({r1}, {r2}, {r3})" in err
    assert "is at base" in err
    assert relations(a) == set() or relations(a) == {"alembic_version"}
    assert version_in(a) == ()


def test_an_autocommit_block_commits_part_of_a_single_transaction_run_and_says_so(
        run: Run, two_dbs: tuple[str, str], tmp_path: Path) -> None:
    a, b = two_dbs
    project = make_foreign(tmp_path, "generic", b,
                       bodies=("create_a", "autocommit", "create_b", "fails"))
    code, _, err = run(a, "migrate", "up", "--no-backup", ini=project.ini)
    r1, r2, r3, r4 = project.revisions
    assert code == 1
    # r2's autocommit block committed r1 and built its index outside any transaction; r2's
    # own version update, r3 and r4 then shared the transaction that failed
    assert version_in(a) == (r1,)
    assert query(a, "SELECT to_regclass('ix_a_name') IS NOT NULL")[0][0]
    assert f"{r2}, {r3}, {r4} were rolled back together" in err
    assert f"but {r1} had already committed" in err and f"is at {r1}" in err
    assert f"what {r2} ran in an autocommit block stays applied" in err


def test_one_transaction_env_py_gets_no_false_transaction_nesting_finding(
        run: Run, two_dbs: tuple[str, str], tmp_path: Path) -> None:
    a, b = two_dbs
    project = make_foreign(tmp_path, "generic", b)
    code, out, _ = run(a, "migrate", "preview", "--lint", ini=project.ini)
    assert code == 0
    assert "ONE transaction" in out
    assert "transaction-nesting" not in out


# -- a revision with no offline SQL ---------------------------------------------------------------
def test_a_revision_that_queries_the_database_is_named_and_shown_as_python(
        run: Run, two_dbs: tuple[str, str], tmp_path: Path) -> None:
    a, b = two_dbs
    project = make_foreign(tmp_path, "generic", b,
                       bodies=("create_a", "fill_a", "create_b", "queries", "alter_a"))
    r4 = project.revisions[3]
    code, out, err = run(a, "migrate", "preview", ini=project.ini)
    assert code == 0, err
    assert f"revision {r4} (a note on b, counted from a) has no offline SQL" in out
    assert f"{r4}.py:" in out and "op.get_bind().execute" in out  # the file, line and call
    assert "--   def upgrade():" in out  # its Python in place of its SQL
    assert "CREATE TABLE b" in out and "ALTER TABLE a ADD COLUMN extra" in out  # the others
    assert run(a, "migrate", "up", "--no-backup", ini=project.ini)[0] == 0
    code, out, _ = run(a, "migrate", "preview", "--down", "-2", "--lint", ini=project.ini)
    assert code == 0 and "--   def downgrade():" in out and "DROP COLUMN extra" in out
    code, out, err = run(a, "migrate", "down", "-2", "--yes", "--no-backup", ini=project.ini)
    assert code == 0, err
    assert version_in(a) == (project.revisions[2],)


# -- session settings on the connection env.py opens itself ---------------------------------------
def test_lock_timeout_reaches_the_engine_env_py_builds_itself(
        run: Run, two_dbs: tuple[str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = two_dbs
    project = make_foreign(tmp_path, "generic", b, bodies=("create_a", "alter_a"))
    assert run(a, "migrate", "up", project.revisions[0], "--no-backup", ini=project.ini)[0] == 0
    monkeypatch.setenv("RFSETUP_LOCK_TIMEOUT", "1s")
    holder = psycopg2.connect(a.replace("postgresql+psycopg2://", "postgresql://", 1))
    try:
        with holder.cursor() as cur:
            cur.execute("LOCK TABLE a IN ACCESS SHARE MODE")  # blocks ALTER TABLE a
        result: dict[str, object] = {}
        worker = threading.Thread(target=lambda: result.update(
            out=run(a, "migrate", "up", "--no-backup", ini=project.ini)))
        worker.start()
        worker.join(timeout=30)
        assert not worker.is_alive(), "the ALTER TABLE waited past lock_timeout"
    finally:
        holder.rollback()
        holder.close()
    code, _, err = result["out"]  # type: ignore[misc]
    assert code == 1 and "lock timeout" in err
    assert version_in(a) == (project.revisions[0],)


# -- bad input ------------------------------------------------------------------------------------
def test_an_env_py_that_raises_is_one_message_naming_it(
        run: Run, two_dbs: tuple[str, str], tmp_path: Path) -> None:
    a, b = two_dbs
    project = make_foreign(tmp_path, "generic", b)
    project.edit_env("config = context.config\n",
                     "config = context.config\nraise RuntimeError('no settings module')\n")
    for argv in (("migrate", "up"), ("status",)):
        code, out, err = run(a, *argv, ini=project.ini)
        assert code == 2, (argv, out, err)
        assert f"{project.env_py} failed before any revision ran" in out + err
        assert "RuntimeError: no settings module" in out + err
    assert relations(a) == set()


def test_a_config_that_is_missing_is_bad_input_for_every_command(
        run: Run, fresh_db: str, tmp_path: Path) -> None:
    missing = tmp_path / "missing.ini"
    for argv in (("status",), ("status", "--json"), ("migrate", "history"),
                 ("migrate", "preview"), ("migrate", "up"), ("migrate", "down", "--yes"),
                 ("migrate", "stamp", "head", "--yes")):
        code, out, err = run(fresh_db, *argv, ini=missing)
        assert code == 2, (argv, out, err)
        assert f"no Alembic config at {missing}" in out + err


# -- RaptorFlow's profile stays out of other projects ---------------------------------------------
def test_doctor_on_another_project_with_a_reachable_database_is_all_green(
        run: Run, two_dbs: tuple[str, str], tmp_path: Path) -> None:
    a, b = two_dbs
    project = make_foreign(tmp_path, "generic", b)
    code, out, _err = run(a, "doctor", "--json", ini=project.ini)
    doc = json.loads(out)
    checks = {c["name"]: c for c in doc["checks"]}
    assert code == 0, [c for c in doc["checks"] if c["status"] != "ok"]
    assert "redis" not in checks  # neither the profile nor REDIS_URL asks for Redis
    assert all(c["status"] == "ok" for c in doc["checks"]), doc["checks"]
    assert "SUPABASE" not in out and "RAZORPAY" not in out


def test_env_show_on_another_project_lists_its_keys_not_the_guides(
        run: Run, two_dbs: tuple[str, str], tmp_path: Path, project_dir: Path) -> None:
    a, b = two_dbs
    project = make_foreign(tmp_path, "generic", b)
    (project_dir / ".env").write_text("DATABASE_URL=" + a + "\nSTRIPE_SK=sk_live_x\n")
    code, out, _ = run(a, "env", "show", "--json", ini=project.ini)
    doc = json.loads(out)
    assert code == 0 and doc["missing"] == []  # the guide's Supabase keys are not asked for
    assert doc["values"]["STRIPE_SK"].startswith("***")
    code, out, _ = run(a, "env", "show", ini=project.ini)
    assert "Supabase" not in out and "Razorpay" not in out
