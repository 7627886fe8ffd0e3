"""`rfsetup doctor | env | db create | sandbox` end to end: exit codes, JSON, masking, and the
whole path db create -> migrate up as the new role."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg2
import pytest
from dotenv import dotenv_values
from sqlalchemy.engine import make_url

from rfsetup.cli import main
from rfsetup.core.embedded import EmbeddedRedis, free_port, pid_alive
from tests.conftest import ALEMBIC_INI, PgTestServer
from tests.core.test_prereqs import GOOD_ENV

PASSWORD = "p' \" \\ $HOME ${X} ünï ☃ @:/?#%"


def rfsetup(*argv: str, cwd: Path, stdin: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a fresh process, detached from any terminal (so nothing prompts)."""
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("DATABASE_URL", "REDIS_URL", "PGPASSWORD")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "rfsetup", *argv], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=120, env=full_env,
                          start_new_session=True, check=False)


def _write_env_file(path: Path, values: dict[str, str]) -> None:
    from rfsetup.core.envfile import EnvFile, save

    doc = EnvFile.parse("")
    for key, value in values.items():
        doc = doc.set(key, value)
    save(path, doc)


# -- doctor ----------------------------------------------------------------------------------

def test_doctor_json_all_ok(pg: PgTestServer, redis_server: EmbeddedRedis, project_dir: Path,
                            monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    _write_env_file(project_dir / ".env", {**GOOD_ENV, "DATABASE_URL": pg.admin_url(),
                                           "REDIS_URL": redis_server.url()})
    code = main(["-c", str(ALEMBIC_INI), "doctor", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert doc["ok"] is True and doc["summary"] == {"ok": 10, "warn": 0, "fail": 0}
    assert "pooler" in [c["name"] for c in doc["checks"]]  # direct: ok
    assert [c["name"] for c in doc["checks"]][:3] == ["python", "packages", "sandbox extras"]
    for check in doc["checks"]:
        assert set(check) == {"name", "status", "detail", "remedy", "kind"}
    assert pg.server.superuser_password not in json.dumps(doc)


def test_doctor_human_output_with_failures(project_dir: Path,
                                           capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://u:topsecret@127.0.0.1:{free_port()}/db")
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    code = main(["-c", str(ALEMBIC_INI), "doctor"])
    out = capsys.readouterr().out
    assert code == 1
    lines = out.splitlines()
    assert any(line.startswith("[✓] python") for line in lines)
    assert any(line.startswith("[✗] postgresql") for line in lines)
    assert any(line.startswith("[✗] redis") for line in lines)
    assert any(line.startswith("[✗] .env") for line in lines)
    assert "fix:" in out and "failed" in lines[-1]
    assert "topsecret" not in out


# -- env -------------------------------------------------------------------------------------

def test_env_set_show_generate(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = project_dir / ".env"
    original = b"# my settings\r\nexport LOG_LEVEL=debug  # keep\r\nSECRET_KEY=old\r\n"
    env.write_bytes(original)

    assert main(["env", "set", "DATABASE_URL", "postgresql://raptorflow:pw@localhost/rf"]) == 0
    out = capsys.readouterr().out
    assert "DATABASE_URL: (not set) -> postgresql://raptorflow:***@localhost/rf" in out
    assert env.read_bytes().startswith(original)
    # the mode the file had is kept (issue 9: never loosen, no silent change); new files 0600
    assert stat.S_IMODE(env.stat().st_mode) == 0o644
    assert (project_dir / ".env.bak").read_bytes() == original

    # a value that needs quoting round-trips through dotenv exactly
    tricky = "two words # and 'quotes' \"too\"\nsecond line"
    assert main(["env", "set", "GREETING", tricky]) == 0
    capsys.readouterr()
    assert dotenv_values(env, interpolate=False)["GREETING"] == tricky

    # invalid: exit 2 and not one byte changed
    before = env.read_bytes()
    assert main(["env", "set", "SECRET_KEY", "too-short"]) == 2
    assert main(["env", "set", "RAZORPAY_KEY_ID", "pk_live_123"]) == 2
    assert main(["env", "set", "BAD-NAME", "x"]) == 2
    assert env.read_bytes() == before
    err = capsys.readouterr().err
    assert "too-short" not in err and "nothing was written" in err

    assert main(["env", "generate-secret"]) == 0
    out = capsys.readouterr().out
    secret = dotenv_values(env)["SECRET_KEY"]
    # a second run would log every user out: refused without --force, nothing written
    before = env.read_bytes()
    assert main(["env", "generate-secret"]) == 2
    assert "--force" in capsys.readouterr().err
    assert env.read_bytes() == before
    assert main(["env", "generate-secret", "--force"]) == 0
    capsys.readouterr()
    assert dotenv_values(env)["SECRET_KEY"] != secret
    secret = dotenv_values(env)["SECRET_KEY"]
    assert secret and len(secret) == 64 and int(secret, 16) >= 0
    assert secret not in out and "old" not in out
    assert env.read_bytes().startswith(b"# my settings\r\nexport LOG_LEVEL=debug  # keep\r\n")
    assert main(["env", "generate-secret", "DATABASE_URL"]) == 2
    capsys.readouterr()

    assert main(["env", "show", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["values"]["SECRET_KEY"] == "*** (64 characters)"
    assert doc["values"]["DATABASE_URL"] == "postgresql://raptorflow:***@localhost/rf"
    assert doc["values"]["LOG_LEVEL"] == "debug"
    assert "SUPABASE_URL" in doc["missing"]
    assert secret not in json.dumps(doc)
    assert main(["env", "show", "--json", "--reveal"]) == 0
    assert json.loads(capsys.readouterr().out)["values"]["SECRET_KEY"] == secret
    assert main(["env", "show"]) == 0
    out = capsys.readouterr().out
    assert "Razorpay" in out and "(not set)" in out and secret not in out and ":pw@" not in out


def test_env_set_value_from_stdin(project_dir: Path) -> None:
    proc = rfsetup("env", "set", "RAZORPAY_KEY_SECRET", "-", cwd=project_dir,
                   stdin="Zx9Zx9Zx9Zx9Zx9Zx9Zx9Zx9\n")
    assert proc.returncode == 0, proc.stderr
    assert "Zx9Zx9" not in proc.stdout + proc.stderr
    assert dotenv_values(project_dir / ".env")["RAZORPAY_KEY_SECRET"] == "Zx9Zx9Zx9Zx9Zx9Zx9Zx9Zx9"
    # and from argv it works but warns about the process list
    proc = rfsetup("env", "set", "RAZORPAY_WEBHOOK_SECRET", "whsec-value-1", cwd=project_dir)
    assert proc.returncode == 0 and "process list" in proc.stderr


# -- db create -------------------------------------------------------------------------------

def test_db_create_write_env_then_migrate_up_as_the_role(
        pg: PgTestServer, names: tuple[str, str], tmp_path: Path) -> None:
    db, role = names
    admin = f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
    pgpass = {"PGPASSWORD": pg.server.superuser_password}
    env_file = tmp_path / ".env"
    env_file.write_text("# app settings\nSECRET_KEY=" + "k" * 40 + "\n")
    args = ("-c", str(ALEMBIC_INI), "db", "create", "--admin-url", admin, "--name", db,
            "--owner", role, "--password-stdin", "--write-env")

    dry = rfsetup(*args, "--dry-run", cwd=tmp_path, env=pgpass)
    assert dry.returncode == 0, dry.stderr
    assert "PASSWORD '***'" in dry.stdout and "nothing was changed" in dry.stdout
    assert env_file.read_text().startswith("# app settings\n")
    assert "DATABASE_URL" not in env_file.read_text()

    first = rfsetup(*args, cwd=tmp_path, stdin=PASSWORD + "\n", env=pgpass)
    assert first.returncode == 0, first.stderr
    assert f"created  role {role}" in first.stdout
    assert PASSWORD not in first.stdout + first.stderr
    assert "ünï" not in first.stdout + first.stderr
    written = dotenv_values(env_file, interpolate=False)["DATABASE_URL"]
    url = make_url(written)
    assert url.drivername == "postgresql+asyncpg"  # the guide's form, for the app
    assert (url.username, url.password, url.database, url.port) == (role, PASSWORD, db, pg.port)
    assert env_file.read_text().startswith("# app settings\nSECRET_KEY=")

    # the role logs in with exactly that password
    conn = psycopg2.connect(host="127.0.0.1", port=pg.port, user=role, password=PASSWORD,
                            dbname=db)
    conn.close()

    # a second run (no password: the existing one is kept, the .env's reused)
    second = rfsetup(*args[:-2], "--write-env", cwd=tmp_path, env=pgpass)
    assert second.returncode == 0, second.stderr
    assert f"exists   role {role}" in second.stdout
    assert f"exists   database {db} (owner {role})" in second.stdout
    assert "already points there" in second.stdout

    # then migrate up as the new role, through the CLI, backup first
    up = rfsetup("-c", str(ALEMBIC_INI), "migrate", "up", cwd=tmp_path)
    assert up.returncode == 0, up.stdout + up.stderr
    assert PASSWORD not in up.stdout + up.stderr
    conn = psycopg2.connect(host="127.0.0.1", port=pg.port, user=role, password=PASSWORD,
                            dbname=db)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                    "AND tableowner = current_user")
        assert cur.fetchone()[0] >= 15
    conn.close()


def test_db_create_defaults_from_database_url(pg: PgTestServer, tmp_path: Path) -> None:
    """No --admin-url: DATABASE_URL's server as postgres, PGPASSWORD for its password."""
    tag = uuid.uuid4().hex[:8]
    name = f"rf_{tag}"
    env = {"DATABASE_URL": f"postgresql://{name}:whatever@127.0.0.1:{pg.port}/{name}",
           "PGPASSWORD": pg.server.superuser_password}
    try:
        proc = rfsetup("db", "create", "--name", name, "--owner", name, "--password-stdin",
                       cwd=tmp_path, stdin="pw-" + tag, env=env)
        assert proc.returncode == 0, proc.stderr
        assert f"created  database {name} (owner {name})" in proc.stdout
    finally:
        pg.drop_database(name)
        pg.drop_role(name)


def test_db_create_refusals(pg: PgTestServer, tmp_path: Path) -> None:
    admin = f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
    pgpass = {"PGPASSWORD": pg.server.superuser_password}
    role = f"r_{uuid.uuid4().hex[:8]}"
    too_long = rfsetup("db", "create", "--admin-url", admin, "--name", "d" * 64, "--owner",
                       role, "--password-stdin", cwd=tmp_path, stdin="pw", env=pgpass)
    assert too_long.returncode == 2 and "63" in too_long.stderr
    empty = rfsetup("db", "create", "--admin-url", admin, "--owner", "", cwd=tmp_path,
                    env=pgpass)
    assert empty.returncode == 2
    # a new role, no password, nobody to ask: refused, nothing created
    no_pw = rfsetup("db", "create", "--admin-url", admin, "--name", role, "--owner", role,
                    cwd=tmp_path, env=pgpass)
    assert no_pw.returncode == 2 and "--password-stdin" in no_pw.stderr
    conn = pg.admin_connect()
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (role,))
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (role,))
        assert cur.fetchone()[0] == 0
    conn.close()
    # wrong admin password: exit 3, diagnosed, not shown
    bad = rfsetup("db", "create", "--admin-url", admin, cwd=tmp_path,
                  env={"PGPASSWORD": "wrong-admin-pw"})
    assert bad.returncode == 3 and "password rejected" in bad.stderr
    assert "wrong-admin-pw" not in bad.stderr
    down = rfsetup("db", "create", "--admin-url",
                   f"postgresql://postgres@127.0.0.1:{free_port()}/postgres", cwd=tmp_path)
    assert down.returncode == 3


# -- sandbox ---------------------------------------------------------------------------------

def test_sandbox_commands_and_doctor_all_green(tmp_path: Path) -> None:
    """A bare machine: no .env, no servers. `rfsetup --sandbox doctor` passes (the missing .env
    is an honest warning), migrate up works, stop leaves no process, data survives."""
    ini = ("-c", str(ALEMBIC_INI))
    try:
        never = rfsetup("sandbox", "status", cwd=tmp_path)
        assert never.returncode == 0 and "never started" in never.stdout

        doctor = rfsetup(*ini, "--sandbox", "doctor", "--json", cwd=tmp_path)
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        report = json.loads(doctor.stdout)
        statuses = {c["name"]: c["status"] for c in report["checks"]}
        assert report["summary"]["fail"] == 0, report
        assert statuses["postgresql"] == statuses["redis"] == statuses["pg_dump"] == "ok"
        assert statuses[".env"] == "warn"
        assert doctor.stderr == ""

        status = rfsetup("sandbox", "status", cwd=tmp_path)
        assert "running" in status.stdout and ":***@127.0.0.1" in status.stdout
        password = (tmp_path / ".rfsetup/sandbox/raptorflow.password").read_text().strip()
        assert password not in status.stdout

        up = rfsetup(*ini, "--sandbox", "migrate", "up", "--no-backup", cwd=tmp_path)
        assert up.returncode == 0, up.stdout + up.stderr

        info = json.loads(rfsetup(*ini, "--sandbox", "status", "--json", cwd=tmp_path).stdout)
        assert info["pending"] == 0 and len(info["tables"]) >= 15

        pids = [int(line.split("pid ")[1].split(",")[0]) for line in
                rfsetup("sandbox", "status", cwd=tmp_path).stdout.splitlines()
                if "PostgreSQL pid" in line]
        redis_pid = int(rfsetup("sandbox", "status", cwd=tmp_path).stdout.split("Redis pid ")[1]
                        .split()[0])
        stop = rfsetup("sandbox", "stop", cwd=tmp_path)
        assert stop.returncode == 0 and "data kept" in stop.stdout
        assert not any(pid_alive(pid) for pid in [*pids, redis_pid])
        assert "stopped" in rfsetup("sandbox", "status", cwd=tmp_path).stdout

        start = rfsetup("sandbox", "start", cwd=tmp_path)
        assert start.returncode == 0 and "running" in start.stdout
        info = json.loads(rfsetup(*ini, "--sandbox", "status", "--json", cwd=tmp_path).stdout)
        assert info["pending"] == 0 and len(info["tables"]) >= 15
    finally:
        rfsetup("sandbox", "stop", cwd=tmp_path)
