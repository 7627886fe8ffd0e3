"""A profile: what rfsetup checks, seeds and expects for one kind of project.

RaptorFlow's repository gets RaptorFlow's profile (the guide's .env keys, Redis, PostgreSQL 15+,
the plans seed, the 15 tables); any other Alembic project gets the generic one, in which only
what applies to every Alembic project is checked. This layer holds data only: it imports nothing
from rfsetup but the schema.
"""

from __future__ import annotations

from dataclasses import dataclass

#: the alembic.ini option (in ``[alembic]``) that names a project's profile
INI_OPTION = "rfsetup_profile"


@dataclass(frozen=True)
class Profile:
    """What rfsetup knows about a kind of project."""

    name: str
    #: Redis is part of the stack (checked and shown even without REDIS_URL)
    uses_redis: bool = False
    #: the oldest PostgreSQL major version the project supports (None: any)
    min_postgres: int | None = None
    #: it has seeds (``rfsetup seed``)
    has_seeds: bool = False
    #: the tables a migrated database has (Verify marks missing ones); empty: not known
    expected_tables: tuple[str, ...] = ()
    #: defaults for ``db create`` and the sandbox
    default_database: str = "app"
    default_role: str = "app"
    #: the .env keys it needs (their checks live in the env schema of the same name)
    env_schema: str = "generic"
