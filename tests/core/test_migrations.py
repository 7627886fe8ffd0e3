"""rfsetup.core.migrations against synthetic Alembic projects on the real embedded PostgreSQL.

Synthetic projects (tests/helpers/alembic_project.py) stand for "any Alembic project": linear,
branched with merges, two open heads, a failing revision, a revision that records its session.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rfsetup.core import alembic as migrations
from rfsetup.core import locking
from rfsetup.core.alembic.squawk import TIMEOUT_RULES
from rfsetup.core.errors import ExitCode, RfsetupError
from rfsetup.core.settings import load_settings
from tests.helpers.alembic_project import SESSION_TABLE, SyntheticProject, make_project
from tests.helpers.db import catalog, db, query, settings_for, tables, version


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SyntheticProject]:
    root = tmp_path_factory.mktemp("projects")
    return {
        "linear": make_project(root / "linear", 3, record_at=2),
        "branched": make_project(root / "branched", 7, branch_every=3),
        "two_heads": make_project(root / "two_heads", 3, open_heads=2),
        "failing": make_project(root / "failing", 4, fail_at=3),
    }


@pytest.fixture
def linear(projects: dict[str, SyntheticProject]) -> SyntheticProject:
    return projects["linear"]


@pytest.fixture
def branched(projects: dict[str, SyntheticProject]) -> SyntheticProject:
    return projects["branched"]


def _settings(project: SyntheticProject, url: str, tmp_path: Path):
    return settings_for(project.ini, url, tmp_path)


# -- history ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def branched_db_at_branch(pg, projects) -> Iterator[str]:
    """A database (read-only for its tests) at the left side of the branched project's split."""
    project = projects["branched"]
    name = pg.create_database()
    url = pg.url(name)
    left = project.revisions[3].id  # t_0004: first child of the branch point t_0003
    migrations.upgrade(settings_for(project.ini, url, project.root), left, backup=False)
    yield url
    pg.drop_database(name)


def test_history_marks_heads_branch_points_merges_and_current(
        branched: SyntheticProject, branched_db_at_branch: str, tmp_path: Path) -> None:
    infos = migrations.history(_settings(branched, branched_db_at_branch, tmp_path))
    by_id = {i.revision: i for i in infos}
    assert set(by_id) == set(branched.ids)
    assert [i.revision for i in infos if i.is_head] == branched.heads
    branch_points = {r.id for r in branched.revisions
                     if sum(r.id in o.down for o in branched.revisions) > 1}
    merges = {r.id for r in branched.revisions if len(r.down) > 1}
    assert branch_points and merges
    assert {i.revision for i in infos if i.is_branch_point} == branch_points
    assert {i.revision for i in infos if i.is_merge} == merges
    current = version(branched_db_at_branch)
    assert {i.revision for i in infos if i.is_current} == set(current)
    assert {i.revision for i in infos if i.is_applied} == branched.ancestors(current[0])
    for info in infos:
        assert info.down_revisions == branched.by_id(info.revision).down
        assert info.message == branched.by_id(info.revision).message
    # newest first: every revision comes before its parents
    order = [i.revision for i in infos]
    for info in infos:
        for parent in info.down_revisions:
            assert order.index(parent) > order.index(info.revision)
    assert set(infos[0].to_json()) >= {"revision", "down_revisions", "message", "is_head",
                                       "is_current", "is_branch_point", "is_merge"}


def test_history_with_given_current_does_not_need_the_database(
        branched: SyntheticProject, tmp_path: Path) -> None:
    settings = _settings(branched, "postgresql://nobody@127.0.0.1:1/none", tmp_path)
    infos = migrations.history(settings, current=[branched.heads[0]])
    assert all(i.is_applied for i in infos)
    assert [i.revision for i in infos if i.is_current] == branched.heads


def test_history_of_an_unreachable_database_is_a_connect_error(
        linear: SyntheticProject, tmp_path: Path) -> None:
    from rfsetup.core.embedded import free_port

    settings = _settings(linear, f"postgresql://u:secretpw@127.0.0.1:{free_port()}/x", tmp_path)
    with pytest.raises(RfsetupError) as info:
        migrations.history(settings)
    assert info.value.exit_code == ExitCode.CONNECT
    assert "secretpw" not in f"{info.value.message}{info.value.hint}{info.value.cause}"


def test_heads_and_script_directory_cache(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", 2)
    settings = _settings(project, "postgresql://u@127.0.0.1:1/x", tmp_path)
    first = migrations.load(settings).script
    assert migrations.load(settings).script is first
    assert migrations.heads(settings) == project.heads
    # a new revision file on disk invalidates the cache
    from tests.helpers.alembic_project import Revision, rev_id

    project.add(Revision(rev_id(99), (project.heads[0],), "create t_0099", "t_0099"))
    again = migrations.load(settings).script
    assert again is not first
    assert migrations.heads(settings) == [rev_id(99)]


def test_missing_alembic_ini_is_bad_input(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "nope.ini", "postgresql://u@h/db", tmp_path)
    with pytest.raises(RfsetupError) as info:
        migrations.history(settings, current=())
    assert info.value.exit_code == ExitCode.USAGE
    assert "nope.ini" in info.value.message


def test_broken_revision_file_is_named(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", 2)
    (project.versions / "zz_broken.py").write_text("revision = 'zz'\ndown_revision = (\n")
    settings = _settings(project, "postgresql://u@h/db", tmp_path)
    with pytest.raises(RfsetupError) as info:
        migrations.history(settings, current=())
    assert info.value.kind == "scripts_broken"
    assert "SyntaxError" in (info.value.cause or "")


# -- preview ---------------------------------------------------------------------------------------
_DDL = re.compile(r"^\s*(CREATE|ALTER|DROP)\b", re.IGNORECASE)


def _ddl(statements: list[str]) -> list[str]:
    """The DDL among statements, comments dropped and whitespace normalised."""
    out = []
    for statement in statements:
        text = " ".join(ln for ln in statement.splitlines() if not ln.lstrip().startswith("--"))
        text = " ".join(text.split())
        if _DDL.match(text) and "alembic_version" not in text:
            out.append(text)
    return out


def test_preview_changes_nothing_and_matches_what_up_runs(
        branched: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    settings = _settings(branched, fresh_db, tmp_path)
    first = branched.ids[0]
    migrations.upgrade(settings, first, backup=False)
    before = catalog(fresh_db)

    p = migrations.preview(settings)
    assert catalog(fresh_db) == before, "preview changed the database"
    assert version(fresh_db) == (first,)
    assert p.direction == "up"
    assert p.from_revisions == (first,)
    assert p.target == branched.heads[0]
    assert {s.revision for s in p.steps} == set(branched.ids) - {first}
    assert "".join(s.sql for s in p.steps) == p.sql
    for step in p.steps:
        assert f"-> {step.revision}" in step.sql  # each step holds its own revision's SQL

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    executed: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        executed.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        result = migrations.upgrade(settings, backup=False)
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    assert result.applied == [s.revision for s in p.steps]
    previewed = _ddl([s.rstrip(";") for s in p.sql.split(";\n")])
    assert previewed, "the preview holds the DDL"
    assert _ddl(executed) == previewed


def test_preview_starts_at_the_database_revision_up_and_down(
        linear: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    settings = _settings(linear, fresh_db, tmp_path)
    r1, r2, r3 = linear.ids
    migrations.upgrade(settings, r2, backup=False)

    up = migrations.preview(settings)
    assert [s.revision for s in up.steps] == [r3]
    assert "CREATE TABLE t_0003" in up.sql and "t_0002" not in up.sql

    down = migrations.preview(settings, down=True)
    assert down.direction == "down" and down.target == r1
    assert [s.revision for s in down.steps] == [r2]
    assert "DROP TABLE t_0002" in down.sql

    base = migrations.preview(settings, "base", down=True)
    assert [s.revision for s in base.steps] == [r2, r1]
    assert base.target == "base"

    relative = migrations.preview(settings, "+1")  # relative to the database's revision
    assert [s.revision for s in relative.steps] == [r3] and relative.target == r3

    same = migrations.preview(settings, r2)
    assert same.steps == [] and same.sql == ""
    assert version(fresh_db) == (r2,)


def test_preview_of_an_unknown_target_is_bad_input(
        linear: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    with pytest.raises(RfsetupError) as info:
        migrations.preview(_settings(linear, fresh_db, tmp_path), "doesnotexist")
    assert info.value.exit_code == ExitCode.USAGE
    assert "doesnotexist" in info.value.message


def test_lint_attributes_squawk_findings_to_revisions(
        linear: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    p = migrations.preview(_settings(linear, fresh_db, tmp_path))
    findings = migrations.lint(p)
    assert findings
    assert {f.revision for f in findings} <= set(linear.ids)
    rules = {f.rule for f in findings}
    assert "prefer-identity" in rules  # the synthetic tables use serial ids
    # rfsetup sets lock_timeout and statement_timeout on every connection of a run, so
    # squawk's missing-timeout rules would be false alarms (CREATE INDEX on an existing table)
    assert not rules & set(TIMEOUT_RULES)
    for f in findings:
        assert f.line is not None and f.line >= 1
        assert "alembic_version" not in p.steps[linear.ids.index(f.revision)].sql.splitlines()[
            f.line - 1]


# -- upgrade / downgrade ---------------------------------------------------------------------------
def test_upgrade_runs_each_revision_streams_progress_and_backs_up_first(
        linear: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    settings = _settings(linear, fresh_db, tmp_path)
    lines: list[str] = []
    result = migrations.upgrade(settings, on_progress=lines.append)
    assert result.applied == linear.ids
    assert result.from_revisions == () and result.to_revisions == tuple(linear.heads)
    assert version(fresh_db) == tuple(linear.heads)
    assert tables(fresh_db) == linear.tables_at(*linear.heads)
    assert lines[0] == "migration lock acquired"
    assert lines[1].startswith("taking a backup of database ")
    assert lines[2].startswith("backup written to ")
    running = [ln for ln in lines if ln.startswith("Running upgrade")]
    assert [ln.split("-> ")[1].split(",")[0] for ln in running] == linear.ids
    assert result.log.splitlines()[: len(lines)] == lines
    assert result.backup is not None and result.backup.path.is_file()
    assert result.backup.revision is None  # taken before anything ran: at base
    assert result.backup.path.parent == tmp_path / ".rfsetup" / "backups"

    again = migrations.upgrade(settings)
    assert again.applied == [] and again.backup is None
    assert "nothing to do" in again.log


def test_upgrade_session_has_timeouts_and_a_telling_application_name(
        linear: SyntheticProject, fresh_db: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    migrations.upgrade(settings_for(linear.ini, fresh_db, tmp_path, **{
        locking.ENV_LOCK_TIMEOUT: "1500ms", locking.ENV_STATEMENT_TIMEOUT: "7min"}),
        backup=False)
    lock_timeout, statement_timeout, app, _pid = query(
        fresh_db, f"SELECT * FROM {SESSION_TABLE}")[0]
    assert lock_timeout == "1500ms"
    assert statement_timeout == "7min"
    assert re.fullmatch(r"rfsetup migrate \(.+@.+ pid \d+\)", str(app))


def test_bad_timeout_values_are_bad_input(
        linear: SyntheticProject, fresh_db: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RfsetupError) as info:
        migrations.upgrade(settings_for(linear.ini, fresh_db, tmp_path, **{
            locking.ENV_LOCK_TIMEOUT: "ten seconds"}), backup=False)
    assert info.value.exit_code == ExitCode.USAGE
    assert locking.ENV_LOCK_TIMEOUT in info.value.message
    assert version(fresh_db) == ()


def test_upgrade_through_branches_and_merges_then_down_one_step(
        branched: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    settings = _settings(branched, fresh_db, tmp_path)
    result = migrations.upgrade(settings, backup=False)
    assert sorted(result.applied) == sorted(branched.ids)
    assert tables(fresh_db) == branched.tables_at(*branched.heads)

    down = migrations.downgrade(settings, backup=False)
    head = branched.by_id(branched.heads[0])
    assert down.applied == [head.id]
    assert down.to_revisions == head.down == version(fresh_db)
    assert tables(fresh_db) == branched.tables_at(*head.down)


def test_downgrade_backs_up_first_and_at_base_does_nothing(
        linear: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    settings = _settings(linear, fresh_db, tmp_path)
    migrations.upgrade(settings, linear.ids[0], backup=False)
    result = migrations.downgrade(settings)
    assert result.backup is not None and result.backup.revision == linear.ids[0]
    assert version(fresh_db) == () and tables(fresh_db) == set()
    nothing = migrations.downgrade(settings)
    assert nothing.applied == [] and nothing.backup is None


def test_failing_revision_leaves_the_last_good_one_and_names_both(
        projects: dict[str, SyntheticProject], fresh_db: str, tmp_path: Path) -> None:
    project = projects["failing"]
    settings = _settings(project, fresh_db, tmp_path)
    lines: list[str] = []
    with pytest.raises(RfsetupError) as info:
        migrations.upgrade(settings, backup=False, on_progress=lines.append)
    err = info.value
    bad, good = project.ids[2], project.ids[1]
    assert err.exit_code == ExitCode.FAILED and err.kind == "migration_failed"
    assert bad in err.message and f"is at {good}" in err.message
    assert "division by zero" in (err.cause or "")
    assert version(fresh_db) == (good,)
    assert tables(fresh_db) == project.tables_at(good)  # the failed revision's table rolled back
    assert any(ln.startswith("Running upgrade") and bad in ln for ln in lines)


def test_lock_timeout_fails_the_revision_that_waits(
        linear: SyntheticProject, fresh_db: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(linear, fresh_db, tmp_path)
    first = linear.ids[0]
    migrations.upgrade(settings, first, backup=False)
    settings = dataclasses.replace(settings, lock_timeout="200ms")
    with db(fresh_db) as other:
        other.autocommit = False
        with other.cursor() as cur:  # someone holds the version table (as a long query would)
            cur.execute("LOCK TABLE alembic_version IN SHARE MODE")  # reads pass, writes wait
        with pytest.raises(RfsetupError) as info:
            migrations.upgrade(settings, linear.ids[1], backup=False)
        other.rollback()
        with other.cursor() as cur:  # now even reading the revision has to wait
            cur.execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(RfsetupError) as unreadable:
            migrations.upgrade(settings, linear.ids[1], backup=False)
        other.rollback()
    assert unreadable.value.kind == "version_unreadable"
    assert "lock timeout" in (unreadable.value.cause or "")
    err = info.value
    assert linear.ids[1] in err.message and f"is at {first}" in err.message
    assert "lock timeout" in (err.cause or "")
    assert locking.ENV_LOCK_TIMEOUT in (err.hint or "")
    assert version(fresh_db) == (first,)


def test_cancel_stops_at_a_revision_boundary(
        linear: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    cancel = threading.Event()

    def progress(line: str) -> None:
        if line.startswith("Running upgrade"):
            cancel.set()  # asked while the first revision runs

    result = migrations.upgrade(_settings(linear, fresh_db, tmp_path), backup=False,
                                on_progress=progress, cancel=cancel)
    assert result.cancelled
    assert result.applied == [linear.ids[0]]
    assert version(fresh_db) == (linear.ids[0],) == result.to_revisions


def test_multiple_heads_are_named(
        projects: dict[str, SyntheticProject], fresh_db: str, tmp_path: Path) -> None:
    project = projects["two_heads"]
    settings = _settings(project, fresh_db, tmp_path)
    assert len(project.heads) == 2
    for call in (lambda: migrations.upgrade(settings, backup=False),
                 lambda: migrations.preview(settings)):
        with pytest.raises(RfsetupError) as info:
            call()
        assert info.value.exit_code == ExitCode.USAGE
        assert all(h in info.value.message for h in project.heads)
        assert "heads" in (info.value.hint or "") and "merge" in (info.value.hint or "")
    assert version(fresh_db) == ()
    result = migrations.upgrade(settings, "heads", backup=False)
    assert set(result.to_revisions) == set(project.heads) == set(version(fresh_db))
    infos = migrations.history(settings)
    assert sorted(i.revision for i in infos if i.is_current) == sorted(project.heads)


def test_unknown_target_and_unknown_database_revision(
        linear: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    settings = _settings(linear, fresh_db, tmp_path)
    with pytest.raises(RfsetupError) as info:
        migrations.upgrade(settings, "nosuchrev", backup=False)
    assert info.value.exit_code == ExitCode.USAGE
    assert version(fresh_db) == ()

    migrations.stamp(settings, linear.ids[0])
    query(fresh_db, "UPDATE alembic_version SET version_num = 'feedface0000'")
    with pytest.raises(RfsetupError) as info:
        migrations.upgrade(settings, backup=False)
    assert info.value.kind == "unknown_revision"
    assert "feedface0000" in info.value.message and "stamp" in (info.value.hint or "")
    # stamp repairs exactly that (the unknown row is replaced)
    result = migrations.stamp(settings, linear.ids[0])
    assert version(fresh_db) == (linear.ids[0],) == result.to_revisions


def test_stamp_records_without_running(
        linear: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    settings = _settings(linear, fresh_db, tmp_path)
    result = migrations.stamp(settings, "head")
    assert result.to_revisions == tuple(linear.heads) == version(fresh_db)
    assert result.applied == [] and tables(fresh_db) == set()
    back = migrations.stamp(settings, "base")
    assert back.to_revisions == () == version(fresh_db)
    with pytest.raises(RfsetupError) as info:
        migrations.stamp(settings, "nosuchrev")
    assert info.value.exit_code == ExitCode.USAGE


# -- the migration lock ----------------------------------------------------------------------------
@pytest.fixture
def holder(fresh_db: str) -> Iterator[tuple[int, str]]:
    """Another session holding the migration lock, named like a colleague's tool."""
    import psycopg2

    from tests.helpers.db import libpq

    conn = psycopg2.connect(libpq(fresh_db), application_name="on-call laptop")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s), pg_backend_pid()", (locking.lock_key(),))
        pid = cur.fetchone()[1]
    yield pid, "on-call laptop"
    conn.close()


def test_a_second_runner_exits_naming_who_holds_the_lock(
        linear: SyntheticProject, fresh_db: str, holder: tuple[int, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    lines: list[str] = []
    with pytest.raises(RfsetupError) as info:
        migrations.upgrade(settings_for(linear.ini, fresh_db, tmp_path, RFSETUP_LOCK_WAIT="0.3"),
                           on_progress=lines.append)
    err = info.value
    pid, app = holder
    assert err.kind == "locked" and err.exit_code == ExitCode.FAILED
    assert f"pid {pid}" in err.message and app in err.message
    assert "postgres" in err.message and "127.0.0.1" in err.message
    assert f"pg_terminate_backend({pid})" in (err.hint or "")
    assert any("waiting up to 0.3s" in ln and app in ln for ln in lines)
    assert version(fresh_db) == ()
    assert not (tmp_path / ".rfsetup" / "backups").exists()  # no backup before the lock


def test_a_waiting_runner_proceeds_when_the_lock_is_released(
        linear: SyntheticProject, fresh_db: str, tmp_path: Path) -> None:
    import psycopg2

    from tests.helpers.db import libpq

    conn = psycopg2.connect(libpq(fresh_db))
    conn.autocommit = True
    conn.cursor().execute("SELECT pg_advisory_lock(%s)", (locking.lock_key(),))
    lines: list[str] = []

    def progress(line: str) -> None:
        lines.append(line)
        if line.startswith("waiting"):
            conn.close()  # the other session finishes while we wait

    result = migrations.upgrade(_settings(linear, fresh_db, tmp_path), backup=False,
                                on_progress=progress)
    assert result.applied == linear.ids
    assert [ln for ln in lines if "lock" in ln][-1] == "migration lock acquired"


@pytest.mark.parametrize("env", [locking.ENV_LOCK_WAIT, locking.ENV_LOCK_TIMEOUT,
                                 locking.ENV_STATEMENT_TIMEOUT])
def test_lock_settings_are_validated_on_load(env: str, tmp_path: Path) -> None:
    with pytest.raises(RfsetupError) as info:
        load_settings(None, tmp_path / "alembic.ini", environ={env: "soon"}, cwd=tmp_path)
    assert info.value.exit_code == ExitCode.USAGE and env in info.value.message
    loaded = load_settings(None, tmp_path / "alembic.ini", cwd=tmp_path, environ={
        locking.ENV_LOCK_WAIT: "0", locking.ENV_LOCK_TIMEOUT: "2 s",
        locking.ENV_STATEMENT_TIMEOUT: "1h"})
    assert (loaded.lock_wait, loaded.lock_timeout, loaded.statement_timeout) == (0, "2s", "1h")


def test_lock_is_released_after_a_failure(
        projects: dict[str, SyntheticProject], fresh_db: str, tmp_path: Path) -> None:
    settings = _settings(projects["failing"], fresh_db, tmp_path)
    with pytest.raises(RfsetupError):
        migrations.upgrade(settings, backup=False)
    with db(fresh_db) as conn:
        assert locking.try_lock(conn)  # nobody holds it any more


def test_copies_of_the_project_share_nothing(tmp_path: Path, linear: SyntheticProject) -> None:
    """The ScriptDirectory cache is keyed by location: a copy elsewhere is loaded on its own."""
    copy = tmp_path / "copy"
    shutil.copytree(linear.root, copy)
    a = migrations.load(settings_for(linear.ini, "postgresql://u@h/d", tmp_path)).script
    b = migrations.load(settings_for(copy / "alembic.ini", "postgresql://u@h/d", tmp_path)).script
    assert a is not b and a.get_heads() == b.get_heads()
