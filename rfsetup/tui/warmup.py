"""Import the heavy libraries once, in one thread, before any worker uses them.

Workers start together at launch (status, doctor, .env) and each would import sqlalchemy,
alembic and psycopg2 lazily; two threads importing the same package tree at once can see a
partially initialised module ("cannot import name ... most likely due to a circular import").
Every worker (and the few UI-thread paths that parse a URL) calls ``ensure_imported`` first:
the first caller imports everything under a lock, the others wait for it, then it is a no-op.
"""

from __future__ import annotations

import importlib
import threading

HEAVY = (
    "sqlalchemy",
    "sqlalchemy.engine",
    "sqlalchemy.sql",
    "sqlalchemy.pool",
    "psycopg2",
    "psycopg2.extensions",
    "psycopg2.errors",
    "psycopg2.sql",
    "redis",
    "dotenv",
    "alembic",
    "alembic.config",
    "alembic.script",
    "alembic.util",
    "rfsetup.core.connect",
    "rfsetup.core.status",
    "rfsetup.core.envfile",
)

# What a migration or a preview adds (Alembic's runtime and DDL, the ORM the project's models
# use). Imported by a background worker once the first status is on screen, so the first
# migration does not spend ~100 ms of the UI's time importing them (the import holds the GIL).
MIGRATION = (
    "sqlalchemy.orm",
    "sqlalchemy.dialects.postgresql.psycopg2",
    "alembic.command",
    "alembic.runtime.migration",
    "alembic.runtime.environment",
    "alembic.operations",
    "alembic.ddl.postgresql",
    "rfsetup.core.alembic.runner",
    "rfsetup.core.alembic.sqlpreview",
    "rfsetup.core.alembic.squawk",
    "rfsetup.core.backups",
    "rfsetup.core.locking",
    "rfsetup.schema",
)

# What the live panel's warm status path needs (psycopg2, Redis and the cache; no Alembic, no
# SQLAlchemy): the first status is read with these alone, so the revision is on screen before
# the ~350 ms of the heavy imports (issue 11, "the revision first").
LEAN = (
    "psycopg2",
    "psycopg2.extensions",
    "psycopg2.errors",
    "psycopg2.sql",
    "rfsetup.core.connect",
    "rfsetup.core.pgurl",
    "rfsetup.core.projectcache",
    "rfsetup.core.revgraph",
    "rfsetup.core.versiontable",
    "rfsetup.core.status",
)

_lock = threading.Lock()
_done = False
_lean_done = False
_migration_done = False


def ensure_lean_imported() -> None:
    """Block until the warm status path's modules are imported (a subset of HEAVY)."""
    global _lean_done
    if _lean_done or _done:
        return
    with _lock:
        if not (_lean_done or _done):
            for name in LEAN:
                importlib.import_module(name)
            _lean_done = True


def ensure_imported() -> None:
    """Block until the heavy modules are imported (by this thread or another)."""
    global _done
    if _done:
        return
    with _lock:
        if not _done:
            for name in HEAVY:
                importlib.import_module(name)
            _done = True


def ensure_migration_imported() -> None:
    """``ensure_imported`` plus what running Alembic needs (same lock, same one-time rule)."""
    global _migration_done
    ensure_imported()
    if _migration_done:
        return
    with _lock:
        if not _migration_done:
            for name in MIGRATION:
                importlib.import_module(name)
            _migration_done = True
