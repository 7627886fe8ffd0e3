"""`rfsetup migrate recover [--stamp] [--yes] [--json]` after a real branch switch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rfsetup.core import alembic as migrations
from tests.core.test_recovery import Repo
from tests.helpers.db import db, settings_for, tables, version


def _switched(tmp_path: Path, url: str, cwd: Path) -> Repo:
    repo = Repo(tmp_path / "app")
    migrations.upgrade(settings_for(repo.project.ini, url, cwd), "head", backup=False)
    repo.switch("main")
    return repo


def test_text_json_and_stamp(run, fresh_db: str, tmp_path: Path, project_dir: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _switched(tmp_path, fresh_db, project_dir)
    ini = repo.project.ini
    code, out, _ = run(fresh_db, "status", ini=ini)
    assert "rfsetup migrate recover finds the branch that has it" in out
    code, out, _ = run(fresh_db, "migrate", "recover", ini=ini)
    assert code == 1
    assert "f4_payments is on branch feature/billing" in out
    assert "rfsetup migrate recover --stamp" in out
    code, out, _ = run(fresh_db, "migrate", "recover", "--json", ini=ini)
    doc = json.loads(out)
    assert code == 1 and doc["branch_switch"] and doc["stamp_target"] == repo.r2
    assert doc["homes"][0]["holders"][0]["name"] == "feature/billing"
    assert [r["revision"] for r in doc["left_behind"]] == ["f3_invoices", "f4_payments"]

    # no terminal and no --yes: nothing is stamped
    code, _, err = run(fresh_db, "migrate", "recover", "--stamp", ini=ini)
    assert code == 2 and "needs confirmation" in err
    assert version(fresh_db) == ("f4_payments",)
    # on production a stamp needs --force, as migrate stamp does (the guard)
    monkeypatch.setenv("RFSETUP_ENV", "production")
    code, _, err = run(fresh_db, "migrate", "recover", "--stamp", "--yes", ini=ini)
    assert code == 2 and "a stamp needs --force" in err
    assert version(fresh_db) == ("f4_payments",)
    monkeypatch.delenv("RFSETUP_ENV")

    code, out, err = run(fresh_db, "migrate", "recover", "--stamp", "--yes", ini=ini)
    assert code == 0, err
    assert version(fresh_db) == (repo.r2,)
    assert {"invoices", "payments"} <= tables(fresh_db)
    code, out, _ = run(fresh_db, "migrate", "recover", ini=ini)
    assert code == 0 and "nothing to recover" in out
    # --stamp with nothing to replace is refused
    code, _, err = run(fresh_db, "migrate", "recover", "--stamp", "--yes", ini=ini)
    assert code == 2 and "nothing was changed" in err


def test_half_applied_exit_1(run, fresh_db: str) -> None:
    code, _, _ = run(fresh_db, "migrate", "up", "--no-backup")
    assert code == 0
    code, out, _ = run(fresh_db, "migrate", "recover")
    assert code == 0 and "matches the models" in out
    with db(fresh_db) as conn, conn.cursor() as cur:
        cur.execute("DROP INDEX ix_indicators_value")
    code, out, _ = run(fresh_db, "migrate", "recover")
    assert code == 1 and "half-applied" in out
    assert "index ix_indicators_value on indicators: missing from the database" in out
