"""The plain ``alembic`` CLI, run as a user would (a subprocess, DATABASE_URL in the environment
or in .env), against the real embedded PostgreSQL: every URL form the guide and people use,
an escaped password, the commands of the guide's reference, and offline ``--sql``.

One database per test, upgrade head only where the URL form is what is under test: each
subprocess costs about a second.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from alembic import command
from psycopg2 import sql

from rfsetup.core.embedded import postgres_bin_dir
from tests.conftest import ALEMBIC_INI, REPO_ROOT, PgTestServer
from tests.core.test_schema import GUIDE_COLUMNS, connect_url, dump_schema, user_objects
from tests.helpers.db import alembic_config

HEAD = "0004_production_indexes"


def alembic(*args: str, url: str | None = None, cwd: Path = REPO_ROOT,
            ok: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the installed ``alembic`` console script (``-c alembic.ini`` outside the repo)."""
    exe = shutil.which("alembic", path=str(Path(sys.executable).parent))
    argv = [exe] if exe else [sys.executable, "-m", "alembic"]
    if cwd != REPO_ROOT:
        argv += ["-c", str(ALEMBIC_INI)]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if url is not None:
        env["DATABASE_URL"] = url
    result = subprocess.run([*argv, *args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=120)
    if ok:
        assert result.returncode == 0, f"alembic {' '.join(args)}: {result.stderr}"
    return result


def tables(url: str) -> set[str]:
    conn = connect_url(url)
    try:
        return set(user_objects(conn).get("r", []))
    finally:
        conn.close()


def psql_file(url: str, script: str) -> None:
    """Apply an SQL script with pgserver's psql, stopping at the first error."""
    from sqlalchemy.engine import make_url

    bin_dir = postgres_bin_dir()
    assert bin_dir is not None
    parsed = make_url(url)
    subprocess.run(
        [str(bin_dir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(parsed.host),
         "-p", str(parsed.port), "-U", str(parsed.username), "-d", str(parsed.database)],
        input=script, env={**os.environ, "PGPASSWORD": str(parsed.password)},
        capture_output=True, text=True, check=True, timeout=120,
    )


ALL_TABLES = set(GUIDE_COLUMNS) | {"alembic_version"}


def test_guide_commands_round_trip_with_the_guides_asyncpg_url(pg: PgTestServer,
                                                              fresh_db: str) -> None:
    """The "Done when": DATABASE_URL=postgresql+asyncpg://… on an empty database, then every
    command of the guide's reference."""
    url = pg.url(fresh_db.rsplit("/", 1)[1], scheme="postgresql+asyncpg")
    assert alembic("current", url=url).stdout.strip() == ""
    alembic("upgrade", "head", url=url)
    assert tables(fresh_db) == ALL_TABLES
    assert alembic("current", url=url).stdout.strip() == f"{HEAD} (head)"
    assert alembic("heads", url=url).stdout.strip() == f"{HEAD} (head)"
    history = alembic("history", "--verbose", url=url).stdout
    assert history.index(HEAD) < history.index("0003_intel") < history.index("0001_auth")
    assert "No new upgrade operations detected" in alembic("check", url=url).stdout
    first = dump_schema(fresh_db)

    alembic("downgrade", "-1", url=url)
    assert alembic("current", url=url).stdout.strip() == "0003_intel"
    alembic("downgrade", "base", url=url)
    assert alembic("current", url=url).stdout.strip() == ""
    assert tables(fresh_db) == {"alembic_version"}
    alembic("upgrade", "head", url=url)
    assert dump_schema(fresh_db) == first


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg2"])
def test_each_url_form_migrates(pg: PgTestServer, fresh_db: str, scheme: str) -> None:
    url = pg.url(fresh_db.rsplit("/", 1)[1], scheme=scheme)
    alembic("upgrade", "head", url=url)
    assert tables(fresh_db) == ALL_TABLES


@pytest.fixture
def escaped_role(pg: PgTestServer) -> Iterator[tuple[str, str, str]]:
    """A role whose password needs %-escaping in a URL, owning a new database."""
    role = f"rf_esc_{secrets.token_hex(4)}"
    password = f"p@ss%w:rd/{secrets.token_hex(4)}"
    conn = pg.admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)))
            cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(role), sql.Identifier(role)))
        yield role, password, role
    finally:
        conn.close()
        pg.drop_database(role)
        pg.drop_role(role)


def test_a_password_needing_escapes_migrates(pg: PgTestServer, escaped_role) -> None:
    role, password, database = escaped_role
    url = f"postgresql://{role}:{quote(password, safe='')}@127.0.0.1:{pg.port}/{database}"
    assert "%40" in url and "%25" in url and "%3A" in url and "%2F" in url
    result = alembic("upgrade", "head", url=url)
    assert password not in result.stdout + result.stderr
    assert tables(pg.url(database)) == ALL_TABLES
    conn = pg.admin_connect(database)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
            assert cur.fetchall() == [(role,)]
    finally:
        conn.close()


def test_a_wrong_password_fails_in_one_line_without_leaking(pg: PgTestServer,
                                                            escaped_role) -> None:
    role, password, database = escaped_role
    wrong = password + "x"
    url = f"postgresql://{role}:{quote(wrong, safe='')}@127.0.0.1:{pg.port}/{database}"
    result = alembic("upgrade", "head", url=url, ok=False)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "password rejected" in out
    assert "Traceback" not in out
    assert wrong not in out and quote(wrong, safe="") not in out


@pytest.mark.parametrize("env_file", [".env", "backend/.env"])
def test_database_url_from_the_env_file(pg: PgTestServer, fresh_db: str, tmp_path: Path,
                                        env_file: str) -> None:
    """No DATABASE_URL in the environment: the .env file in the working directory (or the
    guide's backend/.env) is the source."""
    url = pg.url(fresh_db.rsplit("/", 1)[1], scheme="postgresql+asyncpg")
    path = tmp_path / env_file
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"# RaptorFlow\nDATABASE_URL={url}\nREDIS_URL=redis://localhost:6379/0\n")
    alembic("upgrade", "head", cwd=tmp_path)
    assert tables(fresh_db) == ALL_TABLES


def test_no_database_url_is_one_clear_line(tmp_path: Path) -> None:
    result = alembic("upgrade", "head", cwd=tmp_path, ok=False)
    assert result.returncode != 0
    assert "DATABASE_URL is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_offline_sql_applies_with_psql_and_matches_online(pg: PgTestServer,
                                                          fresh_db: str) -> None:
    """``upgrade head --sql`` needs no database; the script it prints, run by psql, builds the
    same schema as an online upgrade (CONCURRENTLY outside any transaction block), and
    ``downgrade head:base --sql`` takes it all away again."""
    up = alembic("upgrade", "head", "--sql", cwd=REPO_ROOT).stdout
    commit = up.index("COMMIT;\n\nDROP INDEX CONCURRENTLY IF EXISTS ix_indicators_value")
    assert commit < up.index("CREATE INDEX CONCURRENTLY ix_indicators_value")
    psql_file(fresh_db, up)

    online = pg.create_database()
    try:
        command.upgrade(alembic_config(pg.url(online)), "head")
        assert dump_schema(fresh_db) == dump_schema(pg.url(online))
    finally:
        pg.drop_database(online)

    down = alembic("downgrade", "head:base", "--sql", cwd=REPO_ROOT).stdout
    psql_file(fresh_db, down)
    assert tables(fresh_db) == {"alembic_version"}
    conn = connect_url(fresh_db)
    try:
        assert user_objects(conn) == {"r": ["alembic_version"]}
    finally:
        conn.close()
