"""A profile: what rfsetup checks, seeds and expects for one kind of project.

RaptorFlow's repository gets RaptorFlow's profile (the guide's .env keys, Redis, PostgreSQL 15+,
the plans seed, the 15 tables); any other Alembic project gets the generic one, in which only
what applies to every Alembic project is checked. This layer holds data only: it imports nothing
from rfsetup but the schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rfsetup.profiles.envschema import EnvSchema

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
    #: the module whose ``metadata`` defines the tables a migrated database has (Verify marks
    #: missing ones); imported only when asked, as it loads the ORM
    schema_module: str | None = None
    #: defaults for ``db create`` and the sandbox
    default_database: str = "app"
    default_role: str = "app"
    #: the .env keys it needs (their checks live in the env schema of the same name)
    env_schema: str = "generic"

    def env(self) -> EnvSchema:
        """Its .env schema (``env_schema`` names it; unknown: the generic one)."""
        return env_schema_named(self.env_schema)

    def expected_tables(self) -> tuple[str, ...]:
        """The tables the project's models define (empty when it names none)."""
        if self.schema_module is None:
            return ()
        import importlib

        metadata = importlib.import_module(self.schema_module).metadata
        return tuple(sorted(table.name for table in metadata.sorted_tables))


def env_schema_named(name: str | None) -> EnvSchema:
    """The env schema called ``name``: RaptorFlow's, else the generic one."""
    if name == "raptorflow":
        from rfsetup.profiles.raptorflow_env import RAPTORFLOW_ENV

        return RAPTORFLOW_ENV
    from rfsetup.profiles.envschema import GENERIC_ENV

    return GENERIC_ENV
