"""`rfsetup setup` end to end in a fresh process, from a bare directory: the test server as the
target (its role and database created by the admin), then a second run that changes nothing;
no DATABASE_URL at all (the defaults created, the .env written); and the sandbox (slow)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy.engine import make_url

from rfsetup.core.envfile import EnvFile
from tests.cli.test_setup_cli import rfsetup
from tests.conftest import ALEMBIC_INI, PgTestServer
from tests.core.test_prereqs import GOOD_ENV

INI = ("-c", str(ALEMBIC_INI))
#: what the app needs that setup cannot make up (the guide's Supabase and Razorpay keys)
APP_KEYS = {k: v for k, v in GOOD_ENV.items() if k not in ("DATABASE_URL", "SECRET_KEY")}


@pytest.fixture
def target(pg: PgTestServer):
    """A role and database that do not exist yet (dropped afterwards)."""
    name = f"setup_{uuid.uuid4().hex[:10]}"
    yield name
    pg.drop_database(name)
    pg.drop_role(name)


def _phases(doc: dict) -> dict[str, str]:
    return {p["name"]: p["status"] for p in doc["phases"]}


def test_setup_from_a_bare_directory_then_again_changes_nothing(
        pg: PgTestServer, redis_server, target: str, tmp_path: Path) -> None:
    url = f"postgresql://{target}:pw-{target}@127.0.0.1:{pg.port}/{target}"
    env = {"DATABASE_URL": url, "REDIS_URL": redis_server.url(),
           "PGPASSWORD": pg.server.superuser_password}
    first = rfsetup(*INI, "setup", cwd=tmp_path, env=env)
    # the database is set up; the app's Supabase and Razorpay keys cannot be made up: exit 1
    assert first.returncode == 1, first.stdout + first.stderr
    out = first.stdout
    for line in ("= doctor", "+ env", "+ database", "+ migrate", "+ seed", "= verify"):
        assert line in out, out
    assert "created role " + target in out and "SECRET_KEY generated" in out
    assert "backup first: " in out and "inserted free, pro, enterprise" in out
    assert "Not ready yet" in out and "SUPABASE_URL" in out
    assert f"pw-{target}" not in out + first.stderr
    values = EnvFile.load(tmp_path / ".env").values()
    assert len(bytes.fromhex(values["SECRET_KEY"])) == 32
    assert "DATABASE_URL" not in values  # it comes from the environment: not written
    conn = psycopg2.connect(host="127.0.0.1", port=pg.port, user=target,
                            password=f"pw-{target}", dbname=target)
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM plans ORDER BY price_cents")
        assert [r[0] for r in cur.fetchall()] == ["free", "pro", "enterprise"]
    conn.close()

    # the developer adds the app's keys; the second run finds everything in place
    for key, value in APP_KEYS.items():
        assert rfsetup("env", "set", key, "-", cwd=tmp_path, stdin=value).returncode == 0
    secret = values["SECRET_KEY"]
    second = rfsetup(*INI, "setup", "--json", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    doc = json.loads(second.stdout)
    assert doc["ready"] is True and doc["changed"] is False, doc
    assert set(_phases(doc).values()) == {"unchanged"}
    assert doc["summary"]["seeded"] is True and doc["summary"]["missing_tables"] == []
    assert not [c for c in doc["checks"] if c["status"] == "fail"]
    assert EnvFile.load(tmp_path / ".env").get("SECRET_KEY") == secret  # never rotated
    text = rfsetup(*INI, "setup", cwd=tmp_path, env=env)
    assert text.returncode == 0 and "nothing changed: already set up" in text.stdout
    assert "backup first" not in text.stdout  # nothing to migrate, no backup either
    assert f"pw-{target}" not in second.stdout + text.stdout


def test_setup_without_database_url_creates_the_defaults_and_writes_the_env(
        pg: PgTestServer, redis_server, target: str, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in APP_KEYS.items()) +
                                   "SECRET_KEY=$(openssl rand -hex 32)\n"
                                   f"REDIS_URL={redis_server.url()}\n")
    admin = f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
    proc = rfsetup(*INI, "setup", "--admin-url", admin, "--name", target, "--owner", target,
                   "--no-backup", "--json", cwd=tmp_path,
                   env={"PGPASSWORD": pg.server.superuser_password})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ready"] and _phases(doc)["database"] == "changed"
    values = EnvFile.load(tmp_path / ".env").values()
    written = make_url(values["DATABASE_URL"])
    assert written.drivername == "postgresql+asyncpg"  # the app's form
    assert (written.username, written.database, written.port) == (target, target, pg.port)
    assert written.password and written.password not in proc.stdout  # generated, never shown
    # the guide's placeholder was not a secret: replaced
    assert len(bytes.fromhex(values["SECRET_KEY"])) == 32
    assert "no backup taken (--no-backup)" in json.dumps(doc)
    # a plain doctor agrees
    doctor = rfsetup(*INI, "doctor", "--json", cwd=tmp_path)
    assert doctor.returncode == 0, doctor.stdout


def test_setup_refusals_change_nothing(pg: PgTestServer, tmp_path: Path) -> None:
    wrong = f"postgresql://nobody:pw@127.0.0.1:{pg.port}/nowhere"
    # --name against a DATABASE_URL naming another database: bad input, nothing written
    proc = rfsetup(*INI, "setup", "--name", "other", cwd=tmp_path,
                   env={"DATABASE_URL": wrong, "PGPASSWORD": pg.server.superuser_password})
    assert proc.returncode == 2 and "--name" in proc.stderr
    # a wrong admin password: cannot connect (3), worded for the admin, not shown
    proc = rfsetup(*INI, "setup", "--json", cwd=tmp_path,
                   env={"DATABASE_URL": wrong, "PGPASSWORD": "wrong-admin-pw"})
    assert proc.returncode == 3, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert _phases(doc)["database"] == "failed" and "admin" in doc["error"]["message"]
    assert "wrong-admin-pw" not in proc.stdout + proc.stderr
    conn = pg.admin_connect()
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_roles WHERE rolname = 'nobody'")
        assert cur.fetchone()[0] == 0
    conn.close()


def test_setup_on_the_sandbox_then_a_plain_doctor_is_green(tmp_path: Path) -> None:
    """The guided path on a bare machine: the sandbox's DATABASE_URL and REDIS_URL go into the
    .env, so `rfsetup doctor` without --sandbox is green afterwards. Slow (starts servers)."""
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in APP_KEYS.items()))
    try:
        proc = rfsetup(*INI, "--sandbox", "setup", cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "still running" in proc.stdout and "rfsetup sandbox stop" in proc.stdout
        values = EnvFile.load(tmp_path / ".env").values()
        assert make_url(values["DATABASE_URL"]).drivername == "postgresql+asyncpg"
        assert values["REDIS_URL"].startswith("redis://127.0.0.1:")
        password = (tmp_path / ".rfsetup/sandbox/raptorflow.password").read_text().strip()
        assert password not in proc.stdout + proc.stderr
        doctor = rfsetup(*INI, "doctor", "--json", cwd=tmp_path)
        report = json.loads(doctor.stdout)
        assert doctor.returncode == 0 and report["summary"]["fail"] == 0, report
        again = rfsetup(*INI, "--sandbox", "setup", cwd=tmp_path)
        assert again.returncode == 0 and "nothing changed: already set up" in again.stdout
    finally:
        rfsetup("sandbox", "stop", cwd=tmp_path)
