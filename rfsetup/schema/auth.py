"""Authentication and tenancy: users, organizations, memberships, workspaces.

Tenancy is the organization: every tenant table carries ``org_id`` and goes with its
organization (ON DELETE CASCADE), except the financial records in ``billing``, which the law
requires us to keep. PostgreSQL does not index foreign keys by itself (the guide's "foreign keys
(automatic)" is not true of PostgreSQL), so every FK column a parent delete must search is
indexed explicitly, either alone or as the leading column of a key.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import ENUM, UUID
from sqlalchemy.orm import Mapped, mapped_column

from rfsetup.schema.base import Base, created_at, in_list, jsonb_object, updated_at, uuid_pk


class MembershipRole(enum.StrEnum):
    """What a member may do in an organization, weakest first."""

    viewer = "viewer"
    editor = "editor"
    admin = "admin"
    owner = "owner"


#: The PostgreSQL ENUM type. Revision 0001 manages it explicitly (CREATE TYPE before the table,
#: DROP TYPE after it, with its own create_type=False copy) so upgrade and downgrade are
#: symmetric; here it keeps the default create_type so metadata.create_all()/drop_all() work too.
membership_role = ENUM(*(r.value for r in MembershipRole), name="membership_role")

INVITATION_STATUSES: tuple[str, ...] = ("pending", "accepted", "declined", "revoked")


class User(Base):
    """A person who signed in through Supabase; created on first sign-in.

    ``auth_sub`` is Supabase's user id (the JWT ``sub``) and is how we find the row. ``email`` is
    unique where present but nullable: Supabase allows phone-only and anonymous sign-ins.
    """

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = uuid_pk()
    auth_sub: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    email: Mapped[str | None] = mapped_column(Text, unique=True)
    display_name: Mapped[str | None] = mapped_column(Text)
    avatar_url: Mapped[str | None] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = jsonb_object()
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class Organization(Base):
    """The tenant. ``slug`` is the URL-safe, globally unique handle (lowercase, digits, '-')."""

    __tablename__ = "organizations"
    __table_args__ = (
        CheckConstraint("slug ~ '^[a-z0-9][a-z0-9-]*$'", name="slug_format"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(Text, nullable=False)
    slug: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = jsonb_object()
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class Membership(Base):
    """A user's role in an organization; primary key (org_id, user_id).

    The primary key leads with ``org_id``, so it is also the tenant index; ``user_id`` gets its
    own index for "my organizations" and for the cascade when a user is deleted.
    ``invitation_status`` is a closed set (pending, accepted, declined, revoked); a founder's
    own membership is ``accepted``, which is the default. ``invited_by`` survives the inviter's
    deletion as NULL: the membership stays valid.
    """

    __tablename__ = "memberships"
    __table_args__ = (
        CheckConstraint(in_list("invitation_status", INVITATION_STATUSES),
                        name="invitation_status"),
        Index(None, "user_id"),
        Index(None, "invited_by"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[MembershipRole] = mapped_column(
        membership_role, nullable=False, server_default=text("'viewer'::membership_role"))
    invitation_status: Mapped[str] = mapped_column(
        Text, nullable=False, server_default=text("'accepted'::text"))
    invited_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class Workspace(Base):
    """A named area inside an organization (the guide names the table but no columns).

    Designed as a SaaS engineer would expect: a name and a slug unique within the organization
    (UNIQUE(org_id, slug), which also serves as the tenant index), free-form settings, and who
    created it (SET NULL when that user is deleted: the workspace belongs to the org, not to
    them).
    """

    __tablename__ = "workspaces"
    __table_args__ = (
        UniqueConstraint("org_id", "slug"),
        CheckConstraint("slug ~ '^[a-z0-9][a-z0-9-]*$'", name="slug_format"),
        Index(None, "created_by"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    slug: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = jsonb_object()
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
