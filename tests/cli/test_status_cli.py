"""`rfsetup status`: the JSON contract, exit codes, Redis reported not fatal, no password shown."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config

from rfsetup.cli import main
from tests.conftest import ALEMBIC_INI


def _status(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main(["-c", str(ALEMBIC_INI), *argv, "status", "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def _upgrade(url: str, target: str = "head") -> None:
    cfg = Config(str(ALEMBIC_INI))
    cfg.attributes["database_url"] = url
    cfg.attributes["rfsetup"] = True
    command.upgrade(cfg, target)


def test_status_on_empty_database(fresh_db: str, redis_server, monkeypatch, capsys) -> None:
    monkeypatch.setenv("DATABASE_URL", fresh_db)
    monkeypatch.setenv("REDIS_URL", redis_server.url())
    code, doc = _status(capsys)
    assert code == 0
    assert set(doc) >= {"database", "current", "heads", "pending", "tables", "redis"}
    db = doc["database"]
    assert db["reachable"] is True
    assert db["name"] == fresh_db.rsplit("/", 1)[1]
    assert int(db["server_version"].split(".")[0]) >= 15
    assert "***" in db["url"] and fresh_db.split(":")[2].split("@")[0] not in db["url"]
    assert doc["current"] == []
    assert len(doc["heads"]) == 1
    assert doc["pending"] >= 4
    assert doc["tables"] == []
    assert doc["redis"]["reachable"] is True
    assert doc["redis"]["version"].count(".") == 2


def test_status_after_upgrade_counts_pending_and_rows(fresh_db: str, redis_server, monkeypatch,
                                                      capsys) -> None:
    monkeypatch.setenv("DATABASE_URL", fresh_db)
    monkeypatch.setenv("REDIS_URL", redis_server.url())
    _upgrade(fresh_db, "head")
    code, doc = _status(capsys)
    assert code == 0
    assert doc["current"] == doc["heads"]
    assert doc["pending"] == 0
    names = {t["name"] for t in doc["tables"]}
    assert {"users", "organizations", "plans", "indicators", "threat_reports"} <= names
    assert len(names) == 15, names
    assert all(isinstance(t["rows"], int) and t["rows"] >= 0 for t in doc["tables"])

    # one step back: exactly one revision pending
    cfg = Config(str(ALEMBIC_INI))
    cfg.attributes["database_url"] = fresh_db
    cfg.attributes["rfsetup"] = True
    command.downgrade(cfg, "-1")
    code, doc = _status(capsys)
    assert doc["pending"] == 1


def test_row_estimates_come_from_the_catalog(fresh_db: str, pg, monkeypatch, capsys) -> None:
    monkeypatch.setenv("DATABASE_URL", fresh_db)
    _upgrade(fresh_db)
    conn = pg.admin_connect(fresh_db.rsplit("/", 1)[1])
    with conn.cursor() as cur:
        cur.execute("INSERT INTO organizations (name, slug) "
                    "SELECT 'org ' || g, 'org-' || g FROM generate_series(1, 250) g")
        cur.execute("ANALYZE organizations")
    conn.close()
    _, doc = _status(capsys)
    rows = {t["name"]: t["rows"] for t in doc["tables"]}
    assert rows["organizations"] == 250


def test_redis_down_is_reported_not_fatal(fresh_db: str, monkeypatch, capsys) -> None:
    from rfsetup.core.embedded import free_port

    monkeypatch.setenv("DATABASE_URL", fresh_db)
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    code, doc = _status(capsys)
    assert code == 0
    assert doc["redis"]["reachable"] is False
    assert "not running" in doc["redis"]["error"]


def test_database_down_exits_3_with_diagnosis(monkeypatch, capsys) -> None:
    from rfsetup.core.embedded import free_port

    monkeypatch.setenv("DATABASE_URL", f"postgresql://u:topsecret@127.0.0.1:{free_port()}/x")
    code = main(["-c", str(ALEMBIC_INI), "status", "--json"])
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert code == 3
    assert doc["database"]["reachable"] is False
    assert doc["database"]["error"]["error"] == "server_down"
    assert "topsecret" not in captured.out + captured.err
    assert len(doc["heads"]) == 1  # the scripts are still read


def test_bad_url_exits_2(monkeypatch, capsys) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://u:topsecret@h/db")
    code = main(["-c", str(ALEMBIC_INI), "status"])
    captured = capsys.readouterr()
    assert code == 2
    assert "not a PostgreSQL URL" in captured.err
    assert "topsecret" not in captured.out + captured.err


def test_env_file_is_read_and_environment_wins(fresh_db: str, tmp_path: Path, monkeypatch,
                                               capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(f"DATABASE_URL={fresh_db}\n")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    code, doc = _status(capsys)
    assert code == 0 and doc["database"]["reachable"]
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@127.0.0.1:1/other")
    code, doc = _status(capsys)
    assert code == 3


def test_status_subprocess_help_and_version() -> None:
    out = subprocess.run([sys.executable, "-m", "rfsetup", "--version"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.startswith("rfsetup ")
    out = subprocess.run([sys.executable, "-m", "rfsetup", "--help"], capture_output=True,
                         text=True, check=True)
    for word in ("doctor", "status", "env", "db", "migrate", "seed", "backup", "sandbox"):
        assert word in out.stdout
    bad = subprocess.run([sys.executable, "-m", "rfsetup", "migrate", "sideways"],
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
