"""Every connection failure class, provoked for real, is named with its fix and no password."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql

from rfsetup.core.connect import connect
from rfsetup.core.embedded import EmbeddedPostgres, free_port
from rfsetup.core.errors import ExitCode, RfsetupError
from rfsetup.core.settings import normalize_database_url

SECRET = "s3cret-Pa55word"


def _fail(url: str, **kw: object) -> RfsetupError:
    with pytest.raises(RfsetupError) as info:
        connect(normalize_database_url(url), **kw).close()  # type: ignore[arg-type]
    err = info.value
    assert err.exit_code == ExitCode.CONNECT
    text = f"{err.message} {err.hint} {err.cause}"
    assert SECRET not in text, "the password leaked into the diagnosis"
    assert err.hint, "every diagnosis carries a fix"
    return err


@pytest.fixture(scope="module")
def app_role(pg) -> Iterator[str]:
    conn = pg.admin_connect()
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE ROLE rf_app LOGIN PASSWORD {}").format(sql.Literal(SECRET)))
    yield "rf_app"
    with conn.cursor() as cur:
        cur.execute("DROP ROLE rf_app")
    conn.close()


def test_ok(pg, app_role: str) -> None:
    conn = connect(normalize_database_url(
        f"postgresql://{app_role}:{SECRET}@127.0.0.1:{pg.port}/postgres"))
    with conn.cursor() as cur:
        cur.execute("SELECT current_user, current_setting('application_name')")
        assert cur.fetchone() == (app_role, "rfsetup")
    conn.close()


def test_password_rejected(pg, app_role: str) -> None:
    err = _fail(f"postgresql://{app_role}:wrong-{SECRET}@127.0.0.1:{pg.port}/postgres")
    assert err.kind == "password_rejected"
    assert app_role in err.message


def test_database_missing(pg, app_role: str) -> None:
    err = _fail(f"postgresql://{app_role}:{SECRET}@127.0.0.1:{pg.port}/no_such_db")
    assert err.kind == "database_missing"
    assert "rfsetup db create" in (err.hint or "")


def test_role_missing_over_trusted_socket(pg) -> None:
    # over TCP, SCRAM hides whether a role exists; the local socket (trust) tells the truth
    err = _fail(f"postgresql://no_such_role@/postgres?host={pg.server.pgdata}&port={pg.port}")
    assert err.kind == "role_missing"


def test_password_missing(pg, app_role: str) -> None:
    err = _fail(f"postgresql://{app_role}@127.0.0.1:{pg.port}/postgres")
    assert err.kind == "password_missing"


def test_port_refused() -> None:
    err = _fail(f"postgresql://u:{SECRET}@127.0.0.1:{free_port()}/raptorflow")
    assert err.kind == "server_down"
    assert "port" in (err.hint or "")  # the remedy for this machine: tests/core/test_remedies.py


def test_host_unresolvable() -> None:
    err = _fail(f"postgresql://u:{SECRET}@no-such-host.invalid:5432/raptorflow")
    assert err.kind == "host_unresolvable"


def test_timeout_against_a_silent_listener() -> None:
    # a TCP peer that accepts and never speaks, as a firewall that drops traffic looks to libpq
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        port = listener.getsockname()[1]
        err = _fail(f"postgresql://u:{SECRET}@127.0.0.1:{port}/raptorflow", timeout=2)
        assert err.kind == "timeout"
    finally:
        stop.set()
        thread.join()
        for s in accepted:
            s.close()
        listener.close()


def test_ssl_required_by_url_but_unsupported(pg, app_role: str) -> None:
    err = _fail(f"postgresql://{app_role}:{SECRET}@127.0.0.1:{pg.port}/postgres?sslmode=require")
    assert err.kind == "ssl_unsupported"


def test_asyncpg_ssl_flag_is_translated() -> None:
    url = normalize_database_url("postgresql+asyncpg://u:p@h:5432/db?ssl=true")
    assert url.drivername == "postgresql+psycopg2"
    assert dict(url.query) == {"sslmode": "require"}


def test_pg_hba_rejection(pg) -> None:
    hba = pg.server.pgdata / "pg_hba.conf"
    original = hba.read_text()
    conn = pg.admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE ROLE rf_blocked LOGIN PASSWORD {}").format(
                sql.Literal(SECRET)))
        hba.write_text("host all rf_blocked 127.0.0.1/32 reject\n" + original)
        with conn.cursor() as cur:
            cur.execute("SELECT pg_reload_conf()")
        err = _fail(f"postgresql://rf_blocked:{SECRET}@127.0.0.1:{pg.port}/postgres")
        assert err.kind == "pg_hba_rejected"
        assert "pg_hba.conf" in (err.hint or "")
    finally:
        hba.write_text(original)
        with conn.cursor() as cur:
            cur.execute("SELECT pg_reload_conf()")
            cur.execute("DROP ROLE IF EXISTS rf_blocked")
        conn.close()


def test_server_stopped_then_back(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "pg")
    server.start()
    url = server.url()
    try:
        connect(normalize_database_url(url)).close()
        server.stop()
        err = _fail(url)
        assert err.kind == "server_down"
        server.start()
        connect(normalize_database_url(url)).close()
    finally:
        server.destroy()


def test_too_many_clients(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "pg", server_settings={
        "max_connections": "3", "superuser_reserved_connections": "0",
        "reserved_connections": "0"})
    server.start()
    held: list[psycopg2.extensions.connection] = []
    try:
        url = normalize_database_url(server.url())
        for _ in range(3):
            held.append(connect(url))
        err = _fail(server.url())
        assert err.kind == "too_many_clients"
    finally:
        for c in held:
            c.close()
        server.destroy()


@pytest.mark.parametrize("raw", ["", "not a url", "mysql://u:p@h/db", "postgresql://u:p@h:99999/db",
                                 "postgresql://u:p@h:5432"])
def test_bad_urls_are_bad_input(raw: str) -> None:
    with pytest.raises(RfsetupError) as info:
        normalize_database_url(raw)
    assert info.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+asyncpg",
                                    "postgresql+psycopg2", "postgresql+psycopg"])
def test_every_scheme_maps_to_psycopg2(scheme: str) -> None:
    url = normalize_database_url(f"{scheme}://u:p%40ss%25@localhost:5432/raptorflow")
    assert url.drivername == "postgresql+psycopg2"
    assert url.password == "p@ss%"


def test_refusals_are_the_server_answering_never_unreachable(pg, app_role: str) -> None:
    from rfsetup.core.connect import server_answered, server_words, verdict

    wrong = _fail(f"postgresql://{app_role}:wrong-{SECRET}@127.0.0.1:{pg.port}/postgres")
    no_db = _fail(f"postgresql://{app_role}:{SECRET}@127.0.0.1:{pg.port}/no_such_db")
    no_role = _fail(f"postgresql://no_such_role@/postgres?host={pg.server.pgdata}&port={pg.port}")
    for err, words in ((wrong, "login refused"), (no_db, "no such database"),
                       (no_role, "no such role")):
        assert server_answered(err) and verdict(err).startswith("answered: "), err.kind
        assert words in verdict(err) and "unreachable" not in err.message
        said = server_words(err.cause) or ""
        assert said.startswith("FATAL:") and "connection to server" not in said
    # the socket's target is the socket directory, not "localhost:5432"
    assert str(pg.server.pgdata) in no_role.message and f":{pg.port}" in no_role.message
    # over TCP a missing role reads as a wrong password: the hint says both
    assert "db create --owner" in (wrong.hint or "") and "password" in (wrong.hint or "")
