"""What both benchmarks need: the repo on sys.path, their own embedded servers (stopped even
when the benchmark is killed with SIGTERM), fresh databases on them, and generated histories
of a given size."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from rfsetup.core.embedded import EmbeddedPostgres, EmbeddedRedis  # noqa: E402
from tests.helpers.alembic_project import SyntheticProject, make_project  # noqa: E402

# durability traded for speed, as in the test suite; what is measured is unaffected
FAST = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


@contextlib.contextmanager
def servers(root: Path, **pg_settings: str) -> Iterator[tuple[EmbeddedPostgres, EmbeddedRedis]]:
    """An embedded PostgreSQL and Redis under ``root``, running for the block's duration.

    A SIGTERM (e.g. from ``timeout``) becomes SystemExit, so the block's exit still stops
    them: a killed benchmark must not leave daemons behind.
    """
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    pg = EmbeddedPostgres(root / "pg", server_settings=FAST | pg_settings)
    redis = EmbeddedRedis(root / "redis")
    try:
        pg.start()
        redis.start()
        yield pg, redis
    finally:
        try:
            redis.stop()
        finally:
            pg.destroy()
            signal.signal(signal.SIGTERM, previous)


def create_db(server: EmbeddedPostgres, prefix: str = "bench") -> str:
    """A new empty database on ``server``; its psycopg2 URL (superuser)."""
    import psycopg2
    from psycopg2 import sql

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(host="127.0.0.1", port=server.port, user="postgres",
                            password=server.superuser_password, dbname="postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()
    return server.url(name)


def drop_db(server: EmbeddedPostgres, url: str) -> None:
    """Drop the database ``url`` names (a benchmark makes many; 1,000 tables each add up)."""
    import psycopg2
    from psycopg2 import sql
    from sqlalchemy.engine import make_url

    conn = psycopg2.connect(host="127.0.0.1", port=server.port, user="postgres",
                            password=server.superuser_password, dbname="postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(str(make_url(url).database))))
    finally:
        conn.close()


def table_revisions_for(total: int, branch_every: int) -> int:
    """The ``revisions`` argument of make_project that yields ``total`` revisions in all
    (every branch point adds an empty merge revision), or the nearest count under it."""
    def count(n: int) -> int:
        index = made = 0
        while index < n:
            index += 1
            made += 1
            if branch_every >= 3 and index % branch_every == 0 and index + 2 <= n:
                index += 2
                made += 3
        return made

    n = total
    while n > 1 and count(n) > total:
        n -= 1
    return n


def make_history(root: Path, total: int, branch_every: int = 10) -> SyntheticProject:
    """A generated project of ``total`` revisions with a branch point and a merge every
    ``branch_every`` table revisions (919 + 91 merges = 1,010 for the issue's history)."""
    return make_project(root, table_revisions_for(total, branch_every), branch_every=branch_every)


def revision_label(project: SyntheticProject) -> str:
    """"1,010 revisions" (how the figures name a generated history)."""
    return f"{len(project.revisions):,} revisions"


def bench_env(state: Path, **values: str) -> dict[str, str]:
    """This process's environment for a measured tool, with ``values`` set.

    Bytecode caching stays on, as on a user's machine (any non-empty PYTHONDONTWRITEBYTECODE,
    even "0", turns it off and makes both tools recompile every revision file on every run).
    Nothing of the user's rfsetup setup reaches it: no RFSETUP_* variable, no DATABASE_URL or
    REDIS_URL of this shell, and a config file (keys, theme) under ``state`` that does not exist.
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("RFSETUP_") and k not in (
               "DATABASE_URL", "REDIS_URL", "LAZYALEMBIC_DATABASE_URL", "PYTHONDONTWRITEBYTECODE")}
    env["RFSETUP_CONFIG"] = str(state / "no-config.toml")
    env.update(values)
    return env

