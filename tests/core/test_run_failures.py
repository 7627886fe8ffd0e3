"""What a failed run says, provoked for real: a failing downgrade, a backend terminated and a
server stopped mid-revision, plain Alembic migrating the same database meanwhile, and a
failure after --no-backup. Each message names the real cause, where the database is, and the
real next step."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rfsetup.core import alembic as migrations
from rfsetup.core.embedded import EmbeddedPostgres
from rfsetup.core.errors import ExitCode, RfsetupError
from tests.conftest import FAST
from tests.helpers.alembic_project import SyntheticProject, make_project
from tests.helpers.db import db, query, settings_for, tables, version


def _failing_downgrade(root: Path, revisions: int, at: int) -> SyntheticProject:
    """A project whose ``at``-th revision (1-based) fails in downgrade()."""
    project = make_project(root, revisions)
    rev = project.revisions[at - 1]
    path = next(project.versions.glob(f"{rev.id}_*.py"))
    path.write_text(path.read_text().replace(
        "def downgrade():\n", "def downgrade():\n    op.execute('SELECT 1 / 0')\n"))
    return project


def test_a_failed_downgrade_says_fix_downgrade_and_run_down_again(
        fresh_db: str, tmp_path: Path) -> None:
    project = _failing_downgrade(tmp_path / "p", 3, at=2)
    settings = settings_for(project.ini, fresh_db, tmp_path)
    migrations.upgrade(settings, backup=False)
    r1, r2, _ = project.ids
    with pytest.raises(RfsetupError) as info:
        migrations.downgrade(settings, "base")  # r3 -> r2 commits, r2 -> r1 fails
    err = info.value
    assert err.exit_code == ExitCode.FAILED
    assert f"revision {r2} (create t_0002) failed to downgrade" in err.message
    assert f"is at {r2}" in err.message and version(fresh_db) == (r2,)
    hint = err.hint or ""
    assert f"fix revision {r2}'s downgrade()" in hint
    # the absolute target: "down" alone would stop one step short of base
    assert "run rfsetup migrate down base again" in hint
    assert "migrate up" not in hint
    assert "the backup taken before the run: " in hint  # a backup was taken: its path
    with pytest.raises(RfsetupError) as relative:
        migrations.downgrade(settings, "-1", backup=False)
    assert f"run rfsetup migrate down {r1} again" in (relative.value.hint or "")
    assert "backup" not in (relative.value.hint or "")  # --no-backup: no backup to offer


def test_after_no_backup_no_backup_is_offered(fresh_db: str, tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", 3, fail_at=2)
    settings = settings_for(project.ini, fresh_db, tmp_path)
    with pytest.raises(RfsetupError) as bare:
        migrations.upgrade(settings, backup=False)
    assert "backup" not in (bare.value.hint or "")
    assert f"fix revision {project.ids[1]}'s upgrade() and run rfsetup migrate up again" in \
        (bare.value.hint or "")
    migrations.downgrade(settings, "base", backup=False)
    with pytest.raises(RfsetupError) as backed:
        migrations.upgrade(settings)
    taken = migrations_backups(settings)
    assert f"the backup taken before the run: {taken}" in (backed.value.hint or "")


def migrations_backups(settings) -> str:
    (path,) = sorted(settings.backups_dir.glob("*.dump"))
    return str(path)


def _run_in_thread(fn) -> tuple[threading.Thread, list[BaseException | object]]:
    outcome: list[BaseException | object] = []

    def target() -> None:
        try:
            outcome.append(fn())
        except BaseException as exc:  # the error under test
            outcome.append(exc)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    return worker, outcome


def _sleeping_backend(url: str, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while True:
        rows = query(url, "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query "
                          "LIKE 'SELECT pg_sleep%%' AND application_name LIKE 'rfsetup%%'")
        if rows:
            return int(rows[0][0])
        assert time.monotonic() < deadline, "the slow revision never started"
        time.sleep(0.05)  # polling the server for a state


def test_a_terminated_backend_is_a_lost_connection_with_the_revision_read_again(
        fresh_db: str, tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", 3, sleep_at=2, sleep_seconds=60)
    settings = settings_for(project.ini, fresh_db, tmp_path)
    worker, outcome = _run_in_thread(lambda: migrations.upgrade(settings, backup=False))
    backend = _sleeping_backend(fresh_db)
    assert query(fresh_db, "SELECT pg_terminate_backend(%s)", (backend,)) == [(True,)]
    worker.join(30)
    (err,) = outcome
    assert isinstance(err, RfsetupError) and err.exit_code == ExitCode.FAILED
    name = fresh_db.rsplit("/", 1)[1]
    assert "the connection to the server was lost" in err.message
    assert f"revision {project.ids[1]} (create t_0002)" in err.message
    # read again on a new connection: known, not "unknown"
    assert f"database {name} is at {project.ids[0]}" in err.message
    assert "rolled back" in err.message
    assert re.search("terminating connection|server closed the connection", err.cause or "")
    assert err.kind == "connection_lost"
    hint = err.hint or ""
    assert "pg_terminate_backend" in hint and "server's log" in hint
    assert "run rfsetup migrate up again" in hint and "fix revision" not in hint
    assert version(fresh_db) == (project.ids[0],) and tables(fresh_db) == {"t_0001"}


def test_a_server_that_stops_mid_run_leaves_the_revision_unknown(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "pg", server_settings=FAST)
    server.start()
    try:
        with db(server.url("postgres")) as admin, admin.cursor() as cur:
            cur.execute("CREATE DATABASE crashing")
        url = server.url("crashing")
        project = make_project(tmp_path / "p", 2, sleep_at=1, sleep_seconds=60)
        settings = settings_for(project.ini, url, tmp_path)
        worker, outcome = _run_in_thread(lambda: migrations.upgrade(settings, backup=False))
        _sleeping_backend(url)
        server.stop("immediate")  # what a crash looks like to a client
        worker.join(30)
        (err,) = outcome
        assert isinstance(err, RfsetupError)
        assert "the connection to the server was lost" in err.message
        assert "database crashing is at unknown (the server cannot be reached" in err.message
        hint = err.hint or ""
        assert "check that the server is up" in hint and "rfsetup status" in hint
        assert "fix revision" not in hint
        server.start()
        assert version(url) == () and tables(url) == set()  # it had not committed
    finally:
        server.destroy()


@pytest.mark.parametrize(("ddl", "cause"), [
    ("CREATE TABLE IF NOT EXISTS", "expected to match one row"),  # Alembic's own check
    ("CREATE TABLE", "already exists"),  # the same DDL, run first by the other tool
])
def test_plain_alembic_migrating_meanwhile_is_named(ddl: str, cause: str, fresh_db: str,
                                                    tmp_path: Path) -> None:
    """Another process runs Alembic's own command.upgrade on the same database while rfsetup
    runs the same revision: the version table moves under rfsetup."""
    project = make_project(tmp_path / "p", 2)
    rev = project.revisions[1]
    path = next(project.versions.glob(f"{rev.id}_*.py"))
    source = path.read_text()
    body = source[source.index("def upgrade():"):source.index("def downgrade():")]
    # rfsetup's session is slow in this revision, plain alembic's is not
    path.write_text(source.replace(body, (
        "def upgrade():\n"
        "    op.execute(\"SELECT pg_sleep(CASE WHEN current_setting('application_name') \"\n"
        "               \"LIKE 'rfsetup%' THEN 3 ELSE 0 END)\")\n"
        f"    op.execute('{ddl} {rev.table} (id bigint PRIMARY KEY)')\n"
        "\n\n")))
    settings = settings_for(project.ini, fresh_db, tmp_path)
    migrations.upgrade(settings, project.ids[0], backup=False)
    worker, outcome = _run_in_thread(lambda: migrations.upgrade(settings, backup=False))
    _sleeping_backend(fresh_db)
    # plain Alembic in another process, through its Python API: no rfsetup lock
    code = ("import sys; from alembic import command; from alembic.config import Config; "
            "cfg = Config(sys.argv[1]); cfg.attributes['database_url'] = sys.argv[2]; "
            "command.upgrade(cfg, 'head')")
    subprocess.run([sys.executable, "-c", code, str(project.ini), fresh_db], check=True,
                   capture_output=True, timeout=60)
    worker.join(60)
    (err,) = outcome
    assert isinstance(err, RfsetupError), err
    assert cause in (err.cause or "")
    assert "rolled back" in err.message and f"is at {project.ids[1]}" in err.message
    hint = err.hint or ""
    assert "another tool" in hint and "at the same time" in hint
    assert "fix revision" not in hint and "migrate up again" not in hint
    assert version(fresh_db) == (project.ids[1],)


def test_an_interrupt_hint_names_the_target_to_continue_to(fresh_db: str,
                                                           tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", 3, sleep_at=1, sleep_seconds=60)
    settings = settings_for(project.ini, fresh_db, tmp_path)
    target = project.ids[1]
    worker, outcome = _run_in_thread(lambda: migrations.upgrade(settings, target,
                                                                backup=False))
    backend = _sleeping_backend(fresh_db)
    assert query(fresh_db, "SELECT pg_cancel_backend(%s)", (backend,)) == [(True,)]
    worker.join(30)
    (err,) = outcome
    assert isinstance(err, RfsetupError) and err.exit_code == ExitCode.INTERRUPTED
    assert re.search(rf"run rfsetup migrate up {target} again to continue", err.hint or "")
    assert version(fresh_db) == ()
