"""No secret printed (issue 9, "Secrets"): a `?password=` URL through every command that shows
a URL, against the real server (the query password must also be the one that connects); secret
variable names and a DSN's key in `env show`; control characters escaped on the terminal."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from psycopg2 import sql

from rfsetup.cli import main
from rfsetup.core.embedded import EmbeddedRedis
from tests.conftest import ALEMBIC_INI, PgTestServer
from tests.core.test_prereqs import GOOD_ENV

INI = ["-c", str(ALEMBIC_INI)]
# a password with what a URL must escape, and a unique marker to search the output for
PASSWORD = "Qp9Leak&Me@Not:/?#%"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def _leaks(text: str) -> list[str]:
    return [form for form in (PASSWORD, quote(PASSWORD, safe=""), "Qp9Leak") if form in text]


@pytest.fixture
def query_password_url(pg: PgTestServer, fresh_db: str) -> Iterator[str]:
    """A role whose password is given only as ?password= (libpq accepts it), on a fresh db."""
    role = f"qp_{uuid.uuid4().hex[:8]}"
    conn = pg.admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(PASSWORD)))
    finally:
        conn.close()
    database = fresh_db.rsplit("/", 1)[1]
    try:
        yield (f"postgresql://{role}@127.0.0.1:{pg.port}/{database}"
               f"?sslmode=disable&password={quote(PASSWORD, safe='')}")
    finally:
        pg.drop_database(database)
        pg.drop_role(role)


def test_a_query_password_connects_and_is_printed_nowhere(
        query_password_url: str, redis_server: EmbeddedRedis, project_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    env = project_dir / ".env"
    values = dict(GOOD_ENV, DATABASE_URL=query_password_url, REDIS_URL=redis_server.url())
    env.write_text("".join(f"{k}={v}\n" for k, v in values.items()))

    code, out, err = _run(capsys, *INI, "status")
    assert code == 0, err  # libpq got the query password: it connected
    assert "password=***" in out and not _leaks(out + err)
    code, out, err = _run(capsys, *INI, "status", "--json")
    assert code == 0 and not _leaks(out + err)
    assert "password=***" in json.loads(out)["database"]["url"]
    for argv in (("doctor",), ("doctor", "--json")):
        code, out, err = _run(capsys, *INI, *argv)
        assert not _leaks(out + err), argv
        # validation must not claim there is no password
        assert "has no password" not in out, argv
    for argv in (("env", "show"), ("env", "show", "--json")):
        code, out, err = _run(capsys, *INI, *argv)
        assert code == 0 and not _leaks(out + err), argv
        assert "has no password" not in out
    # env set's change line, old and new value
    other = query_password_url.replace("sslmode=disable", "sslmode=prefer")
    code, out, err = _run(capsys, *INI, "env", "set", "DATABASE_URL", other)
    assert code == 0, err
    assert "DATABASE_URL: " in out and "password=***" in out and not _leaks(out + err)
    # a wrong query password: the error names the failure, not the password
    wrong = query_password_url.replace(quote(PASSWORD, safe=""), "Qp9Leak-wrong")
    env.write_text(f"DATABASE_URL={wrong}\n")
    for argv in (("status",), ("status", "--json"), ("doctor",), ("doctor", "--json")):
        code, out, err = _run(capsys, *INI, *argv)
        assert code != 0 or argv[0] == "status", argv
        assert not _leaks(out + err), argv


SECRETS = {
    "DB_PASS": "Qp9Leak-db-pass", "SMTP_PASS": "Qp9Leak-smtp", "GPG_PASSPHRASE": "Qp9Leak-gpg",
    "REDIS_AUTH": "Qp9Leak-redis", "STRIPE_SK": "sk_live_Qp9Leak", "DB_PW": "Qp9Leak-pw",
    "JWT_SIGNING": "Qp9Leak-signing", "WEBHOOK_SIGNATURE": "Qp9Leak-signature",
    "SENTRY_DSN": "https://Qp9Leak0123@o1.ingest.sentry.io/1",
    "BACKUP_URL": "postgresql://u@h/db?password=Qp9Leak-query",
}


def test_env_show_masks_common_secret_names_and_a_dsn_key(
        project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """These were shown in clear (issue 9)."""
    body = "".join(f"{k}={v}\n" for k, v in SECRETS.items())
    (project_dir / ".env").write_text(body + "CDN_PASSTHROUGH=true\nLOG_LEVEL=debug\n")
    code, out, err = _run(capsys, "env", "show")
    assert code == 0 and not _leaks(out + err)
    assert "https://***@o1.ingest.sentry.io/1" in out and "password=***" in out
    assert re.search(r"CDN_PASSTHROUGH +true\n", out)  # not a secret
    code, out, err = _run(capsys, "env", "show", "--json")
    shown = json.loads(out)["values"]
    assert not _leaks(out + err)
    assert shown["CDN_PASSTHROUGH"] == "true" and shown["LOG_LEVEL"] == "debug"
    assert shown["SENTRY_DSN"] == "https://***@o1.ingest.sentry.io/1"
    assert shown["DB_PASS"] == f"*** ({len(SECRETS['DB_PASS'])} characters)"
    code, out, _ = _run(capsys, "env", "show", "--json", "--reveal")
    assert json.loads(out)["values"]["DB_PASS"] == SECRETS["DB_PASS"]


def test_control_characters_never_reach_the_terminal(
        project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Names and values were echoed raw (issue 9): an ESC in a .env could drive the
    terminal."""
    env = project_dir / ".env"
    env.write_bytes(b"EVIL\x1b]0;owned\x07=x\nNOTE=red\x1b[31malert\x1b[0m\nRTL=a\xe2\x80\xaeb\n")
    code, out, err = _run(capsys, "env", "show")
    assert code == 0
    assert "\x1b" not in out + err and "\x07" not in out and "\u202e" not in out
    assert "EVIL\\x1b]0;owned\\x07" in out and "red\\x1b[31malert\\x1b[0m" in out
    assert "a\\u202eb" in out
    code, out, err = _run(capsys, "env", "set", "NOTE", "blue\x1b[34m\x9b2J")
    assert code == 0, err
    assert "\x1b" not in out + err and "\x9b" not in out + err
    assert "NOTE: red\\x1b[31malert\\x1b[0m -> blue\\x1b[34m\\x9b2J" in out
    # the value itself is stored as given
    from dotenv import dotenv_values

    assert dotenv_values(env)["NOTE"] == "blue\x1b[34m\x9b2J"
