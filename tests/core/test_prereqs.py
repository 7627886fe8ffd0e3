"""doctor's checks, each on its ok and its fail path, against real servers."""

from __future__ import annotations

import textwrap
from dataclasses import asdict
from pathlib import Path

import pytest

from rfsetup.core.embedded import EmbeddedRedis, free_port
from rfsetup.core.envfile import EnvFile, save
from rfsetup.core.errors import RfsetupError
from rfsetup.core.prereqs import (
    CheckResult,
    check_alembic,
    check_client_tool,
    check_env,
    check_packages,
    check_postgresql,
    check_python,
    check_redis,
    check_sandbox_extras,
    declared_requirements,
    remedy_for,
    run_checks,
)
from rfsetup.core.settings import Settings, load_settings
from tests.conftest import ALEMBIC_INI, REPO_ROOT, PgTestServer

GOOD_ENV = {
    "DATABASE_URL": "postgresql+asyncpg://raptorflow:s3cret-pw@localhost:5432/raptorflow",
    "SUPABASE_URL": "https://abcd.supabase.co",
    "SUPABASE_ANON_KEY": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
                         "eyJyb2xlIjoiYW5vbiIsImlzcyI6InN1cGFiYXNlIn0.c2lnbmF0dXJl",
    "SUPABASE_SERVICE_KEY": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
                            "eyJyb2xlIjoic2VydmljZV9yb2xlIiwiaXNzIjoic3VwYWJhc2UifQ.c2lnbmF0dXJl",
    "SUPABASE_JWT_SECRET": "j" * 40,
    "RAZORPAY_KEY_ID": "rzp_test_AbC123",
    "RAZORPAY_KEY_SECRET": "Zx9Zx9Zx9Zx9Zx9Zx9Zx9Zx9",
    "RAZORPAY_WEBHOOK_SECRET": "whsec-long-enough",
    "SECRET_KEY": "0123456789abcdef" * 4,
}


def _settings(tmp_path: Path, *, db: str | None = None, redis: str | None = None,
              sandbox: bool = False, ini: Path = ALEMBIC_INI) -> Settings:
    env: dict[str, str] = {}
    if db:
        env["DATABASE_URL"] = db
    if redis:
        env["REDIS_URL"] = redis
    return load_settings(tmp_path / ".env", ini, sandbox=sandbox, environ=env, cwd=tmp_path)


def _write_env(tmp_path: Path, values: dict[str, str]) -> None:
    doc = EnvFile.parse("")
    for key, value in values.items():
        doc = doc.set(key, value)
    save(tmp_path / ".env", doc)


# -- remedies --------------------------------------------------------------------------------

@pytest.mark.parametrize(("os_name", "postgres", "redis"), [
    ("Windows", "choco install postgresql", "choco install redis-64"),
    ("Darwin", "brew install postgresql@15", "brew install redis"),
    ("Linux", "sudo apt-get install postgresql-15 postgresql-contrib",
     "sudo apt-get install redis-server"),
    ("FreeBSD", "sudo apt-get install postgresql-15", "sudo apt-get install redis-server"),
])
def test_remedies_are_the_guides_commands_for_each_os(os_name: str, postgres: str,
                                                      redis: str) -> None:
    assert postgres in (remedy_for("postgresql", os_name) or "")
    assert redis in (remedy_for("redis", os_name) or "")
    assert remedy_for("pg_dump", os_name, major=17)
    start = {"Windows": "net start postgresql-x64-15", "Darwin": "brew services start",
             "Linux": "sudo systemctl start postgresql", "FreeBSD": "systemctl start"}
    assert start[os_name] in (remedy_for("postgresql", os_name) or "")


def test_client_tool_remedy_names_the_server_major() -> None:
    assert "postgresql-client-17" in (remedy_for("pg_dump", "Linux", major=17) or "")
    assert "postgresql@17" in (remedy_for("psql", "Darwin", major=17) or "")


# -- python and packages ---------------------------------------------------------------------

def test_python_and_packages() -> None:
    assert check_python().status == "ok"
    failed = check_python(minimum=(99, 0))
    assert failed.status == "fail" and "99.0" in failed.detail and failed.remedy
    ok = check_packages()
    assert ok.status == "ok"
    for name in ("textual", "alembic", "sqlalchemy", "psycopg2", "redis", "python-dotenv"):
        assert name in ok.detail
    missing = check_packages(["no-such-dist-rf>=1"])
    assert missing.status == "fail" and "no-such-dist-rf" in missing.detail
    assert "pip install" in (missing.remedy or "")
    too_old = check_packages(["redis>=999"])
    assert too_old.status == "fail" and "too old: redis" in too_old.detail
    assert ">=999" in too_old.detail and "'redis>=999'" in (too_old.remedy or "")
    # psycopg2 built from source serves as psycopg2-binary (the same import package)
    assert check_packages(["psycopg2-binary>=2.9"]).status == "ok"


def test_sandbox_extras_are_optional() -> None:
    assert check_sandbox_extras().status == "ok"
    absent = check_sandbox_extras(["nosuchpgserver>=1"])
    assert absent.status == "warn"
    assert "rfsetup[sandbox]" in (absent.remedy or "")


def test_doctor_checks_what_pyproject_declares() -> None:
    """The requirements come from rfsetup's installed metadata, i.e. pyproject.toml: a
    dependency added there is checked without copying it into prereqs."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]

    def names(reqs: list[str]) -> set[str]:
        return {Requirement(r).name for r in reqs}

    assert names(declared_requirements()) == names(project["dependencies"])
    sandbox = project["optional-dependencies"]["sandbox"]
    assert names(declared_requirements("sandbox")) == names(sandbox)
    detail = check_sandbox_extras().detail
    assert all(name in detail for name in names(sandbox))


# -- PostgreSQL ------------------------------------------------------------------------------

def test_postgresql_ok(pg: PgTestServer, tmp_path: Path) -> None:
    major: list[int] = []
    result = check_postgresql(_settings(tmp_path, db=pg.admin_url()), "Linux", major)
    assert result.status == "ok", result
    assert "PostgreSQL 16" in result.detail and "***" in result.detail
    assert pg.server.superuser_password not in result.detail
    assert major == [16]


def test_postgresql_down_gives_the_remedy_for_this_machine(tmp_path: Path) -> None:
    from rfsetup.core.connect import connect
    from rfsetup.core.settings import normalize_database_url

    url = f"postgresql://postgres:pw@127.0.0.1:{free_port()}/raptorflow"
    result = check_postgresql(_settings(tmp_path, db=url))
    assert result.status == "fail"
    assert "no PostgreSQL server is accepting connections" in result.detail
    assert "pw@" not in result.detail
    # doctor's remedy is the diagnosis' own (what this machine has: tests/core/test_remedies)
    with pytest.raises(RfsetupError) as info:
        connect(normalize_database_url(url))
    assert result.remedy == info.value.hint


def test_postgresql_wrong_password_and_missing_database(pg: PgTestServer,
                                                        tmp_path: Path) -> None:
    wrong = pg.url("postgres").replace(pg.server.superuser_password, "not-the-password")
    result = check_postgresql(_settings(tmp_path, db=wrong))
    assert result.status == "fail" and "password rejected" in result.detail
    assert "not-the-password" not in result.detail + (result.remedy or "")
    missing = check_postgresql(_settings(tmp_path, db=pg.url("no_such_db_rf")))
    assert missing.status == "fail" and "rfsetup db create" in (missing.remedy or "")


def test_postgresql_unset(tmp_path: Path) -> None:
    result = check_postgresql(_settings(tmp_path))
    assert result.status == "fail" and "DATABASE_URL is not set" in result.detail
    assert "--sandbox" in (result.remedy or "")


# -- psql / pg_dump --------------------------------------------------------------------------

@pytest.mark.parametrize("tool", ["psql", "pg_dump"])
def test_client_tools(tool: str) -> None:
    ok = check_client_tool(tool, 16)
    assert ok.status == "ok" and "16." in ok.detail
    future = check_client_tool(tool, 99, "Linux")
    assert future.status == ("fail" if tool == "pg_dump" else "warn")
    assert "postgresql-client-99" in (future.remedy or "")
    unknown = check_client_tool(tool, None)
    assert unknown.status == "warn" and "unknown" in unknown.detail


# -- Redis -----------------------------------------------------------------------------------

def test_redis_ok(redis_server: EmbeddedRedis, tmp_path: Path) -> None:
    result = check_redis(_settings(tmp_path, redis=redis_server.url()))
    assert result.status == "ok" and "Redis 6." in result.detail


def test_redis_stopped_for_real(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    try:
        settings = _settings(tmp_path, redis=server.url())
        assert check_redis(settings).status == "ok"
    finally:
        server.stop()
    for os_name, command in (("Linux", "sudo systemctl start redis"),
                             ("Darwin", "brew services start redis"),
                             ("Windows", "redis-server")):
        result = check_redis(settings, os_name)
        assert result.status == "fail" and "not running" in result.detail
        assert command in (result.remedy or "")


def test_the_sandbox_redis_stopped_is_told_to_start_the_sandbox(tmp_path: Path) -> None:
    """REDIS_URL naming this project's sandbox Redis: the fix is `rfsetup sandbox start`, in
    the check and in the status (the live panel), not an install of redis-server."""
    from rfsetup.core.status import redis_status

    settings = _settings(tmp_path, redis="redis://127.0.0.1:1/0")
    server = EmbeddedRedis(settings.sandbox_dir / "redis")  # where the sandbox keeps it
    server.start()
    try:
        settings = _settings(tmp_path, redis=server.url())
        assert check_redis(settings).status == "ok"
    finally:
        server.stop()
    result = check_redis(settings, "Linux")
    assert result.status == "fail" and "rfsetup sandbox start" in (result.remedy or "")
    assert "apt-get" not in (result.remedy or "") and "systemctl" not in (result.remedy or "")
    status = redis_status(settings)
    assert status.error_kind == "server_down" and "rfsetup sandbox start" in (status.error or "")
    # another Redis on this machine that is not the sandbox's keeps the OS's remedy
    other = check_redis(_settings(tmp_path, redis=f"redis://127.0.0.1:{free_port()}/0"), "Linux")
    assert "sudo systemctl start redis" in (other.remedy or "")


def test_redis_password_is_masked(tmp_path: Path) -> None:
    url = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    result = check_redis(_settings(tmp_path, redis=url))
    assert result.status == "fail"
    assert "hunter2-secret" not in result.detail + (result.remedy or "")


# -- .env ------------------------------------------------------------------------------------

def test_env_complete_is_ok(tmp_path: Path) -> None:
    _write_env(tmp_path, GOOD_ENV)
    result = check_env(_settings(tmp_path))
    assert result.status == "ok", result.detail
    assert "9 of 9" in result.detail


def test_env_missing_key_fails_and_names_it(tmp_path: Path) -> None:
    _write_env(tmp_path, {k: v for k, v in GOOD_ENV.items() if k != "RAZORPAY_KEY_SECRET"})
    result = check_env(_settings(tmp_path))
    assert result.status == "fail"
    assert "missing RAZORPAY_KEY_SECRET" in result.detail and "8 of 9" in result.detail
    # the sandbox does not need the app's keys: a warning there
    assert check_env(_settings(tmp_path, sandbox=True)).status == "warn"


def test_env_invalid_value_fails_without_showing_it(tmp_path: Path) -> None:
    _write_env(tmp_path, {**GOOD_ENV, "SECRET_KEY": "tooshort-secret"})
    result = check_env(_settings(tmp_path))
    assert result.status == "fail" and "SECRET_KEY" in result.detail
    assert "tooshort-secret" not in result.detail
    assert "s3cret-pw" not in result.detail


def test_env_placeholder_is_a_warning(tmp_path: Path) -> None:
    _write_env(tmp_path, {**GOOD_ENV, "RAZORPAY_KEY_ID": "rzp_test_xxxxxxxxxxxxx"})
    assert check_env(_settings(tmp_path)).status == "warn"


def test_env_file_absent(tmp_path: Path) -> None:
    assert check_env(_settings(tmp_path)).status == "fail"
    assert check_env(_settings(tmp_path, sandbox=True)).status == "warn"


def test_env_database_url_from_environment_counts(tmp_path: Path) -> None:
    _write_env(tmp_path, {k: v for k, v in GOOD_ENV.items() if k != "DATABASE_URL"})
    assert check_env(_settings(tmp_path)).status == "fail"
    assert check_env(_settings(tmp_path, db=GOOD_ENV["DATABASE_URL"])).status == "ok"


# -- Alembic ---------------------------------------------------------------------------------

def _project(root: Path, heads: int) -> Path:
    versions = root / "mig" / "versions"
    versions.mkdir(parents=True)
    (root / "mig" / "env.py").write_text("")
    (root / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/mig\n")
    for n in range(heads):
        (versions / f"r{n}.py").write_text(textwrap.dedent(f'''\
            revision = "r{n}"
            down_revision = None
            def upgrade(): pass
            def downgrade(): pass
            '''))
    return root / "alembic.ini"


def test_alembic_single_head_ok(tmp_path: Path) -> None:
    result = check_alembic(_settings(tmp_path))
    assert result.status == "ok" and "head" in result.detail


def test_alembic_missing_config(tmp_path: Path) -> None:
    result = check_alembic(_settings(tmp_path, ini=tmp_path / "nope.ini"))
    assert result.status == "fail" and "-c" in (result.remedy or "")


def test_alembic_two_heads_fail_and_none_warns(tmp_path: Path) -> None:
    two = check_alembic(_settings(tmp_path, ini=_project(tmp_path / "two", 2)))
    assert two.status == "fail" and "2 heads" in two.detail
    assert "merge" in (two.remedy or "")
    empty = check_alembic(_settings(tmp_path, ini=_project(tmp_path / "none", 0)))
    assert empty.status == "warn"


def test_alembic_broken_revision_is_a_failed_check(tmp_path: Path) -> None:
    ini = _project(tmp_path / "broken", 1)
    (ini.parent / "mig" / "versions" / "r0.py").write_text("revision = (\n")
    result = check_alembic(_settings(tmp_path, ini=ini))
    assert result.status == "fail" and "SyntaxError" in result.detail


# -- the whole run ---------------------------------------------------------------------------

def test_run_checks_reports_each_as_it_arrives(pg: PgTestServer, redis_server: EmbeddedRedis,
                                               tmp_path: Path) -> None:
    _write_env(tmp_path, GOOD_ENV)
    seen: list[CheckResult] = []
    results = run_checks(_settings(tmp_path, db=pg.admin_url(), redis=redis_server.url()),
                         seen.append)
    assert seen == results
    assert [r.name for r in results] == ["python", "packages", "sandbox extras", "postgresql",
                                         "pooler", "psql", "pg_dump", "redis", ".env",
                                         "alembic"]
    by_name = {r.name: r for r in results}
    assert all(r.status == "ok" for r in results), [r for r in results if r.status != "ok"]
    assert by_name["pg_dump"].detail.startswith("16.")
    assert set(asdict(results[0])) == {"name", "status", "detail", "remedy", "kind"}
