"""production indexes on indicators, projects and threat_actors, built concurrently

Revision ID: 0004_production_indexes
Revises: 0003_intel
Create Date: 2025-01-20 10:15:00.000000

The guide's "additional indexes to consider for production": indicators(value),
indicators(type, org_id), projects(archived, org_id), threat_actors(name). On a populated
database a plain CREATE INDEX holds a SHARE lock that blocks every insert and update of the
table until the build finishes; CONCURRENTLY does not. PostgreSQL refuses CONCURRENTLY inside a
transaction, so the statements run in Alembic's autocommit block: online it commits the
revisions before it and runs each statement on its own; offline (``--sql``) it writes COMMIT
before them and BEGIN after, so the script is valid for psql too.

A CONCURRENTLY build that is interrupted (cancelled, timed out, a duplicate found) leaves an
INVALID index of the same name behind, which would make a rerun fail with "already exists"; so
each index is first dropped IF EXISTS, which makes the revision safe to run again. A valid
index of that name is rebuilt, which is harmless.

A caller may hand Alembic a connection already inside its own transaction (a test harness that
rolls everything back afterwards). Alembic cannot leave a transaction it did not begin, and
CONCURRENTLY cannot run inside one, so then the indexes are built plainly, in that transaction:
the same schema, and the caller keeps control of the transaction.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext

from alembic import op

revision: str = "0004_production_indexes"
down_revision: str | Sequence[str] | None = "0003_intel"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (index name, table, columns); names follow rfsetup.schema's naming convention
INDEXES: tuple[tuple[str, str, list[str]], ...] = (
    ("ix_indicators_value", "indicators", ["value"]),  # fast lookups of one IOC
    ("ix_indicators_type_org_id", "indicators", ["type", "org_id"]),  # filtered lists
    ("ix_projects_archived_org_id", "projects", ["archived", "org_id"]),  # active projects
    ("ix_threat_actors_name", "threat_actors", ["name"]),  # name searches
)


@contextmanager
def _outside_transaction() -> Iterator[bool]:
    """Alembic's autocommit block (yields True: build concurrently), or nothing when the
    connection is in the caller's transaction (yields False: build plainly)."""
    ctx = op.get_context()
    external = bool(getattr(ctx, "_in_external_transaction", False))
    with nullcontext() if external else ctx.autocommit_block():
        yield not external


def upgrade() -> None:
    with _outside_transaction() as concurrently:
        for name, table, columns in INDEXES:
            op.drop_index(name, table_name=table, postgresql_concurrently=concurrently,
                          if_exists=True)
            op.create_index(name, table, columns, postgresql_concurrently=concurrently)


def downgrade() -> None:
    with _outside_transaction() as concurrently:
        for name, table, _columns in reversed(INDEXES):
            op.drop_index(name, table_name=table, postgresql_concurrently=concurrently,
                          if_exists=True)
