"""Threat intelligence: projects, indicators, threat_actors, campaigns, vulnerabilities,
threat_reports.

Everything is tenant data: it goes with its organization (ON DELETE CASCADE). ``project_id`` is
an optional grouping, so deleting a project keeps the intelligence and sets it to NULL;
``created_by`` is SET NULL too: intel belongs to the organization, not to the analyst who
entered it. Unassessed ``confidence`` and ``severity`` are NULL, not a made-up default.

The guide's production indexes (indicators.value, indicators(type, org_id),
projects(archived, org_id), threat_actors.name) are declared here like every other index, but
revision 0004 builds them with CREATE INDEX CONCURRENTLY so that adding them to a populated
database does not block writes.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from rfsetup.schema.base import (
    SEVERITIES,
    Base,
    created_at,
    flag,
    in_list,
    jsonb_object,
    text_array,
    timestamp,
    updated_at,
    uuid_array,
    uuid_pk,
)

CLASSIFICATIONS: tuple[str, ...] = ("malicious", "suspicious", "benign", "unknown")
#: Traffic Light Protocol 2.0 labels, plus TLP:WHITE (1.0's name for CLEAR) so that reports
#: imported from older feeds keep their marking verbatim.
TLP_LEVELS: tuple[str, ...] = (
    "TLP:CLEAR", "TLP:WHITE", "TLP:GREEN", "TLP:AMBER", "TLP:AMBER+STRICT", "TLP:RED",
)

_SEEN_ORDER = "last_seen IS NULL OR first_seen IS NULL OR last_seen >= first_seen"
_SEVERITY = in_list("severity", SEVERITIES)


def _org_fk() -> Mapped[uuid.UUID]:
    """The tenant column: NOT NULL, indexed (ix_<table>_org_id), cascades with the org."""
    return mapped_column(UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"),
                         nullable=False, index=True)


def _project_fk() -> Mapped[uuid.UUID | None]:
    return mapped_column(UUID(as_uuid=True), ForeignKey("projects.id", ondelete="SET NULL"),
                         index=True)


def _created_by() -> Mapped[uuid.UUID | None]:
    return mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"),
                         index=True)


class Project(Base):
    """An investigation or workstream grouping intelligence inside an organization."""

    __tablename__ = "projects"
    __table_args__ = (
        # the guide's "active project queries" index, built concurrently by revision 0004
        Index(None, "archived", "org_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    org_id: Mapped[uuid.UUID] = _org_fk()
    name: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = text_array()
    settings: Mapped[dict[str, Any]] = jsonb_object()
    archived: Mapped[bool] = flag(False)
    created_by: Mapped[uuid.UUID | None] = _created_by()
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class Indicator(Base):
    """An indicator of compromise (ip, domain, url, hash, email… an open set of types)."""

    __tablename__ = "indicators"
    __table_args__ = (
        CheckConstraint(in_list("classification", CLASSIFICATIONS), name="classification"),
        CheckConstraint("confidence BETWEEN 0 AND 100", name="confidence_range"),
        CheckConstraint(_SEVERITY, name="severity"),
        CheckConstraint(_SEEN_ORDER, name="seen_order"),
        # the guide's production indexes, built concurrently by revision 0004
        Index(None, "value"),
        Index(None, "type", "org_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    org_id: Mapped[uuid.UUID] = _org_fk()
    project_id: Mapped[uuid.UUID | None] = _project_fk()
    type: Mapped[str] = mapped_column(Text, nullable=False)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    classification: Mapped[str] = mapped_column(
        Text, nullable=False, server_default=text("'unknown'::text"))
    confidence: Mapped[int | None] = mapped_column(Integer)
    severity: Mapped[str | None] = mapped_column(Text)
    first_seen: Mapped[datetime | None] = timestamp()
    last_seen: Mapped[datetime | None] = timestamp()
    source: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = text_array()
    mitre_tactics: Mapped[list[str]] = text_array()
    mitre_techniques: Mapped[list[str]] = text_array()
    enrichment: Mapped[dict[str, Any]] = jsonb_object()
    active: Mapped[bool] = flag(True)
    false_positive: Mapped[bool] = flag(False)
    created_by: Mapped[uuid.UUID | None] = _created_by()
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class ThreatActor(Base):
    """A tracked adversary (type: apt, cybercrime, nation-state, hacktivist… an open set)."""

    __tablename__ = "threat_actors"
    __table_args__ = (
        CheckConstraint(_SEEN_ORDER, name="seen_order"),
        # the guide's name-search index, built concurrently by revision 0004
        Index(None, "name"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    org_id: Mapped[uuid.UUID] = _org_fk()
    project_id: Mapped[uuid.UUID | None] = _project_fk()
    name: Mapped[str] = mapped_column(Text, nullable=False)
    aliases: Mapped[list[str]] = text_array()
    type: Mapped[str | None] = mapped_column(Text)
    sophistication: Mapped[str | None] = mapped_column(Text)
    origin_country: Mapped[str | None] = mapped_column(Text)
    motivation: Mapped[list[str]] = text_array()
    mitre_tactics: Mapped[list[str]] = text_array()
    mitre_techniques: Mapped[list[str]] = text_array()
    tools: Mapped[list[str]] = text_array()
    target_sectors: Mapped[list[str]] = text_array()
    target_countries: Mapped[list[str]] = text_array()
    first_seen: Mapped[datetime | None] = timestamp()
    last_seen: Mapped[datetime | None] = timestamp()
    active: Mapped[bool] = flag(True)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class Campaign(Base):
    """A campaign, optionally attributed to a threat actor (SET NULL if the actor is deleted).

    ``indicator_ids`` is a UUID[] as the guide has it (no FK: PostgreSQL cannot enforce FKs on
    array elements).
    """

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(_SEVERITY, name="severity"),
        CheckConstraint(_SEEN_ORDER, name="seen_order"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    org_id: Mapped[uuid.UUID] = _org_fk()
    project_id: Mapped[uuid.UUID | None] = _project_fk()
    threat_actor_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("threat_actors.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    aliases: Mapped[list[str]] = text_array()
    objectives: Mapped[list[str]] = text_array()
    mitre_tactics: Mapped[list[str]] = text_array()
    mitre_techniques: Mapped[list[str]] = text_array()
    target_sectors: Mapped[list[str]] = text_array()
    target_countries: Mapped[list[str]] = text_array()
    indicator_ids: Mapped[list[uuid.UUID]] = uuid_array()
    first_seen: Mapped[datetime | None] = timestamp()
    last_seen: Mapped[datetime | None] = timestamp()
    active: Mapped[bool] = flag(True)
    severity: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class Vulnerability(Base):
    """A vulnerability tracked by an organization.

    Two deliberate departures from the guide's literal types: ``cvss_score`` is NUMERIC(3,1)
    with CHECK 0-10, because CVSS scores have one decimal (9.8 does not fit an INT); and
    ``cve_id`` is unique per tenant, UNIQUE(org_id, cve_id), not globally, or a second
    organization could never track the same CVE. NULL cve_ids (not yet assigned) do not clash.
    The unique key leads with ``org_id`` and so is also the tenant index. The dates are
    timestamptz because NVD publishes them with a time of day.
    """

    __tablename__ = "vulnerabilities"
    __table_args__ = (
        UniqueConstraint("org_id", "cve_id"),
        CheckConstraint("cvss_score BETWEEN 0 AND 10", name="cvss_score_range"),
        CheckConstraint(r"cve_id ~ '^CVE-[0-9]{4}-[0-9]{4,}$'", name="cve_id_format"),
        CheckConstraint(_SEVERITY, name="severity"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False)
    project_id: Mapped[uuid.UUID | None] = _project_fk()
    cve_id: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    cvss_score: Mapped[Decimal | None] = mapped_column(Numeric(3, 1))
    severity: Mapped[str | None] = mapped_column(Text)
    affected_products: Mapped[list[str]] = text_array()
    affected_versions: Mapped[list[str]] = text_array()
    exploit_available: Mapped[bool] = flag(False)
    exploited_in_wild: Mapped[bool] = flag(False)
    patch_available: Mapped[bool] = flag(False)
    published_date: Mapped[datetime | None] = timestamp()
    discovered_date: Mapped[datetime | None] = timestamp()
    enrichment: Mapped[dict[str, Any]] = jsonb_object()
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class ThreatReport(Base):
    """A written report, marked with a TLP label (default TLP:AMBER: share least by default).

    A published report must say when (``published`` implies ``published_at``).
    """

    __tablename__ = "threat_reports"
    __table_args__ = (
        CheckConstraint(in_list("classification", TLP_LEVELS), name="classification_tlp"),
        CheckConstraint(_SEVERITY, name="severity"),
        CheckConstraint("NOT published OR published_at IS NOT NULL", name="published_at_set"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    org_id: Mapped[uuid.UUID] = _org_fk()
    project_id: Mapped[uuid.UUID | None] = _project_fk()
    title: Mapped[str] = mapped_column(Text, nullable=False)
    summary: Mapped[str | None] = mapped_column(Text)
    content: Mapped[str | None] = mapped_column(Text)
    classification: Mapped[str] = mapped_column(
        Text, nullable=False, server_default=text("'TLP:AMBER'::text"))
    severity: Mapped[str | None] = mapped_column(Text)
    indicator_ids: Mapped[list[uuid.UUID]] = uuid_array()
    threat_actor_ids: Mapped[list[uuid.UUID]] = uuid_array()
    campaign_ids: Mapped[list[uuid.UUID]] = uuid_array()
    vulnerability_ids: Mapped[list[uuid.UUID]] = uuid_array()
    published: Mapped[bool] = flag(False)
    published_at: Mapped[datetime | None] = timestamp()
    created_by: Mapped[uuid.UUID | None] = _created_by()
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
