"""RaptorFlow's profile: what its database setup guide asks for."""

from __future__ import annotations

from rfsetup.profiles.base import Profile

RAPTORFLOW = Profile(
    name="raptorflow",
    uses_redis=True,
    min_postgres=15,
    has_seeds=True,
    schema_module="rfsetup.schema",
    default_database="raptorflow",
    default_role="raptorflow",
    env_schema="raptorflow",
)
