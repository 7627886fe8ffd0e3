"""rfsetup.core.migrations on RaptorFlow's own revisions (alembic/versions), real server."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from rfsetup.core import alembic as migrations
from tests.conftest import ALEMBIC_INI
from tests.helpers.db import catalog, settings_for, tables, version

REVISIONS = ["0001_auth", "0002_billing", "0003_intel", "0004_production_indexes"]
GUIDE_TABLES = {"users", "organizations", "memberships", "workspaces", "plans", "subscriptions",
                "payments", "ledger_entries", "invoices", "projects", "indicators",
                "threat_actors", "campaigns", "vulnerabilities", "threat_reports"}


def test_all_the_way_up_and_down_and_up_again(fresh_db: str, tmp_path: Path) -> None:
    settings = settings_for(ALEMBIC_INI, fresh_db, tmp_path)
    assert migrations.heads(settings) == [REVISIONS[-1]]
    up = migrations.upgrade(settings, backup=False)
    assert up.applied == REVISIONS
    assert tables(fresh_db) == GUIDE_TABLES
    at_head = catalog(fresh_db)

    down = migrations.downgrade(settings, "base", backup=False)
    assert down.applied == REVISIONS[::-1]
    assert version(fresh_db) == () and tables(fresh_db) == set()

    again = migrations.upgrade(settings, backup=False)
    assert again.applied == REVISIONS
    assert catalog(fresh_db) == at_head  # every downgrade undid exactly its upgrade


def test_preview_matches_the_run_including_concurrent_indexes(fresh_db: str,
                                                              tmp_path: Path) -> None:
    settings = settings_for(ALEMBIC_INI, fresh_db, tmp_path)
    migrations.upgrade(settings, "0003", backup=False)  # a partial id, resolved by Alembic
    assert version(fresh_db) == ("0003_intel",)
    before = catalog(fresh_db)
    p = migrations.preview(settings)
    assert catalog(fresh_db) == before
    assert [s.revision for s in p.steps] == ["0004_production_indexes"]
    # CONCURRENTLY cannot run in a transaction: Alembic's autocommit block ends it first
    sql = p.steps[0].sql
    assert sql.index("COMMIT;") < sql.index("CREATE INDEX CONCURRENTLY ix_indicators_value")

    lines: list[str] = []
    result = migrations.upgrade(settings, backup=False, on_progress=lines.append)
    assert result.applied == ["0004_production_indexes"]
    after = catalog(fresh_db) - before
    assert {name for _schema, name, kind in after if kind == "i"} == {
        "ix_indicators_value", "ix_indicators_type_org_id", "ix_projects_archived_org_id",
        "ix_threat_actors_name"}


def test_cancel_after_the_first_revision(fresh_db: str, tmp_path: Path) -> None:
    cancel = threading.Event()

    def progress(line: str) -> None:
        if line.startswith("Running upgrade"):
            cancel.set()

    result = migrations.upgrade(settings_for(ALEMBIC_INI, fresh_db, tmp_path), backup=False,
                                on_progress=progress, cancel=cancel)
    assert result.cancelled and result.applied == ["0001_auth"]
    assert version(fresh_db) == ("0001_auth",)
    assert tables(fresh_db) == {"users", "organizations", "memberships", "workspaces"}


@pytest.mark.parametrize("down", [False, True])
def test_lint_on_the_real_revisions(fresh_db: str, tmp_path: Path, down: bool) -> None:
    settings = settings_for(ALEMBIC_INI, fresh_db, tmp_path)
    if down:
        migrations.upgrade(settings, backup=False)
    p = migrations.preview(settings, "base" if down else None, down=down)
    findings = migrations.lint(p)
    assert {f.revision for f in findings} <= set(REVISIONS)
    rules = {f.rule for f in findings}
    if down:
        assert "ban-drop-table" in rules
    else:
        assert "require-concurrent-index-creation" not in rules  # 0004 builds them CONCURRENTLY
