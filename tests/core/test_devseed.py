"""Dev fixtures on a real migrated database: every row passes the schema's constraints, a
second run adds nothing, --remove takes away exactly what was added (and keeps what others
depend on), a clash changes nothing, production and unmigrated databases are refused."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from rfsetup.cli import main
from rfsetup.core import alembic as migrations
from rfsetup.core import devseed
from rfsetup.core.errors import RfsetupError
from tests.conftest import ALEMBIC_INI
from tests.helpers.db import query, settings_for

TABLES = [table for table, _rows in devseed.load_fixtures()]
ORG = "de000000-0000-4000-8000-000000000001"


def _counts(url: str) -> dict[str, int]:
    return {t: int(query(url, f"SELECT count(*) FROM {t}")[0][0]) for t in TABLES}


def _everything(url: str) -> dict[str, list[str]]:
    """Every row of every fixture table, as text: what "nothing changed" compares."""
    return {t: sorted(str(r) for r in query(url, f"SELECT to_jsonb(x)::text FROM {t} x"))
            for t in TABLES}


@pytest.fixture
def migrated(fresh_db: str, project_dir: Path):
    settings = settings_for(ALEMBIC_INI, fresh_db, project_dir)
    migrations.upgrade(settings, backup=False)
    return settings


def test_fixtures_add_once_and_match_the_schema(migrated, fresh_db: str) -> None:
    report = devseed.seed_dev(migrated)
    assert report.changed and sum(report.added.values()) == 14
    counts = _counts(fresh_db)
    assert counts["organizations"] == counts["users"] == counts["memberships"] == 1
    assert counts["workspaces"] == counts["projects"] == counts["threat_actors"] == 1
    assert counts["campaigns"] == counts["vulnerabilities"] == 1
    types = {r[0] for r in query(fresh_db, "SELECT type FROM indicators")}
    assert types == {"ip", "domain", "url", "hash", "email"}
    assert query(fresh_db, "SELECT role::text FROM memberships")[0][0] == "owner"
    assert query(fresh_db, "SELECT cvss_score::text FROM vulnerabilities")[0][0] == "10.0"
    # the campaign and the report point at the sample indicators, the actor and the CVE
    assert query(fresh_db, "SELECT cardinality(indicator_ids) FROM campaigns")[0][0] == 5

    before = _everything(fresh_db)
    again = devseed.seed_dev(migrated)
    assert not again.changed and sum(again.kept.values()) == 14
    assert devseed.summary(again) == "nothing to add: all 14 dev fixture rows are there"
    assert _everything(fresh_db) == before


def test_remove_takes_away_exactly_the_fixtures(migrated, fresh_db: str) -> None:
    devseed.seed_dev(migrated)
    # rows the developer made since: one under the dev organisation, one elsewhere
    query(fresh_db, "INSERT INTO organizations (name, slug) VALUES ('Mine', 'mine')")
    query(fresh_db, "INSERT INTO indicators (org_id, type, value) VALUES (%s, 'ip', "
                    "'203.0.113.9')", (ORG,))
    removal = devseed.seed_dev(migrated, remove=True)
    assert isinstance(removal, devseed.DevRemoval)
    assert removal.removed["indicators"] == 5 and "organizations" not in removal.removed
    assert "1 indicators row(s) depend on it" in removal.kept["organizations"][0]
    assert query(fresh_db, "SELECT value FROM indicators") == [("203.0.113.9",)]
    assert sorted(r[0] for r in query(fresh_db, "SELECT slug FROM organizations")) == \
        ["mine", "raptorflow-dev"]

    query(fresh_db, "DELETE FROM indicators WHERE value = '203.0.113.9'")
    last = devseed.seed_dev(migrated, remove=True)
    assert last.removed == {"organizations": 1} and not last.kept
    assert query(fresh_db, "SELECT slug FROM organizations") == [("mine",)]
    assert devseed.summary(devseed.seed_dev(migrated, remove=True)) == \
        "nothing to remove: no dev fixture is in the database"


def test_a_clash_with_another_row_changes_nothing(migrated, fresh_db: str) -> None:
    query(fresh_db, "INSERT INTO organizations (name, slug) VALUES ('Taken', 'raptorflow-dev')")
    before = _everything(fresh_db)
    with pytest.raises(RfsetupError) as caught:
        devseed.seed_dev(migrated)
    assert caught.value.kind == "dev_seed_conflict"
    assert "nothing was changed" in caught.value.message
    assert "slug" in (caught.value.cause or "")
    assert _everything(fresh_db) == before


def test_refused_on_production_and_before_migrations(fresh_db: str, project_dir: Path) -> None:
    settings = settings_for(ALEMBIC_INI, fresh_db, project_dir)
    with pytest.raises(RfsetupError) as caught:
        devseed.seed_dev(settings)
    assert caught.value.kind == "not_migrated"
    migrations.upgrade(settings, backup=False)
    production = dataclasses.replace(settings, production="RFSETUP_ENV=production")
    for remove in (False, True):
        with pytest.raises(RfsetupError) as caught:
            devseed.seed_dev(production, remove=remove)
        assert caught.value.kind == "production_guard" and caught.value.exit_code == 2
    assert sum(_counts(fresh_db).values()) == 0


def test_the_cli(migrated, fresh_db: str, monkeypatch: pytest.MonkeyPatch,
                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", fresh_db)
    assert main(["-c", str(ALEMBIC_INI), "seed", "--dev"]) == 0
    assert capsys.readouterr().out.startswith("added: organizations 1, users 1")
    assert main(["-c", str(ALEMBIC_INI), "seed", "--dev", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["changed"] is False and doc["already_there"]["indicators"] == 5
    assert main(["-c", str(ALEMBIC_INI), "seed", "--remove"]) == 2
    assert "--remove goes with --dev" in capsys.readouterr().err
    monkeypatch.setenv("RFSETUP_ENV", "production")
    assert main(["-c", str(ALEMBIC_INI), "seed", "--dev", "--remove"]) == 2
    assert "dev fixtures are never written there" in capsys.readouterr().err
    monkeypatch.delenv("RFSETUP_ENV")
    assert main(["-c", str(ALEMBIC_INI), "seed", "--dev", "--remove"]) == 0
    assert capsys.readouterr().out.startswith("removed: threat_reports 1")
    assert sum(_counts(fresh_db).values()) == 0
