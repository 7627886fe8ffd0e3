"""Reading a real database's state in tests: tables, schema objects, the version table."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
from alembic.config import Config

from rfsetup.core.settings import Settings, load_settings
from tests.conftest import ALEMBIC_INI


def libpq(url: str) -> str:
    """A psycopg2 (SQLAlchemy-style) URL as a libpq URI."""
    return url.replace("postgresql+psycopg2://", "postgresql://", 1)


@contextmanager
def db(url: str) -> Iterator[psycopg2.extensions.connection]:
    conn = psycopg2.connect(libpq(url))
    conn.autocommit = True
    try:
        yield conn
    finally:
        conn.close()


def query(url: str, text: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with db(url) as conn, conn.cursor() as cur:
        cur.execute(text, params or None)
        return cur.fetchall() if cur.description else []


def tables(url: str) -> set[str]:
    """User tables in public, without the version table."""
    return {r[0] for r in query(url, "SELECT tablename FROM pg_tables WHERE schemaname = "
                                     "'public' AND tablename <> 'alembic_version'")}


def version(url: str) -> tuple[str, ...]:
    """The version table's rows (sorted), () without it."""
    if not query(url, "SELECT to_regclass('alembic_version')")[0][0]:
        return ()
    return tuple(sorted(str(r[0]) for r in query(url, "SELECT version_num FROM alembic_version")))


def catalog(url: str) -> set[tuple[str, str, str]]:
    """Every relation, type and routine outside the system schemas: (schema, name, kind)."""
    rows = query(url, """
        SELECT n.nspname::text, c.relname::text, c.relkind::text FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
        UNION ALL
        SELECT n.nspname, t.typname, 'type:' || t.typtype::text FROM pg_type t
          JOIN pg_namespace n ON n.oid = t.typnamespace
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
        UNION ALL
        SELECT n.nspname, p.proname, 'routine' FROM pg_proc p
          JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
        UNION ALL
        SELECT nspname, nspname, 'schema' FROM pg_namespace
         WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
    """)
    return {(str(a), str(b), str(c)) for a, b, c in rows}


def settings_for(ini: Path, url: str, cwd: Path, **environ: str) -> Settings:
    """Settings as the CLI would build them, pointed at ``url`` and working in ``cwd``;
    ``environ``: more of the process environment (e.g. ``RFSETUP_LOCK_TIMEOUT="1s"``)."""
    return load_settings(None, ini, environ={"DATABASE_URL": url, **environ}, cwd=cwd)


def alembic_config(url: str) -> Config:
    """An in-process Alembic config for the repo's project, pointed at ``url``, output captured."""
    cfg = Config(str(ALEMBIC_INI), stdout=io.StringIO())
    cfg.attributes["database_url"] = url
    cfg.attributes["rfsetup"] = True  # leave logging alone, as rfsetup itself does
    return cfg
