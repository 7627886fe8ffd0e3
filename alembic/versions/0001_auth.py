"""auth: users, organizations, memberships (with the membership_role enum), workspaces

Revision ID: 0001_auth
Revises:
Create Date: 2025-01-20 10:00:00.000000

Every constraint and index is named explicitly, with the names rfsetup.schema's naming
convention produces, so the downgrade and later revisions can refer to them by name and
``alembic check`` compares like with like.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_auth"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# create_type=False: the type is created and dropped explicitly below, so that upgrade and
# downgrade are symmetric and create_table does not create it on the side.
membership_role = postgresql.ENUM(
    "viewer", "editor", "admin", "owner", name="membership_role", create_type=False,
)

_SLUG_FORMAT = "slug ~ '^[a-z0-9][a-z0-9-]*$'"


def _check(sqltext: str, *, name: str) -> sa.CheckConstraint:
    """A CHECK constraint named exactly ``name``: op.f() stops env.py's naming convention
    (ck_<table>_<name>) from prefixing the already complete name a second time."""
    return sa.CheckConstraint(sqltext, name=op.f(name))


def _id() -> sa.Column:
    return sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"),
                     nullable=False)


def _jsonb(name: str) -> sa.Column:
    return sa.Column(name, postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"),
                     nullable=False)


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False)
        for name in ("created_at", "updated_at")
    ]


def upgrade() -> None:
    membership_role.create(op.get_bind(), checkfirst=False)

    op.create_table(
        "users",
        _id(),
        sa.Column("auth_sub", sa.Text(), nullable=False),  # Supabase user id (JWT sub)
        sa.Column("email", sa.Text(), nullable=True),  # phone-only sign-ins have none
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("avatar_url", sa.Text(), nullable=True),
        _jsonb("settings"),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("auth_sub", name="uq_users_auth_sub"),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )

    op.create_table(
        "organizations",
        _id(),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        _jsonb("settings"),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_organizations"),
        sa.UniqueConstraint("slug", name="uq_organizations_slug"),
        _check(_SLUG_FORMAT, name="ck_organizations_slug_format"),
    )

    op.create_table(
        "memberships",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("role", membership_role, server_default=sa.text("'viewer'::membership_role"),
                  nullable=False),
        sa.Column("invitation_status", sa.Text(), server_default=sa.text("'accepted'::text"),
                  nullable=False),
        sa.Column("invited_by", sa.UUID(), nullable=True),
        *_timestamps(),
        # (org_id, user_id) leads with org_id: the primary key is also the tenant index
        sa.PrimaryKeyConstraint("org_id", "user_id", name="pk_memberships"),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"], ondelete="CASCADE",
                                name="fk_memberships_org_id_organizations"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_memberships_user_id_users"),
        sa.ForeignKeyConstraint(["invited_by"], ["users.id"], ondelete="SET NULL",
                                name="fk_memberships_invited_by_users"),
        _check(
            "invitation_status IN ('pending', 'accepted', 'declined', 'revoked')",
            name="ck_memberships_invitation_status",
        ),
    )
    op.create_index("ix_memberships_user_id", "memberships", ["user_id"])
    op.create_index("ix_memberships_invited_by", "memberships", ["invited_by"])

    op.create_table(
        "workspaces",
        _id(),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        _jsonb("settings"),
        sa.Column("created_by", sa.UUID(), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_workspaces"),
        # leads with org_id: also the tenant index
        sa.UniqueConstraint("org_id", "slug", name="uq_workspaces_org_id_slug"),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"], ondelete="CASCADE",
                                name="fk_workspaces_org_id_organizations"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], ondelete="SET NULL",
                                name="fk_workspaces_created_by_users"),
        _check(_SLUG_FORMAT, name="ck_workspaces_slug_format"),
    )
    op.create_index("ix_workspaces_created_by", "workspaces", ["created_by"])


def downgrade() -> None:
    # dropping a table drops its indexes and constraints with it
    op.drop_table("workspaces")
    op.drop_table("memberships")
    op.drop_table("organizations")
    op.drop_table("users")
    membership_role.drop(op.get_bind(), checkfirst=False)
