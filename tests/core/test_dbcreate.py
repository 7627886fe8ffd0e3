"""db create's choices shared by the CLI and the TUI: the admin it connects as, the role's
password for DATABASE_URL, and DATABASE_URL written in the app's form."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from rfsetup.core.errors import ExitCode, RfsetupError
from rfsetup.core.settings import load_settings


def test_url_for_env_keeps_the_apps_scheme_and_query() -> None:
    from rfsetup.core.dbcreate import url_for_env

    role = "postgresql+psycopg2://Raptor%20Ops:p%40ss%20w@db.internal:6543/rf?sslmode=require"
    fresh = make_url(url_for_env(role))
    assert fresh.drivername == "postgresql+asyncpg"
    assert (fresh.username, fresh.password, fresh.host, fresh.port, fresh.database) == (
        "Raptor Ops", "p@ss w", "db.internal", 6543, "rf")
    assert dict(fresh.query) == {"ssl": "require"}
    kept = make_url(url_for_env(role, "postgresql+asyncpg://old:pw@h/old?ssl=true"))
    assert kept.drivername == "postgresql+asyncpg" and dict(kept.query) == {"ssl": "true"}
    assert kept.password == "p@ss w"
    plain = make_url(url_for_env(role, "postgres://old@h/old"))
    assert plain.drivername == "postgres" and dict(plain.query) == {}
    socket = make_url(url_for_env("postgresql+psycopg2://r:pw@/rf"))
    assert (socket.host, socket.port) == ("localhost", 5432)


def test_default_admin_url_is_database_urls_server_as_postgres(tmp_path: Path) -> None:
    """What `db create` and the TUI's Database step both connect to without --admin-url."""
    from rfsetup.core.dbcreate import default_admin_url

    app = "postgresql+asyncpg://app:app-secret@db.internal:6543/rf?ssl=require"
    url = default_admin_url(load_settings(environ={"DATABASE_URL": app}, cwd=tmp_path))
    assert url.drivername == "postgresql+psycopg2"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "postgres", None, "db.internal", 6543, "postgres")
    assert dict(url.query) == {"sslmode": "require"}
    local = default_admin_url(load_settings(environ={}, cwd=tmp_path))
    assert local.render_as_string() == "postgresql+psycopg2://postgres@localhost:5432/postgres"
    with pytest.raises(RfsetupError) as info:
        default_admin_url(load_settings(environ={"DATABASE_URL": "mysql://x@h/db"},
                                        cwd=tmp_path))
    assert info.value.exit_code == ExitCode.USAGE


def test_parse_admin_url_defaults_the_database_and_names_itself() -> None:
    from rfsetup.core.dbcreate import parse_admin_url

    url = parse_admin_url("postgres://admin@db.internal:6543")
    assert (url.drivername, url.username, url.database) == (
        "postgresql+psycopg2", "admin", "postgres")
    assert parse_admin_url("postgresql://admin@h/template1").database == "template1"
    with pytest.raises(RfsetupError) as info:
        parse_admin_url("mysql://root:hunter2@h/x", name="the admin URL")
    assert info.value.message.startswith("the admin URL is not a PostgreSQL URL")
    assert "hunter2" not in str(info.value.to_dict())


def test_point_env_at_keeps_the_apps_driver_and_every_other_byte(tmp_path: Path) -> None:
    from rfsetup.core.dbcreate import password_for_env, point_env_at, reusable_password
    from rfsetup.core.envfile import EnvFile

    env = tmp_path / ".env"
    env.write_text("# app\nDATABASE_URL=postgresql+asyncpg://old:old-pw@h:5432/old?ssl=true\n"
                   "export LOG_LEVEL=debug\n")
    settings = load_settings(env, cwd=tmp_path, environ={})
    assert reusable_password(settings, "old") == "old-pw"
    assert reusable_password(settings, "someone else") is None
    assert password_for_env(settings, "old", None, hint="-") == "old-pw"
    assert password_for_env(settings, "old", "typed", hint="-") == "typed"
    with pytest.raises(RfsetupError) as info:
        password_for_env(settings, "someone else", None, hint="type it")
    assert info.value.exit_code == ExitCode.USAGE and info.value.hint == "type it"
    role = make_url("postgresql+psycopg2://rf:new%20pw@127.0.0.1:6000/rf")
    changed = point_env_at(settings, role)
    assert [key for key, _, _ in changed] == ["DATABASE_URL"]
    assert "new pw" not in repr(changed) and "old-pw" not in repr(changed)
    written = make_url(EnvFile.load(env).get("DATABASE_URL"))
    assert written.drivername == "postgresql+asyncpg" and dict(written.query) == {"ssl": "true"}
    assert (written.username, written.password, written.port) == ("rf", "new pw", 6000)
    assert env.read_text().startswith("# app\n")
    assert env.read_text().endswith("export LOG_LEVEL=debug\n")
    # already there: nothing written
    before = env.stat().st_mtime_ns
    assert point_env_at(load_settings(env, cwd=tmp_path, environ={}), role) == []
    assert env.stat().st_mtime_ns == before
    # the sandbox's URL is rfsetup's, not the app's: the guide's driver is used
    sandboxed = load_settings(tmp_path / "other.env", cwd=tmp_path, environ={}).with_urls(
        "postgresql+psycopg2://raptorflow:pw@127.0.0.1:5999/raptorflow", None, "sandbox")
    point_env_at(sandboxed, role)
    other = make_url(EnvFile.load(tmp_path / "other.env").get("DATABASE_URL"))
    assert other.drivername == "postgresql+asyncpg"


# -- the one db create sequence (the CLI, the TUI's Database step and `rfsetup setup`) ----------

def test_create_database_asks_writes_and_shows_what_it_wrote(pg, names: tuple[str, str],
                                                             tmp_path: Path) -> None:
    """One sequence: a new role's password asked for (not guessed), the admin checked first,
    DATABASE_URL written in the app's form and reported as exactly that string, masked; a
    second run creates and writes nothing."""
    import psycopg2

    from rfsetup.core.dbcreate import create_database
    from rfsetup.core.envfile import EnvFile
    from rfsetup.core.redact import mask_url

    db, role = names
    env = tmp_path / ".env"
    settings = load_settings(env, cwd=tmp_path, environ={})
    admin = make_url(pg.admin_url())
    asked: list[str] = []

    def ask(owner: str) -> str:
        asked.append(owner)
        return "n3w p@ss"

    with pytest.raises(RfsetupError) as refused:
        create_database(settings, admin, db, role, write_env=True, password_hint="type it")
    assert refused.value.exit_code == ExitCode.USAGE and refused.value.hint == "type it"
    assert not env.exists()  # refused before anything was changed

    first = create_database(settings, admin, db, role, write_env=True, ask_role_password=ask)
    assert asked == [role] and first.changed and first.env_written
    assert f"role {role}" in first.result.created
    written = EnvFile.load(env).get("DATABASE_URL")
    assert written is not None and make_url(written).drivername == "postgresql+asyncpg"
    assert first.database_url == mask_url(written) and "n3w" not in first.database_url
    assert [key for key, _, _ in first.env_changes or []] == ["DATABASE_URL"]
    psycopg2.connect(host="127.0.0.1", port=pg.port, user=role, password="n3w p@ss",
                     dbname=db).close()

    again = create_database(load_settings(env, cwd=tmp_path, environ={}), admin, db, role,
                            write_env=True, ask_role_password=ask)
    assert asked == [role], "an existing role is not asked for a password"
    assert not again.changed and again.env_changes == [] and again.keeps_password
    assert again.database_url == first.database_url


def test_create_database_on_the_sandbox_writes_redis_url_too(pg, names: tuple[str, str],
                                                             tmp_path: Path) -> None:
    """The guided sandbox path: REDIS_URL is written with DATABASE_URL when the .env has none
    (so a plain `rfsetup doctor` finds the sandbox's Redis), and never replaces one."""
    from rfsetup.core.dbcreate import create_database
    from rfsetup.core.envfile import EnvFile

    db, role = names
    env = tmp_path / ".env"
    env.write_text("SECRET_KEY=" + "k" * 64 + "\n")
    sandboxed = load_settings(env, cwd=tmp_path, environ={}).with_urls(
        pg.admin_url(), "redis://127.0.0.1:6999/0", "sandbox")
    done = create_database(sandboxed, make_url(pg.admin_url()), db, role, "pw-1",
                           write_env=True)
    assert sorted(key for key, _, _ in done.env_changes or []) == ["DATABASE_URL", "REDIS_URL"]
    values = EnvFile.load(env).values()
    assert values["REDIS_URL"] == "redis://127.0.0.1:6999/0"
    assert values["SECRET_KEY"] == "k" * 64
    assert not done.notes  # written: nothing to say
    env.write_text("REDIS_URL=redis://elsewhere:6379/0\n")
    kept = create_database(sandboxed, make_url(pg.admin_url()), db, role, "pw-1",
                           write_env=True)
    assert EnvFile.load(env).get("REDIS_URL") == "redis://elsewhere:6379/0"
    # kept, and said: without --sandbox the .env's Redis is the one used
    assert any("REDIS_URL kept as the .env has it (redis://elsewhere:6379/0)" in note
               and "rfsetup env set REDIS_URL redis://127.0.0.1:6999/0" in note
               for note in kept.notes), kept.notes
