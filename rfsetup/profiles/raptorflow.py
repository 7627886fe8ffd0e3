"""RaptorFlow's profile: what its database setup guide asks for."""

from __future__ import annotations

from rfsetup.profiles.base import Profile


def _tables() -> tuple[str, ...]:
    from rfsetup.schema import metadata

    return tuple(sorted(table.name for table in metadata.sorted_tables))


RAPTORFLOW = Profile(
    name="raptorflow",
    uses_redis=True,
    min_postgres=15,
    has_seeds=True,
    expected_tables=_tables(),
    default_database="raptorflow",
    default_role="raptorflow",
    env_schema="raptorflow",
)
