"""`rfsetup backup create | list [--json] | restore FILE [--yes]` on the real PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rfsetup.core import alembic as migrations
from rfsetup.core.embedded import free_port
from tests.conftest import ALEMBIC_INI
from tests.helpers.db import settings_for, tables, version


def test_create_list_and_json(run, fresh_db: str, project_dir: Path) -> None:
    migrations.upgrade(settings_for(ALEMBIC_INI, fresh_db, project_dir), "0002_billing",
                       backup=False)
    code, out, _ = run(fresh_db, "backup", "list")
    assert code == 0 and out.startswith("no backups in ")

    code, out, _ = run(fresh_db, "backup", "create")
    assert code == 0
    path = Path(out.splitlines()[0].removeprefix("backup written to "))
    assert path.is_file() and path.parent == project_dir / ".rfsetup" / "backups"
    assert "at revision 0002_billing" in out

    code, out, _ = run(fresh_db, "backup", "list")
    assert code == 0 and str(path) in out and "0002_billing" in out

    code, out, _ = run(fresh_db, "backup", "list", "--json")
    (entry,) = json.loads(out)
    assert entry["path"] == str(path)
    assert entry["database"] == fresh_db.rsplit("/", 1)[1]
    assert entry["revision"] == "0002_billing"
    stamp = re.search(r"_(\d{8}T\d{6}Z)_", path.name)
    created = datetime.fromisoformat(entry["created_at"])
    assert stamp and created.utcoffset() == timedelta(0)
    assert created.strftime("%Y%m%dT%H%M%SZ") == stamp[1]  # named by its UTC time


def test_restore_needs_confirmation_then_puts_everything_back(run, fresh_db: str,
                                                              project_dir: Path) -> None:
    settings = settings_for(ALEMBIC_INI, fresh_db, project_dir)
    migrations.upgrade(settings, "0001_auth", backup=False)
    code, out, _ = run(fresh_db, "backup", "create")
    dump = out.splitlines()[0].removeprefix("backup written to ")
    migrations.upgrade(settings, backup=False)
    newer = tables(fresh_db)

    code, _, err = run(fresh_db, "backup", "restore", dump)
    assert code == 2 and "needs confirmation; nothing was changed" in err
    assert tables(fresh_db) == newer

    code, out, _ = run(fresh_db, "backup", "restore", dump, "--yes")
    assert code == 0
    assert "backup of the current state written to" in out
    assert out.splitlines()[-1].endswith("is at 0001_auth")
    assert version(fresh_db) == ("0001_auth",)
    assert tables(fresh_db) == {"users", "organizations", "memberships", "workspaces"}


@pytest.mark.parametrize("name, content, words", [
    ("missing.dump", None, "no such backup file"),
    ("notes.sql", "SELECT 1;", "not a pg_dump custom-format backup"),
])
def test_restore_of_something_else_is_exit_2(run, fresh_db: str, project_dir: Path, name: str,
                                              content: str | None, words: str) -> None:
    path = project_dir / name
    if content is not None:
        path.write_text(content)
    code, _, err = run(fresh_db, "backup", "restore", str(path), "--yes")
    assert code == 2 and words in err


def test_backup_of_an_unreachable_database_is_exit_3(run, project_dir: Path) -> None:
    code, _, err = run(f"postgresql://rf:Hidden99@127.0.0.1:{free_port()}/raptorflow",
                      "backup", "create")
    assert code == 3 and "Hidden99" not in err
    assert not (project_dir / ".rfsetup" / "backups").exists()
