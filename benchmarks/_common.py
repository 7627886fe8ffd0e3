"""What both benchmarks need: the repo on sys.path, their own embedded servers (stopped even
when the benchmark is killed with SIGTERM), and fresh databases on them."""

from __future__ import annotations

import contextlib
import signal
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from rfsetup.core.embedded import EmbeddedPostgres, EmbeddedRedis  # noqa: E402

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
