"""The support engineer's seven connection failures, provoked for real against `rfsetup status`.

Refused port, wrong password, missing role, missing database, unresolvable host, malformed URL
and an unescaped ``@`` in the password: each is named for what it is (the server answering and
refusing is never "unreachable"), with its own remedy, and the password never shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from psycopg2 import sql

from rfsetup.core.embedded import free_port
from tests.cli.conftest import Run
from tests.conftest import PgTestServer

#: a password with every character a URL must escape
PASSWORD = "p@ss:w/rd%?#-7Qz"


@pytest.fixture(scope="module")
def walk_role(pg: PgTestServer) -> Iterator[str]:
    conn = pg.admin_connect()
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE ROLE rf_walk LOGIN PASSWORD {}").format(
            sql.Literal(PASSWORD)))
    yield "rf_walk"
    with conn.cursor() as cur:
        cur.execute("DROP ROLE rf_walk")
    conn.close()


def _walks(port: int, role: str) -> dict[str, tuple[str, int, tuple[str, ...], tuple[str, ...]]]:
    """name -> (DATABASE_URL, exit code, words that must show, words that must not)."""
    good = quote(PASSWORD, safe="")
    return {
        "refused port": (f"postgresql://{role}:{good}@127.0.0.1:{free_port()}/postgres", 3,
                         ("server    not listening (connection refused)",
                          "no PostgreSQL server is accepting connections"),
                         ("server    unreachable", "systemctl start postgresql; macOS")),
        "wrong password": (f"postgresql://{role}:wrong@127.0.0.1:{port}/postgres", 3,
                           ("server    answered: login refused", "password rejected for rf_walk",
                            "check the password in DATABASE_URL"),
                           ("server    unreachable",)),
        "missing role": (f"postgresql://rf_nobody:{good}@127.0.0.1:{port}/postgres", 3,
                         ("server    answered: login refused", "db create --owner rf_nobody"),
                         ("server    unreachable",)),
        "missing database": (f"postgresql://{role}:{good}@127.0.0.1:{port}/rf_no_db", 3,
                             ("server    answered: no such database",
                              "db create --name rf_no_db --owner rf_walk"),
                             ("server    unreachable",)),
        "unresolvable host": (f"postgresql://{role}:{good}@no-such-host.invalid:5432/postgres", 3,
                              ("server    host name not found (DNS)",
                               "host no-such-host.invalid cannot be resolved"),
                              ("server    unreachable", "install")),
        "malformed URL": ("postgresql//rf_walk@127.0.0.1/postgres", 2,
                          ("server    not contacted", "is not a valid URL"),
                          ("server    unreachable", "localhost:5432")),
        "@ in the password": (f"postgresql://{role}:{PASSWORD}@127.0.0.1:{port}/postgres", 2,
                              ("server    not contacted", "password contains an unescaped @",
                               "%40"),
                              ("server    unreachable", "ss:w", "invalid port")),
    }


@pytest.mark.parametrize("walk", ["refused port", "wrong password", "missing role",
                                  "missing database", "unresolvable host", "malformed URL",
                                  "@ in the password"])
def test_each_failure_is_named_with_its_remedy(walk: str, run: Run, pg: PgTestServer,
                                               walk_role: str) -> None:
    url, code, shown, hidden = _walks(pg.port, walk_role)[walk]
    exit_code, out, err = run(url, "status")
    text = out + err
    assert exit_code == code, text
    for words in shown:
        assert words in text, (walk, words, text)
    for words in hidden:
        assert words not in text, (walk, words, text)
    for secret in (PASSWORD, quote(PASSWORD, safe=""), "rd%?#"):
        assert secret not in text, (walk, "the password leaked")


def test_a_wrong_admin_password_names_the_admin_url_not_database_url(
        run: Run, pg: PgTestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", "not-the-admin-password")
    code, out, err = run(pg.url("postgres").replace(pg.server.superuser_password, "x"),
                         "db", "create", "--admin-url",
                         f"postgresql://postgres@127.0.0.1:{pg.port}/postgres")
    assert code == 3
    assert "admin connection: password rejected for postgres" in err
    assert "PGPASSWORD" in err and "~/.pgpass" in err and "--admin-url" in err
    assert "DATABASE_URL" not in err and "--owner postgres" not in err
    assert "not-the-admin-password" not in out + err
