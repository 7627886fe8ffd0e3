"""The production guard on the real server: what is refused leaves the database exactly as it
was (revision, tables, no backup file); what is allowed needs the typed name, --yes or --force.
And `status --all`: every .env.* beside the .env, each target on its own row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rfsetup.cli import main
from rfsetup.core import guard
from rfsetup.core.settings import load_settings
from tests.conftest import ALEMBIC_INI
from tests.helpers.db import tables, version


def _env(folder: Path, name: str, url: str, *extra: str) -> Path:
    path = folder / name
    path.write_text(f"DATABASE_URL={url}\n" + "".join(f"{line}\n" for line in extra))
    return path


def _rfsetup(capsys: pytest.CaptureFixture[str], env_file: Path, *argv: str
             ) -> tuple[int, str, str]:
    code = main(["-c", str(ALEMBIC_INI), "--env-file", str(env_file), *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def _backups(folder: Path) -> list[Path]:
    backups = folder / ".rfsetup" / "backups"
    return sorted(backups.glob("*.dump")) if backups.exists() else []


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, project_dir: Path) -> Path:
    for key in ("DATABASE_URL", "REDIS_URL", guard.ENV_RFSETUP_ENV):
        monkeypatch.delenv(key, raising=False)
    return project_dir


# -- what makes a target production ------------------------------------------------------------
@pytest.mark.parametrize(("name", "lines", "environ", "expected"), [
    (".env.production", [], {}, "the env file is .env.production"),
    (".env.prod", [], {}, "the env file is .env.prod"),
    (".env", ["APP_ENV=production"], {}, "APP_ENV=production in .env"),
    (".env", ["ENVIRONMENT='Production'"], {}, "ENVIRONMENT=Production in .env"),
    (".env", [], {"RFSETUP_ENV": "production"}, "RFSETUP_ENV=production"),
    (".env", ["APP_ENV=staging", "ENVIRONMENT=development"], {}, None),
    (".env.staging", [], {"RFSETUP_ENV": "development"}, None),
])
def test_production_is_detected_from_each_source(tmp_path: Path, name: str, lines: list[str],
                                                 environ: dict[str, str],
                                                 expected: str | None) -> None:
    path = _env(tmp_path, name, "postgresql://u@h/db", *lines)
    settings = load_settings(path, ALEMBIC_INI, environ=environ, cwd=tmp_path)
    assert settings.production == expected


def test_no_source_can_cancel_another(tmp_path: Path) -> None:
    path = _env(tmp_path, ".env.production", "postgresql://u@h/db", "APP_ENV=development")
    settings = load_settings(path, ALEMBIC_INI, environ={"RFSETUP_ENV": "dev"}, cwd=tmp_path)
    assert settings.production == "the env file is .env.production"


def test_the_sandbox_is_not_production_unless_rfsetup_env_says_so(tmp_path: Path) -> None:
    path = _env(tmp_path, ".env", "postgresql://u@h/db", "APP_ENV=production")
    settings = load_settings(path, ALEMBIC_INI, environ={}, cwd=tmp_path)
    assert settings.production
    assert settings.with_urls("postgresql://s@127.0.0.1/sb", None, "sandbox").production is None
    declared = load_settings(path, ALEMBIC_INI, environ={"RFSETUP_ENV": "production"},
                             cwd=tmp_path)
    assert declared.with_urls("postgresql://s@127.0.0.1/sb", None, "sandbox").production


# -- what is refused, with nothing changed -------------------------------------------------------
def test_upgrade_on_production_needs_the_name_and_refuses_no_backup(
        fresh_db: str, clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = _env(clean_env, ".env.production", fresh_db)

    code, _, err = _rfsetup(capsys, env, "migrate", "up", "--no-backup", "--yes")
    assert code == 2
    assert "production target: --no-backup is refused; nothing was changed" in err
    assert "the env file is .env.production" in err
    assert version(fresh_db) == () and tables(fresh_db) == set() and _backups(clean_env) == []

    # no --yes and no terminal to type the name at: refused before the database is read
    code, _, err = _rfsetup(capsys, env, "migrate", "up")
    assert code == 2
    assert "upgrading production database" in err and "needs confirmation" in err
    assert version(fresh_db) == () and tables(fresh_db) == set() and _backups(clean_env) == []

    code, out, _ = _rfsetup(capsys, env, "migrate", "up", "0001_auth", "--yes")
    assert code == 0, out
    assert version(fresh_db) == ("0001_auth",)
    assert len(_backups(clean_env)) == 1  # the backup was taken first


def test_downgrade_and_stamp_on_production(fresh_db: str, clean_env: Path,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    plain = _env(clean_env, ".env", fresh_db)
    assert _rfsetup(capsys, plain, "migrate", "up", "0002_billing", "--no-backup")[0] == 0
    before = tables(fresh_db)
    # the same file becomes production through RFSETUP_ENV alone
    monkeypatch.setenv(guard.ENV_RFSETUP_ENV, "production")

    code, _, err = _rfsetup(capsys, plain, "migrate", "down", "--yes", "--no-backup")
    assert code == 2 and "--no-backup is refused" in err and "RFSETUP_ENV=production" in err
    code, _, err = _rfsetup(capsys, plain, "migrate", "stamp", "0001_auth", "--yes")
    assert code == 2 and "a stamp needs --force" in err
    assert version(fresh_db) == ("0002_billing",) and tables(fresh_db) == before
    assert _backups(clean_env) == []

    code, _, err = _rfsetup(capsys, plain, "migrate", "stamp", "0001_auth", "--yes", "--force")
    assert code == 0, err
    assert version(fresh_db) == ("0001_auth",) and tables(fresh_db) == before


def test_upgrade_is_unguarded_elsewhere(fresh_db: str, clean_env: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    env = _env(clean_env, ".env.staging", fresh_db, "APP_ENV=staging")
    code, _, err = _rfsetup(capsys, env, "migrate", "up", "0001_auth", "--no-backup")
    assert code == 0, err
    assert version(fresh_db) == ("0001_auth",)


# -- status --all --------------------------------------------------------------------------------
def test_status_all_reads_every_env_file_beside_the_env(
        pg, clean_env: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    dev, prod = pg.create_database(), pg.create_database()
    try:
        _env(clean_env, ".env", pg.url(dev))
        _env(clean_env, ".env.production", pg.url(prod))
        # a password that must appear nowhere, on a port nobody listens on
        _env(clean_env, ".env.staging", "postgresql://ops:s3cr3t-Staging-pw@127.0.0.1:1/stage")
        for ignored in (".env.bak", ".env.example", ".env.lock"):
            _env(clean_env, ignored, "postgresql://x:ignored-pw@127.0.0.1:1/x")
        # an exported DATABASE_URL would otherwise make every row the same server
        monkeypatch.setenv("DATABASE_URL", pg.url(dev))
        env = clean_env / ".env"
        assert _rfsetup(capsys, env, "migrate", "up", "--no-backup")[0] == 0

        code, out, err = _rfsetup(capsys, env, "status", "--all", "--json")
        assert code == 3  # the staging target cannot be reached
        rows = {Path(r["env_file"]).name: r for r in json.loads(out)}
        assert set(rows) == {".env", ".env.production", ".env.staging"}
        assert rows[".env"]["status"]["pending"] == 0
        assert rows[".env"]["production"] is False
        assert rows[".env.production"]["production"] is True
        assert rows[".env.production"]["status"]["database"]["name"] == prod
        assert rows[".env.production"]["status"]["pending"] >= 4
        staging = rows[".env.staging"]["status"]["database"]
        assert staging["reachable"] is False and staging["error"]["exit_code"] == 3

        code, out, err = _rfsetup(capsys, env, "status", "--all")
        assert code == 3
        lines = out.splitlines()
        assert lines[0].split() == ["ENV", "FILE", "DATABASE", "REVISION", "PENDING"]
        prod_line = next(line for line in lines if line.startswith(".env.production"))
        assert "pending" in prod_line and prod_line.endswith("PRODUCTION")
        assert "up to date" in next(line for line in lines if line.startswith(".env "))
        staging_line = lines.index(next(ln for ln in lines if ln.startswith(".env.staging")))
        assert "unreachable" in lines[staging_line]
        assert "no PostgreSQL server is accepting connections" in lines[staging_line + 1]
        for text in (out, err):
            assert "s3cr3t-Staging-pw" not in text and "ignored-pw" not in text
            assert pg.server.superuser_password not in text
    finally:
        pg.drop_database(dev)
        pg.drop_database(prod)
