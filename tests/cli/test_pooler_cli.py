"""The CLI behind a real PgBouncer in transaction mode: migrate up/down/stamp and backup restore
refuse it (exit 2, nothing done), status and doctor work and warn; in session mode all is well."""

from __future__ import annotations

import json
from pathlib import Path

from rfsetup.core import alembic as migrations
from rfsetup.core import backups
from tests.cli.conftest import Run
from tests.conftest import PgBouncer
from tests.helpers.alembic_project import make_project
from tests.helpers.db import query, settings_for, version


def test_moves_through_a_transaction_pooler_exit_2_with_nothing_done(
        run: Run, pgbouncer: PgBouncer, fresh_db: str, tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", 2)
    direct = settings_for(project.ini, fresh_db, tmp_path)
    migrations.upgrade(direct, project.ids[0], backup=False)
    dump = backups.create_backup(direct).path
    pooled = pgbouncer.url(fresh_db.rsplit("/", 1)[1], "transaction")
    for argv in (("migrate", "up"), ("migrate", "down", "--yes"),
                 ("migrate", "stamp", project.ids[1], "--yes"),
                 ("backup", "restore", str(dump), "--yes")):
        code, out, err = run(pooled, *argv, ini=project.ini)
        assert code == 2, (argv, err)
        assert "transaction mode" in err and "nothing was done" in err
        assert "hint: point DATABASE_URL for rfsetup at" in err
        assert "Running" not in out
    assert version(fresh_db) == (project.ids[0],)
    assert len(backups.list_backups(direct)) == 1
    assert query(fresh_db, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == [(0,)]


def test_status_and_doctor_work_through_it_and_warn(
        run: Run, pgbouncer: PgBouncer, fresh_db: str, tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", 1)
    name = fresh_db.rsplit("/", 1)[1]
    pooled = pgbouncer.url(name, "transaction")
    code, out, _ = run(pooled, "status", "--json", ini=project.ini)
    assert code == 0
    doc = json.loads(out)
    assert doc["database"]["reachable"] and doc["database"]["name"] == name
    assert doc["pooler"]["transaction_mode"] is True and doc["pooler"]["proxied"] is True
    assert "session mode" in doc["pooler"]["hint"]
    code, out, _ = run(pooled, "status", ini=project.ini)
    assert code == 0 and "pooler    warning: a connection pooler in transaction mode" in out
    code, out, _ = run(pooled, "doctor", "--json", ini=project.ini)
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert checks["postgresql"]["status"] == "ok"
    assert checks["pooler"]["status"] == "warn"
    assert "refuse it" in checks["pooler"]["detail"] and checks["pooler"]["remedy"]
    for url, detail in ((fresh_db, "direct connection"),
                        (pgbouncer.url(name, "session"), "session mode")):
        code, out, _ = run(url, "status", "--json", ini=project.ini)
        assert json.loads(out)["pooler"]["transaction_mode"] is False
        code, out, _ = run(url, "doctor", "--json", ini=project.ini)
        pooler = {c["name"]: c for c in json.loads(out)["checks"]}["pooler"]
        assert pooler["status"] == "ok" and detail in pooler["detail"]
