"""threat intel: projects, indicators, threat_actors, campaigns, vulnerabilities, threat_reports

Revision ID: 0003_intel
Revises: 0002_billing
Create Date: 2025-01-20 10:10:00.000000

All tenant data: ON DELETE CASCADE with the organization. project_id and created_by are SET
NULL (the intelligence belongs to the organization, not to a project or an analyst). Each
tenant table gets its org_id index here; the guide's "production" indexes come in 0004.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_intel"
down_revision: str | Sequence[str] | None = "0002_billing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SEVERITY = "severity IN ('critical', 'high', 'medium', 'low', 'info')"
_SEEN_ORDER = "last_seen IS NULL OR first_seen IS NULL OR last_seen >= first_seen"


def _check(sqltext: str, *, name: str) -> sa.CheckConstraint:
    """A CHECK constraint named exactly ``name``: op.f() stops env.py's naming convention
    (ck_<table>_<name>) from prefixing the already complete name a second time."""
    return sa.CheckConstraint(sqltext, name=op.f(name))


def _id() -> sa.Column:
    return sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"),
                     nullable=False)


def _text(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _at(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


def _jsonb(name: str) -> sa.Column:
    return sa.Column(name, postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"),
                     nullable=False)


def _texts(*names: str) -> list[sa.Column]:
    """NOT NULL TEXT[] columns defaulting to '{}' (no COALESCE needed in array queries)."""
    return [sa.Column(name, postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"),
                      nullable=False) for name in names]


def _uuids(*names: str) -> list[sa.Column]:
    return [sa.Column(name, postgresql.ARRAY(sa.UUID()), server_default=sa.text("'{}'::uuid[]"),
                      nullable=False) for name in names]


def _flag(name: str, default: bool) -> sa.Column:
    return sa.Column(name, sa.Boolean(), server_default=sa.text("true" if default else "false"),
                     nullable=False)


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False)
        for name in ("created_at", "updated_at")
    ]


def _tenant(table: str) -> list[sa.ForeignKeyConstraint]:
    """The FKs every intel table has: its organization (CASCADE), its project (SET NULL)."""
    fks = [sa.ForeignKeyConstraint(["org_id"], ["organizations.id"], ondelete="CASCADE",
                                   name=f"fk_{table}_org_id_organizations")]
    if table != "projects":
        fks.append(sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="SET NULL",
                                           name=f"fk_{table}_project_id_projects"))
    return fks


def _created_by_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["created_by"], ["users.id"], ondelete="SET NULL",
                                   name=f"fk_{table}_created_by_users")


def _index(table: str, *columns: str) -> None:
    op.create_index(f"ix_{table}_{'_'.join(columns)}", table, list(columns))


def upgrade() -> None:
    op.create_table(
        "projects",
        _id(),
        sa.Column("org_id", sa.UUID(), nullable=False),
        _text("name", nullable=False),
        _text("description"),
        *_texts("tags"),
        _jsonb("settings"),
        _flag("archived", False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
        *_tenant("projects"),
        _created_by_fk("projects"),
    )
    _index("projects", "org_id")
    _index("projects", "created_by")

    op.create_table(
        "indicators",
        _id(),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=True),
        _text("type", nullable=False),  # ip, domain, url, hash, email… (open set)
        _text("value", nullable=False),
        sa.Column("classification", sa.Text(), server_default=sa.text("'unknown'::text"),
                  nullable=False),
        sa.Column("confidence", sa.Integer(), nullable=True),  # NULL = not assessed
        _text("severity"),
        _at("first_seen"),
        _at("last_seen"),
        _text("source"),
        *_texts("tags", "mitre_tactics", "mitre_techniques"),
        _jsonb("enrichment"),
        _flag("active", True),
        _flag("false_positive", False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_indicators"),
        *_tenant("indicators"),
        _created_by_fk("indicators"),
        _check(
            "classification IN ('malicious', 'suspicious', 'benign', 'unknown')",
            name="ck_indicators_classification",
        ),
        _check("confidence BETWEEN 0 AND 100", name="ck_indicators_confidence_range"),
        _check(_SEVERITY, name="ck_indicators_severity"),
        _check(_SEEN_ORDER, name="ck_indicators_seen_order"),
    )
    _index("indicators", "org_id")
    _index("indicators", "project_id")
    _index("indicators", "created_by")

    op.create_table(
        "threat_actors",
        _id(),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=True),
        _text("name", nullable=False),
        *_texts("aliases"),
        _text("type"),  # apt, cybercrime, nation-state… (open set)
        _text("sophistication"),
        _text("origin_country"),
        *_texts("motivation", "mitre_tactics", "mitre_techniques", "tools",
                "target_sectors", "target_countries"),
        _at("first_seen"),
        _at("last_seen"),
        _flag("active", True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_threat_actors"),
        *_tenant("threat_actors"),
        _check(_SEEN_ORDER, name="ck_threat_actors_seen_order"),
    )
    _index("threat_actors", "org_id")
    _index("threat_actors", "project_id")

    op.create_table(
        "campaigns",
        _id(),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=True),
        sa.Column("threat_actor_id", sa.UUID(), nullable=True),
        _text("name", nullable=False),
        *_texts("aliases", "objectives", "mitre_tactics", "mitre_techniques",
                "target_sectors", "target_countries"),
        *_uuids("indicator_ids"),  # no FK: PostgreSQL cannot enforce FKs on array elements
        _at("first_seen"),
        _at("last_seen"),
        _flag("active", True),
        _text("severity"),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_campaigns"),
        *_tenant("campaigns"),
        sa.ForeignKeyConstraint(["threat_actor_id"], ["threat_actors.id"], ondelete="SET NULL",
                                name="fk_campaigns_threat_actor_id_threat_actors"),
        _check(_SEVERITY, name="ck_campaigns_severity"),
        _check(_SEEN_ORDER, name="ck_campaigns_seen_order"),
    )
    _index("campaigns", "org_id")
    _index("campaigns", "project_id")
    _index("campaigns", "threat_actor_id")

    op.create_table(
        "vulnerabilities",
        _id(),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=True),
        _text("cve_id"),
        _text("name", nullable=False),
        _text("description"),
        # NUMERIC(3,1), not the guide's INT: CVSS scores have a decimal (9.8)
        sa.Column("cvss_score", sa.Numeric(3, 1), nullable=True),
        _text("severity"),
        *_texts("affected_products", "affected_versions"),
        _flag("exploit_available", False),
        _flag("exploited_in_wild", False),
        _flag("patch_available", False),
        _at("published_date"),
        _at("discovered_date"),
        _jsonb("enrichment"),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_vulnerabilities"),
        # unique per tenant, not globally: two organizations may track the same CVE.
        # Leads with org_id, so it is also the tenant index.
        sa.UniqueConstraint("org_id", "cve_id", name="uq_vulnerabilities_org_id_cve_id"),
        *_tenant("vulnerabilities"),
        _check("cvss_score BETWEEN 0 AND 10",
                           name="ck_vulnerabilities_cvss_score_range"),
        _check("cve_id ~ '^CVE-[0-9]{4}-[0-9]{4,}$'",
                           name="ck_vulnerabilities_cve_id_format"),
        _check(_SEVERITY, name="ck_vulnerabilities_severity"),
    )
    _index("vulnerabilities", "project_id")

    op.create_table(
        "threat_reports",
        _id(),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=True),
        _text("title", nullable=False),
        _text("summary"),
        _text("content"),
        sa.Column("classification", sa.Text(), server_default=sa.text("'TLP:AMBER'::text"),
                  nullable=False),
        _text("severity"),
        *_uuids("indicator_ids", "threat_actor_ids", "campaign_ids", "vulnerability_ids"),
        _flag("published", False),
        _at("published_at"),
        sa.Column("created_by", sa.UUID(), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_threat_reports"),
        *_tenant("threat_reports"),
        _created_by_fk("threat_reports"),
        _check(
            "classification IN ('TLP:CLEAR', 'TLP:WHITE', 'TLP:GREEN', 'TLP:AMBER',"
            " 'TLP:AMBER+STRICT', 'TLP:RED')",
            name="ck_threat_reports_classification_tlp",
        ),
        _check(_SEVERITY, name="ck_threat_reports_severity"),
        _check("NOT published OR published_at IS NOT NULL",
                           name="ck_threat_reports_published_at_set"),
    )
    _index("threat_reports", "org_id")
    _index("threat_reports", "project_id")
    _index("threat_reports", "created_by")


def downgrade() -> None:
    # reverse dependency order; indexes and constraints go with their tables
    op.drop_table("threat_reports")
    op.drop_table("vulnerabilities")
    op.drop_table("campaigns")
    op.drop_table("threat_actors")
    op.drop_table("indicators")
    op.drop_table("projects")
