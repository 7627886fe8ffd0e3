"""Regressions found by using the headless CLI as its users do (new contributor, support, on-call).

Each test replays one problem seen in a real session against the real servers: the command, then
what the user must (and must not) see. Secrets are unique strings so a leak anywhere in stdout or
stderr is caught.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from alembic import command
from alembic.config import Config

from rfsetup.cli import build_parser, main
from rfsetup.core.embedded import EmbeddedRedis, _port_is_free
from rfsetup.core.envfile import mask
from rfsetup.core.settings import load_settings, mask_url
from rfsetup.core.status import collect_status
from tests.conftest import ALEMBIC_INI, PgTestServer

SECRET = "Zq9SecretPart"
INI = ["-c", str(ALEMBIC_INI)]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _upgrade(url: str, target: str = "head") -> None:
    cfg = Config(str(ALEMBIC_INI))
    cfg.attributes["database_url"] = url
    cfg.attributes["rfsetup"] = True
    command.upgrade(cfg, target)


# -- on-call: a database ahead of the checkout ---------------------------------------------------

def test_status_at_a_revision_the_scripts_lack_explains_instead_of_traceback(
        fresh_db: str, redis_server: EmbeddedRedis, project_dir: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`rfsetup status` raised alembic's ResolutionError when the version table named a revision
    this checkout does not have: exactly the state an on-call engineer needs explained."""
    _upgrade(fresh_db)
    conn = psycopg2.connect(fresh_db.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        with conn, conn.cursor() as cur:
            cur.execute("UPDATE alembic_version SET version_num = 'f00dfeed1234'")
    finally:
        conn.close()
    monkeypatch.setenv("DATABASE_URL", fresh_db)
    monkeypatch.setenv("REDIS_URL", redis_server.url())

    report = collect_status(load_settings(alembic_ini=ALEMBIC_INI))
    assert report.current == ("f00dfeed1234",) and report.pending is None
    assert report.scripts_error is not None and report.scripts_error.kind == "unknown_revision"

    code, out, err = _run(capsys, *INI, "status")
    assert code == 0, err
    assert "revision  f00dfeed1234" in out
    assert "f00dfeed1234, which this project's migration scripts do not contain" in out
    assert "rfsetup migrate stamp" in out
    assert "pending" not in out  # unknown, so not claimed

    code, out, _ = _run(capsys, *INI, "status", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["pending"] is None and doc["current"] == ["f00dfeed1234"]
    assert doc["scripts_error"]["error"] == "unknown_revision"
    assert doc["heads"] and doc["heads"][0] != "f00dfeed1234"


def test_status_without_alembic_config_does_not_claim_no_revisions(
        fresh_db: str, redis_server: EmbeddedRedis, project_dir: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Run outside the project (no ./alembic.ini), status said `head (no revisions)`."""
    monkeypatch.setenv("DATABASE_URL", fresh_db)
    monkeypatch.setenv("REDIS_URL", redis_server.url())
    code, out, _ = _run(capsys, "status")
    assert code == 0
    assert "head      unknown (migration scripts not read)" in out
    assert "(no revisions)" not in out
    assert f"no Alembic config at {project_dir / 'alembic.ini'}" in out
    assert "hint: " in out and "or pass -c path/to/alembic.ini" in out


# -- support: passwords never shown, bad URLs are bad input --------------------------------------

def _unescaped_at_url(pg: PgTestServer) -> str:
    return f"postgresql://raptorflow:p@{SECRET}@127.0.0.1:{pg.port}/raptorflow"


@pytest.mark.parametrize(("argv", "expected"), [
    (("status", "--json"), 2),
    (("migrate", "up"), 2),
    (("migrate", "history"), 2),
    (("doctor",), 1),
])
def test_unescaped_at_in_password_is_bad_input_and_never_shown(
        pg: PgTestServer, project_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], expected: int) -> None:
    """`p@Secret` unescaped: SQLAlchemy put `Secret@127.0.0.1` in the host, and every message
    (`host Secret@127.0.0.1 cannot be resolved`, the masked URL) showed half the password."""
    monkeypatch.setenv("DATABASE_URL", _unescaped_at_url(pg))
    monkeypatch.setenv("REDIS_URL", f"redis://:r@{SECRET}@127.0.0.1:1/0")
    code, out, err = _run(capsys, *INI, *argv)
    assert code == expected
    assert SECRET not in out + err
    assert "unescaped @" in out + err and "%40" in out + err


def test_env_set_refuses_unescaped_at_and_env_show_masks_typos(
        project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "env", "set", "DATABASE_URL",
                          f"postgresql://u:p@{SECRET}@localhost:5432/raptorflow")
    assert code == 2 and not (project_dir / ".env").exists()
    assert SECRET not in out + err and "%40" in err
    # a URL typed by hand with a broken scheme still has a password to hide
    (project_dir / ".env").write_text(f"DATABASE_URL=postgresql//u:{SECRET}@localhost/rf\n"
                                      f"BACKUP_URL=postgres:u:{SECRET}@db/x\n")
    for argv in (("env", "show"), ("env", "show", "--json"), ("status",), ("doctor",)):
        code, out, err = _run(capsys, *argv)
        assert SECRET not in out + err, argv


@pytest.mark.parametrize("raw", [
    f"postgresql://u:p@{SECRET}@h:5432/db",
    f"postgresql//u:{SECRET}@h/db",
    f"postgresql:u:{SECRET}@h/db",
    f"redis://:p@{SECRET}@h:6379/0",
    f"postgresql://u:{SECRET}@h:notaport/db",
])
def test_masking_hides_the_password_of_malformed_urls(raw: str) -> None:
    assert SECRET not in mask_url(raw)
    assert SECRET not in mask("DATABASE_URL", raw)
    assert "***" in mask_url(raw) and "***" in mask("DATABASE_URL", raw)


@pytest.mark.parametrize(("query", "kind"), [
    ("sslmode=bogus", "bad_url_value"),
    ("connect_timeout=abc", "bad_url_value"),
    ("foo=bar", "bad_url_option"),
])
def test_invalid_url_query_is_bad_input_not_cannot_connect(
        pg: PgTestServer, project_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], query: str, kind: str) -> None:
    """libpq rejects these before connecting; they exited 3 with a bare `cannot connect`."""
    monkeypatch.setenv("DATABASE_URL", f"{pg.url('postgres')}?{query}")
    code, out, err = _run(capsys, *INI, "migrate", "history")
    assert code == 2
    assert "DATABASE_URL has" in err and "?query" in err
    assert query.split("=")[0] in err  # the cause names the parameter
    code, out, _ = _run(capsys, *INI, "status", "--json")
    assert code == 2 and json.loads(out)["database"]["error"]["error"] == kind
    assert pg.server.superuser_password not in out + err


def test_bad_port_says_port_not_valueerror(project_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://u:{SECRET}@127.0.0.1:notaport/db")
    code, out, err = _run(capsys, *INI, "migrate", "up")
    assert code == 2
    assert "DATABASE_URL has an invalid port" in err and "ValueError" not in err
    assert SECRET not in out + err
    # status tried no server, so it must not send anyone to check the network
    code, out, err = _run(capsys, *INI, "status")
    assert code == 2 and "server    not contacted" in out and "unreachable" not in out.split(
        "redis")[0]
    assert SECRET not in out + err


def test_ssl_hint_names_the_sslmode_in_the_url(
        pg: PgTestServer, project_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The embedded server has no SSL; the hint told a verify-full user to remove `require`."""
    monkeypatch.setenv("DATABASE_URL", f"{pg.url('postgres')}?sslmode=verify-full")
    code, _, err = _run(capsys, *INI, "migrate", "history")
    assert code == 3
    assert "remove sslmode=verify-full" in err


def test_password_rejected_hint_names_role_and_database(
        pg: PgTestServer, project_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A missing role reads as a rejected password; the hint's db create must create *it*."""
    monkeypatch.setenv("DATABASE_URL",
                       f"postgresql://ghost_role:{SECRET}@127.0.0.1:{pg.port}/ghost_db")
    code, out, err = _run(capsys, *INI, "migrate", "history")
    assert code == 3
    assert "rfsetup db create --owner ghost_role --name ghost_db" in err
    assert SECRET not in out + err


# -- new contributor: .env handling --------------------------------------------------------------

def test_env_file_that_is_a_directory_is_bad_input(
        project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--env-file backend` (the folder) raised IsADirectoryError with a traceback."""
    (project_dir / "backend").mkdir()
    for argv in (("env", "show"), ("env", "set", "A", "b"), ("status",)):
        code, _, err = _run(capsys, "--env-file", "backend", *argv)
        assert code == 2, argv
        assert "is a directory, not a .env file" in err


def test_env_set_does_not_create_directories_for_a_mistyped_env_file(
        project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "--env-file", "bakend/conf/.env", "env", "set", "A", "b")
    assert code == 2 and "does not exist" in err
    assert not (project_dir / "bakend").exists()


def test_env_show_reports_an_unparsable_line_once(
        project_dir: Path, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    """dotenv logged `could not parse statement` once per read (nine times for one `env show`)
    and the listing never said which line was being ignored."""
    (project_dir / ".env").write_text('NOTE="unterminated\nSECRET_KEY=x\nAPP=raptor\n')
    with caplog.at_level(logging.WARNING, logger="dotenv.main"):
        code, out, _ = _run(capsys, "env", "show")
    assert code == 0
    assert "line 1 cannot be parsed" in out
    assert len([r for r in caplog.records if r.name == "dotenv.main"]) <= 1
    code, out, _ = _run(capsys, "env", "show", "--json")
    assert code == 0 and json.loads(out)["unparsed_lines"] == [1]


# -- new contributor: the sandbox comes back where it was ---------------------------------------

def _time_wait_on(port: int) -> None:
    """Leave a connection in TIME_WAIT on ``port``'s server side, as a stopped server does."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(1)
    client = socket.create_connection(("127.0.0.1", port))
    served, _ = listener.accept()
    served.close()  # the server closes first: its side of the pair waits out TIME_WAIT
    client.recv(1)
    client.close()
    listener.close()


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEADDR"), reason="needs SO_REUSEADDR")
def test_a_port_in_time_wait_is_free_for_a_restarted_server() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    _time_wait_on(port)
    plain = socket.socket()
    try:
        with pytest.raises(OSError):  # the old check: a plain bind is refused ...
            plain.bind(("127.0.0.1", port))
    finally:
        plain.close()
    assert _port_is_free(port)  # ... yet PostgreSQL and Redis could listen there


def test_embedded_redis_restarts_on_the_same_port(tmp_path: Path) -> None:
    """`sandbox stop` then `sandbox start` moved Redis to a new port (SHUTDOWN leaves the old
    one in TIME_WAIT), so the REDIS_URL printed by the first start stopped working."""
    redis = EmbeddedRedis(tmp_path / "redis")
    redis.start()
    try:
        first = redis.url()
        redis.stop()
        again = EmbeddedRedis(tmp_path / "redis")
        again.start()
        assert again.url() == first
    finally:
        EmbeddedRedis(tmp_path / "redis").stop()


# -- every user: --help is the documentation -----------------------------------------------------

def _parsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield parser.prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _parsers(child)


def test_every_argument_and_option_is_explained_in_help() -> None:
    """`rfsetup env set --help` never said that VALUE `-` reads standard input (the way to keep
    a secret out of shell history), and a dozen --json/--yes/TARGET had no help at all."""
    undocumented = [f"{prog} {action.dest}" for prog, parser in _parsers(build_parser())
                    for action in parser._actions
                    if not isinstance(action, (argparse._HelpAction, argparse._VersionAction,
                                               argparse._SubParsersAction))
                    and not action.help]
    assert undocumented == []
    value = next(a for a in dict(_parsers(build_parser()))["rfsetup env set"]._actions
                 if a.dest == "value")
    assert "standard input" in (value.help or "")


def test_sandbox_flag_does_not_start_servers_for_env_commands(
        project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`rfsetup --sandbox env set …` ran initdb and started PostgreSQL and Redis (seconds, and
    daemons left running) to edit a text file."""
    try:
        code, _, _ = _run(capsys, "--sandbox", "env", "set", "APP_NAME", "raptor")
        assert code == 0
        code, out, _ = _run(capsys, "--sandbox", "env", "show", "--json")
        assert code == 0 and json.loads(out)["values"]["APP_NAME"] == "raptor"
        assert not (project_dir / ".rfsetup").exists()
    finally:
        if (project_dir / ".rfsetup").exists():  # the regression: leave no daemon behind
            main(["sandbox", "stop"])


def test_env_show_keeps_one_line_per_key(project_dir: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """A multi-line value broke the listing over several lines, and leading blanks vanished."""
    assert main(["env", "set", "GREETING", "line one\nline two"]) == 0
    assert main(["env", "set", "PADDED", "  padded "]) == 0
    assert main(["env", "set", "PLAIN", "raptor flow"]) == 0
    capsys.readouterr()
    code, out, _ = _run(capsys, "env", "show")
    assert code == 0
    rows = [ln.strip().split(None, 1) for ln in out.splitlines() if ln.strip()]
    assert ["GREETING", '"line one\\nline two"'] in rows
    assert ["PADDED", '"  padded "'] in rows
    assert ["PLAIN", "raptor flow"] in rows
    assert ["line", "two"] not in rows


# -- support: db create's admin connection is not DATABASE_URL ----------------------------------

def test_db_create_admin_failures_speak_of_the_admin_connection(
        pg: PgTestServer, project_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A wrong admin password (PGPASSWORD) was answered with 'check the password in
    DATABASE_URL … rfsetup db create --owner postgres', and --admin-url errors were called
    DATABASE_URL's: the support engineer fixed the wrong thing."""
    # the wrong password inside the URL, not in PGPASSWORD: then no prompt is offered even when
    # the tests run at a terminal
    admin = f"postgresql://postgres:{SECRET}@127.0.0.1:{pg.port}"
    monkeypatch.setattr("sys.stdin", io.StringIO("NewRolePw1\n"))
    code, out, err = _run(capsys, "db", "create", "--admin-url", admin, "--password-stdin")
    assert code == 3
    assert "admin connection: password rejected for postgres" in err
    assert "PGPASSWORD" in err and "DATABASE_URL" not in err and "db create --owner" not in err
    assert SECRET not in out + err

    monkeypatch.setattr("sys.stdin", io.StringIO("NewRolePw1\n"))
    code, out, err = _run(capsys, "db", "create", "--admin-url",
                          f"postgresql://postgres:p@{SECRET}@127.0.0.1:{pg.port}",
                          "--password-stdin")
    assert code == 2
    assert "--admin-url's password contains an unescaped @" in err
    assert SECRET not in out + err


# -- the plain alembic CLI: the same diagnosis, with the line that names the culprit ----------

def test_plain_alembic_cli_shows_the_cause_of_a_bad_url(pg: PgTestServer) -> None:
    """`alembic current` with ?sslmode=bogus said 'fix the value named above' and named none:
    env.py dropped the cause line."""
    from tests.core.test_alembic_cli import alembic

    result = alembic("current", url=f"postgresql://u:{SECRET}@127.0.0.1:{pg.port}/db"
                     "?sslmode=bogus", ok=False)
    assert result.returncode != 0
    assert 'cause: invalid sslmode value: "bogus"' in result.stderr
    assert "Traceback" not in result.stderr and SECRET not in result.stdout + result.stderr
