"""`rfsetup support-bundle`: a .env full of realistic secrets, real runs in the run log, and
not one of those values anywhere in the bundle (every file unpacked and searched, in every
spelling a URL may carry); what a ticket needs is there."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import tarfile
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest

from rfsetup.cli import main
from rfsetup.core import runlog
from rfsetup.core.settings import load_settings
from tests.conftest import ALEMBIC_INI


def _jwt(payload: dict[str, object], key: bytes) -> str:
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(payload).encode())
    signature = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
ANON = _jwt({"iss": "supabase", "ref": "abcdefghijklmnop", "role": "anon",
             "iat": 1700000000, "exp": 2000000000}, JWT_SECRET.encode())
SERVICE = _jwt({"iss": "supabase", "ref": "abcdefghijklmnop", "role": "service_role",
                "iat": 1700000000, "exp": 2000000000}, JWT_SECRET.encode())
RAZORPAY_ID = "rzp_test_1DP5mmOlF5G5ag"
RAZORPAY_SECRET = "Xy9vQw3rT6uI8oP1aS2dF4gH"
SECRET_KEY = hashlib.sha256(b"rfsetup support bundle test").hexdigest()
SENTRY_KEY = "0123456789abcdef0123456789abcdef"
QUERY_PASSWORD = "Qu3ry-Str1ng/Pw&more"
REDIS_PASSWORD = "r3dis-Pa55word-x"
SMTP_PASSWORD = "correct horse battery staple 42"


def _env_text(database_url: str, redis_port: int) -> str:
    return (
        "# realistic: every value below is a secret a ticket must never carry\n"
        f"DATABASE_URL={database_url}\n"
        f"REDIS_URL=redis://:{REDIS_PASSWORD}@127.0.0.1:{redis_port}/0\n"
        "SUPABASE_URL=https://abcdefghijklmnop.supabase.co\n"
        f"SUPABASE_ANON_KEY={ANON}\n"
        f"SUPABASE_SERVICE_ROLE_KEY={SERVICE}\n"
        f"SUPABASE_JWT_SECRET={JWT_SECRET}\n"
        f"RAZORPAY_KEY_ID={RAZORPAY_ID}\n"
        f"RAZORPAY_KEY_SECRET={RAZORPAY_SECRET}\n"
        f"SECRET_KEY={SECRET_KEY}\n"
        f"SENTRY_DSN=https://{SENTRY_KEY}@o123456.ingest.sentry.io/42\n"
        "ANALYTICS_URL=postgresql://reporter@analytics.internal:5432/stats"
        f"?password={quote(QUERY_PASSWORD, safe='')}&sslmode=require\n"
        f'SMTP_PASSWORD="{SMTP_PASSWORD}"\n'
        "APP_ENV=development\n"
    )


def _secrets(database_url: str) -> list[str]:
    db_password = database_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    values = [ANON, SERVICE, JWT_SECRET, RAZORPAY_ID, RAZORPAY_SECRET, SECRET_KEY, SENTRY_KEY,
              QUERY_PASSWORD, REDIS_PASSWORD, SMTP_PASSWORD, db_password]
    # and the JWTs' signatures alone, and every URL spelling of each value
    values += [jwt.rsplit(".", 1)[1] for jwt in (ANON, SERVICE)]
    return sorted({form for v in values for form in (v, quote(v, safe=""), quote(v))})


def _unpack(path: Path) -> dict[str, bytes]:
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            return {name: archive.read(name) for name in archive.namelist()}
    with tarfile.open(path) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers()
                if m.isfile()}


@pytest.fixture
def secret_project(fresh_db: str, redis_server, project_dir: Path,
                   monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in ("DATABASE_URL", "REDIS_URL", "RFSETUP_ENV"):
        monkeypatch.delenv(key, raising=False)
    env = project_dir / ".env"
    env.write_text(_env_text(fresh_db, redis_server.port))
    return env


def _rfsetup(capsys: pytest.CaptureFixture[str], env: Path, *argv: str) -> tuple[int, str]:
    code = main(["-c", str(ALEMBIC_INI), "--env-file", str(env), *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out + err


@pytest.mark.parametrize("suffix", [".tar.gz", ".zip"])
def test_no_secret_of_the_env_is_anywhere_in_the_bundle(
        secret_project: Path, fresh_db: str, capsys: pytest.CaptureFixture[str],
        suffix: str) -> None:
    env = secret_project
    # real runs, so the run log has lines that name the target: an upgrade, a backup, and a
    # failure (a revision that does not exist)
    assert _rfsetup(capsys, env, "migrate", "up", "0002_billing")[0] == 0
    assert _rfsetup(capsys, env, "backup", "create")[0] == 0
    assert _rfsetup(capsys, env, "migrate", "up", "no_such_revision")[0] == 2
    settings = load_settings(env, ALEMBIC_INI, environ={}, cwd=env.parent)
    (log,) = runlog.log_files(settings)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700

    output = env.parent / f"ticket{suffix}"
    code, said = _rfsetup(capsys, env, "support-bundle", "-o", str(output))
    assert code == 0, said
    assert f"support bundle written to {output}" in said
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    files = _unpack(output)
    names = {name.removeprefix("support-bundle/") for name in files}
    assert {"README.txt", "doctor.json", "doctor.txt", "status.json", "status.txt",
            "versions.json", "history.json", "history.txt", "env-keys.json", "server.json",
            "logs/runs.log"} <= names

    for secret in _secrets(fresh_db):
        for name, data in files.items():
            assert secret.encode() not in data, f"{secret[:6]}… is in {name}"
        assert secret not in said

    def doc(name: str) -> bytes:
        return files[f"support-bundle/{name}"]

    # what a ticket needs is there
    run_log = doc("logs/runs.log").decode()
    assert "[migrate up 0002_billing] start" in run_log and "end: at 0002_billing" in run_log
    assert "[backup create] end:" in run_log and "no_such_revision" in run_log
    keys = {row["key"]: row for row in json.loads(doc("env-keys.json"))["keys"]}
    assert set(keys) >= {"DATABASE_URL", "SUPABASE_ANON_KEY", "RAZORPAY_KEY_ID", "SECRET_KEY"}
    assert keys["SUPABASE_ANON_KEY"]["looks_like"] == "JWT"
    assert keys["RAZORPAY_KEY_ID"]["looks_like"] == "Razorpay test key"
    assert keys["SECRET_KEY"]["value"] == "*** (64 characters)"
    assert "analytics.internal" in keys["ANALYTICS_URL"]["value"]  # hosts help; secrets don't
    server = json.loads(doc("server.json"))
    assert server["settings"]["max_connections"]["value"] == "60"
    assert {"statement_timeout", "lock_timeout", "ssl"} <= set(server["settings"])
    assert server["pooler"]["proxied"] is False and server["pooler"]["transaction_mode"] is False
    versions = json.loads(doc("versions.json"))
    assert versions["packages"]["alembic"] and versions["postgresql_server"].startswith("Postg")
    assert versions["pg_tools"]["pg_dump"]
    status = json.loads(doc("status.json"))
    assert status["current"] == ["0002_billing"] and status["pending"] == 2
    assert "@ 0002_billing" in doc("history.txt").decode()
    assert json.loads(doc("doctor.json"))["checks"]


def test_the_bundle_is_made_when_the_server_is_down(project_dir: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    env = project_dir / ".env"
    env.write_text("DATABASE_URL=postgresql://app:D0wn-Server-pw@127.0.0.1:1/app\n")
    output = project_dir / "down.tar.gz"
    code, said = _rfsetup(capsys, env, "support-bundle", "-o", str(output))
    assert code == 0, said
    files = _unpack(output)
    assert all(b"D0wn-Server-pw" not in data for data in files.values())
    server = json.loads(files["support-bundle/server.json"])
    assert server["error"]["exit_code"] == 3
    assert "no PostgreSQL server is accepting" in server["error"]["message"]
    # an existing file is never replaced
    code, said = _rfsetup(capsys, env, "support-bundle", "-o", str(output))
    assert code == 2 and "exists; nothing was written" in said
