"""db create's core against the real embedded PostgreSQL: quoting, SCRAM, idempotency, and the
role's right to migrate on PostgreSQL 15+."""

from __future__ import annotations

import io
import uuid
from dataclasses import asdict

import psycopg2
import pytest
from psycopg2 import sql
from sqlalchemy.engine import make_url

from rfsetup.core.connect import connect
from rfsetup.core.errors import ExitCode, RfsetupError
from rfsetup.core.provision import inspect_server, plan_provision, provision, role_url
from tests.conftest import ALEMBIC_INI, PgTestServer

TRICKY_PASSWORD = "p' \" \\ $1 ${X} %s; -- ünïcødé ☃ @:/?#"


def _admin(pg: PgTestServer):  # -> URL
    return make_url(pg.admin_url())


def _login(pg: PgTestServer, db: str, role: str, password: str) -> psycopg2.extensions.connection:
    return connect(make_url(pg.admin_url(db)).set(username=role, password=password))


def test_plan_shows_quoted_names_and_no_secret() -> None:
    plan = plan_provision('my "db"', "owner role")
    text = "\n".join(plan)
    assert 'CREATE ROLE "owner role" LOGIN PASSWORD \'***\'' in text
    assert 'CREATE DATABASE "my ""db""" OWNER "owner role"' in text
    assert 'GRANT CREATE, USAGE ON SCHEMA public TO "owner role"' in text


@pytest.mark.parametrize(("name", "owner"), [
    ("", "raptorflow"),
    ("raptorflow", ""),
    ("x" * 64, "raptorflow"),
    ("raptorflow", "é" * 32),  # 64 bytes in UTF-8 though 32 characters
])
def test_bad_names_are_refused_before_anything_happens(pg: PgTestServer, name: str,
                                                      owner: str) -> None:
    with pytest.raises(RfsetupError) as info:
        provision(_admin(pg), name, owner, "pw")
    assert info.value.exit_code == ExitCode.USAGE
    with pytest.raises(RfsetupError):
        plan_provision(name, owner)
    state = inspect_server(_admin(pg), name or "-", owner or "-")
    assert not state.role_exists and not state.database_exists


def test_63_bytes_is_accepted_by_the_plan() -> None:
    assert plan_provision("x" * 63, "y" * 63)


def test_create_login_twice_and_change_password(pg: PgTestServer, names: tuple[str, str]) -> None:
    db, role = names
    first = provision(_admin(pg), db, role, TRICKY_PASSWORD)
    assert first.created == [f"role {role}", f"database {db} (owner {role})"]
    assert first.existing == []
    assert TRICKY_PASSWORD not in repr(first) + repr(asdict(first))
    assert "***" in first.database_url
    # the real URL parses back to exactly the password, and that password logs in
    real = make_url(role_url(_admin(pg), role, TRICKY_PASSWORD, db).render_as_string(
        hide_password=False))
    assert (real.username, real.password, real.database) == (role, TRICKY_PASSWORD, db)
    with _login(pg, db, role, TRICKY_PASSWORD) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_user, current_database()")
        assert cur.fetchone() == (role, db)
    conn.close()
    # stored as a SCRAM verifier
    with pg.admin_connect() as admin, admin.cursor() as cur:
        cur.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,))
        assert cur.fetchone()[0].startswith("SCRAM-SHA-256$4096:")
    admin.close()

    # a second run without a password changes nothing and says what exists
    second = provision(_admin(pg), db, role, None)
    assert second.created == [] and second.changed == []
    assert second.existing == [f"role {role}", f"database {db} (owner {role})"]
    # without a password the role's URL has none (never the admin's)
    assert role_url(_admin(pg), role, None, db).password is None
    assert make_url(second.database_url).password is None
    with _login(pg, db, role, TRICKY_PASSWORD):
        pass

    # with a password, an existing role's password is replaced
    third = provision(_admin(pg), db, role, "new pw ☃")
    assert third.changed == [f"role {role}: password set"]
    with pytest.raises(RfsetupError) as info:
        _login(pg, db, role, TRICKY_PASSWORD)
    assert info.value.kind == "password_rejected"
    _login(pg, db, role, "new pw ☃").close()


def test_new_role_without_password_is_refused(pg: PgTestServer, names: tuple[str, str]) -> None:
    db, role = names
    with pytest.raises(RfsetupError) as info:
        provision(_admin(pg), db, role, None)
    assert info.value.exit_code == ExitCode.USAGE
    state = inspect_server(_admin(pg), db, role)
    assert not state.role_exists and not state.database_exists


def test_password_never_reaches_the_server_log(pg: PgTestServer, names: tuple[str, str]) -> None:
    """Run as an admin whose every statement is logged: the log holds the verifier only."""
    db, role = names
    admin, admin_pw = f"logged_admin_{uuid.uuid4().hex[:6]}", "adm1n-pw"
    conn = pg.admin_connect()
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE ROLE {} SUPERUSER LOGIN PASSWORD {}").format(
            sql.Identifier(admin), sql.Literal(admin_pw)))
        cur.execute(sql.SQL("ALTER ROLE {} SET log_statement = 'all'").format(
            sql.Identifier(admin)))
    try:
        url = _admin(pg).set(username=admin, password=admin_pw)
        provision(url, db, role, TRICKY_PASSWORD)
        provision(url, db, role, TRICKY_PASSWORD)  # the ALTER ROLE … PASSWORD path too
        log = pg.server.log_file.read_text(errors="replace")
        assert "CREATE ROLE" in log and "SCRAM-SHA-256$" in log
        assert TRICKY_PASSWORD not in log
        assert "ünïcødé" not in log
    finally:
        conn.close()
        pg.drop_role(admin)


def test_existing_database_owned_by_postgres_gets_schema_grants(
        pg: PgTestServer, names: tuple[str, str]) -> None:
    """The guide's own path (database created by postgres), PostgreSQL 15+ semantics."""
    db, role = names
    pg.create_database(db)
    result = provision(_admin(pg), db, role, "pw")
    assert result.created == [f"role {role}"]
    assert result.existing == [f"database {db} (owner postgres)"]
    assert any("GRANT CREATE, USAGE ON SCHEMA public" in s for s in result.statements)
    with _login(pg, db, role, "pw") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE public.probe (id int)")
        cur.execute("SHOW server_version_num")
        assert int(cur.fetchone()[0]) >= 150000
    conn.close()
    # and the grant is not repeated on a second run
    again = provision(_admin(pg), db, role, None)
    assert not any("SCHEMA public" in s for s in again.statements)


def test_tables_owned_by_another_role_are_reported(pg: PgTestServer,
                                                   names: tuple[str, str]) -> None:
    db, role = names
    pg.create_database(db)
    conn = pg.admin_connect(db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE public.users (id int)")
    conn.close()
    result = provision(_admin(pg), db, role, "pw")
    assert len(result.warnings) == 1 and "1 tables" in result.warnings[0]


def test_nologin_role_gets_login(pg: PgTestServer, names: tuple[str, str]) -> None:
    db, role = names
    conn = pg.admin_connect()
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
    conn.close()
    result = provision(_admin(pg), db, role, "pw")
    assert f"role {role}: may now log in" in result.changed
    _login(pg, db, role, "pw").close()


def test_admin_without_privileges_gets_a_clear_error(pg: PgTestServer,
                                                     names: tuple[str, str]) -> None:
    db, role = names
    weak = f"weak_{uuid.uuid4().hex[:6]}"
    conn = pg.admin_connect()
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'weakpw'").format(
            sql.Identifier(weak)))
    try:
        with pytest.raises(RfsetupError) as info:
            provision(_admin(pg).set(username=weak, password="weakpw"), db, role, "pw")
        assert info.value.kind == "insufficient_privilege"
        assert "CREATE ROLE" in (info.value.cause or "")
        assert "weakpw" not in str(info.value.to_dict())
    finally:
        conn.close()
        pg.drop_role(weak)


def test_unreachable_admin_is_exit_3() -> None:
    from rfsetup.core.embedded import free_port

    url = make_url(f"postgresql+psycopg2://postgres:pw@127.0.0.1:{free_port()}/postgres")
    with pytest.raises(RfsetupError) as info:
        provision(url, "raptorflow", "raptorflow", "pw")
    assert info.value.exit_code == ExitCode.CONNECT


def test_the_new_role_runs_the_migrations(pg: PgTestServer, names: tuple[str, str]) -> None:
    """db create, then every revision up to head and back down, as the new role."""
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    db, role = names
    provision(_admin(pg), db, role, TRICKY_PASSWORD)
    cfg = Config(str(ALEMBIC_INI), stdout=io.StringIO())
    cfg.attributes["rfsetup"] = True
    cfg.attributes["database_url"] = role_url(_admin(pg), role, TRICKY_PASSWORD, db) \
        .render_as_string(hide_password=False)
    if not ScriptDirectory.from_config(cfg).get_heads():
        pytest.skip("no revisions yet")
    command.upgrade(cfg, "head")
    with _login(pg, db, role, TRICKY_PASSWORD) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                    "AND tableowner = %s", (role,))
        assert cur.fetchone()[0] >= 15
        cur.execute("SELECT version_num FROM alembic_version")
        assert cur.fetchone()[0] in ScriptDirectory.from_config(cfg).get_heads()
    conn.close()
    command.downgrade(cfg, "base")
