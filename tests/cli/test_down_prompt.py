"""`rfsetup migrate down` at a terminal: before the name is asked, the SQL it runs, the
statements that matter, and what is dropped with the real database's row estimates."""

from __future__ import annotations

from pathlib import Path

from rfsetup.core import alembic as migrations
from tests.cli.test_migrate_cli import RFSETUP, _env, _pty_run
from tests.conftest import ALEMBIC_INI
from tests.helpers.db import query, settings_for, version


def test_down_to_base_says_the_data_lost_and_shows_the_sql(fresh_db: str, tmp_path: Path
                                                          ) -> None:
    migrations.upgrade(settings_for(ALEMBIC_INI, fresh_db, tmp_path), backup=False)
    query(fresh_db, "INSERT INTO users (auth_sub) SELECT 'user-' || g "
                    "FROM generate_series(1, 1234) g; ANALYZE")
    argv = [RFSETUP, "-c", str(ALEMBIC_INI), "migrate", "down", "base"]
    code, err = _pty_run(argv, _env(fresh_db), tmp_path, "not-it")
    assert code == 2 and "nothing was changed" in err
    prompt = err[:err.index("type the database name to confirm")]
    # the SQL first (what `migrate preview --down base` prints), then what matters
    assert "-- the SQL it runs (the same as: rfsetup migrate preview --down base):" in prompt
    assert prompt.index("BEGIN;") < prompt.index("-- 20 statements change the schema or data")
    assert "DROP TABLE users;" in prompt
    assert ("WARNING: rollback to base: 15 tables with ~1,234 rows will be dropped; all "
            "their data is lost") in prompt
    assert "  table users  ~1,234 rows" in prompt
    # last, right above the prompt: what moves where
    assert prompt.rstrip().splitlines()[-5].startswith("this will downgrade database")
    assert version(fresh_db) == ("0004_production_indexes",)
    assert query(fresh_db, "SELECT count(*) FROM users") == [(1234,)]
