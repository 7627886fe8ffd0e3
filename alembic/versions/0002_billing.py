"""billing: plans, subscriptions, payments, ledger_entries, invoices

Revision ID: 0002_billing
Revises: 0001_auth
Create Date: 2025-01-20 10:05:00.000000

Money is integer minor units (paise). Plan prices are INT as the guide has them; payment,
ledger and invoice amounts are BIGINT (INT stops at about INR 2.1 crore). Quotas allow -1 for
"unlimited". Subscriptions cascade with their organization; payments, ledger entries and
invoices RESTRICT its deletion because they are accounting records that must be kept.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_billing"
down_revision: str | Sequence[str] | None = "0001_auth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CURRENCY = "currency ~ '^[A-Z]{3}$'"


def _check(sqltext: str, *, name: str) -> sa.CheckConstraint:
    """A CHECK constraint named exactly ``name``: op.f() stops env.py's naming convention
    (ck_<table>_<name>) from prefixing the already complete name a second time."""
    return sa.CheckConstraint(sqltext, name=op.f(name))


def _id() -> sa.Column:
    return sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"),
                     nullable=False)


def _currency() -> sa.Column:
    return sa.Column("currency", sa.Text(), server_default=sa.text("'INR'::text"),
                     nullable=False)


def _at(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


def _timestamps(*names: str) -> list[sa.Column]:
    return [
        sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False)
        for name in names or ("created_at", "updated_at")
    ]


def _org_fk(table: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["org_id"], ["organizations.id"], ondelete=ondelete,
                                   name=f"fk_{table}_org_id_organizations")


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", sa.Text(), nullable=False),  # free, pro, enterprise
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        _currency(),
        sa.Column("billing_period", sa.Text(), server_default=sa.text("'monthly'::text"),
                  nullable=False),
        sa.Column("api_requests_per_month", sa.Integer(), nullable=False),  # -1 = unlimited
        sa.Column("ai_tokens_per_month", sa.Integer(), nullable=False),  # -1 = unlimited
        sa.Column("features", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"),
                  nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_plans"),
        _check("price_cents >= 0", name="ck_plans_price_cents_nonnegative"),
        _check(_CURRENCY, name="ck_plans_currency_iso4217"),
        _check("billing_period IN ('monthly', 'yearly')",
                           name="ck_plans_billing_period"),
        _check("api_requests_per_month >= -1", name="ck_plans_api_requests_quota"),
        _check("ai_tokens_per_month >= -1", name="ck_plans_ai_tokens_quota"),
    )

    op.create_table(
        "subscriptions",
        _id(),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("plan_id", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'trialing'::text"),
                  nullable=False),
        sa.Column("provider_subscription_id", sa.Text(), nullable=True),
        _at("current_period_start"),
        _at("current_period_end"),
        _at("trial_ends_at"),
        sa.Column("cancel_at_period_end", sa.Boolean(), server_default=sa.text("false"),
                  nullable=False),
        _at("canceled_at"),
        # usage in the current period, reset at usage_reset_at when the period rolls over
        sa.Column("api_requests_used", sa.BigInteger(), server_default=sa.text("0"),
                  nullable=False),
        sa.Column("ai_tokens_used", sa.BigInteger(), server_default=sa.text("0"),
                  nullable=False),
        *_timestamps("usage_reset_at", "created_at", "updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_subscriptions"),
        # one subscription per organization; the unique index is also the tenant index
        sa.UniqueConstraint("org_id", name="uq_subscriptions_org_id"),
        sa.UniqueConstraint("provider_subscription_id",
                            name="uq_subscriptions_provider_subscription_id"),
        _org_fk("subscriptions", "CASCADE"),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], ondelete="RESTRICT",
                                name="fk_subscriptions_plan_id_plans"),
        _check("status IN ('trialing', 'active', 'past_due', 'canceled')",
                           name="ck_subscriptions_status"),
        _check(
            "current_period_end IS NULL OR current_period_start IS NULL"
            " OR current_period_end > current_period_start",
            name="ck_subscriptions_period_order",
        ),
        _check("api_requests_used >= 0",
                           name="ck_subscriptions_api_requests_used_nonnegative"),
        _check("ai_tokens_used >= 0",
                           name="ck_subscriptions_ai_tokens_used_nonnegative"),
    )
    op.create_index("ix_subscriptions_plan_id", "subscriptions", ["plan_id"])

    op.create_table(
        "payments",
        _id(),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("subscription_id", sa.UUID(), nullable=True),
        sa.Column("provider_payment_id", sa.Text(), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        _currency(),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'::text"),
                  nullable=False),
        sa.Column("method", sa.Text(), nullable=True),
        _at("captured_at"),
        _at("refunded_at"),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_payments"),
        sa.UniqueConstraint("provider_payment_id", name="uq_payments_provider_payment_id"),
        _org_fk("payments", "RESTRICT"),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscriptions.id"], ondelete="SET NULL",
                                name="fk_payments_subscription_id_subscriptions"),
        _check("status IN ('pending', 'captured', 'refunded', 'failed')",
                           name="ck_payments_status"),
        _check("amount_cents >= 0", name="ck_payments_amount_cents_nonnegative"),
        _check(_CURRENCY, name="ck_payments_currency_iso4217"),
    )
    op.create_index("ix_payments_org_id", "payments", ["org_id"])
    op.create_index("ix_payments_subscription_id", "payments", ["subscription_id"])

    op.create_table(
        "ledger_entries",  # append-only double-entry journal: no updated_at
        _id(),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("transaction_id", sa.UUID(), nullable=False),  # groups balancing lines
        sa.Column("account", sa.Text(), nullable=False),
        sa.Column("direction", sa.Text(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        _currency(),
        sa.Column("ref_type", sa.Text(), nullable=True),
        sa.Column("ref_id", sa.UUID(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        *_timestamps("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_entries"),
        _org_fk("ledger_entries", "RESTRICT"),
        _check("direction IN ('DR', 'CR')", name="ck_ledger_entries_direction"),
        _check("amount_cents > 0", name="ck_ledger_entries_amount_cents_positive"),
        _check("account ~ '^[a-z][a-z0-9_]*$'",
                           name="ck_ledger_entries_account_format"),
        _check(_CURRENCY, name="ck_ledger_entries_currency_iso4217"),
        _check("(ref_type IS NULL) = (ref_id IS NULL)",
                           name="ck_ledger_entries_ref_pair"),
    )
    op.create_index("ix_ledger_entries_org_id", "ledger_entries", ["org_id"])
    op.create_index("ix_ledger_entries_transaction_id", "ledger_entries", ["transaction_id"])
    op.create_index("ix_ledger_entries_ref_type_ref_id", "ledger_entries",
                    ["ref_type", "ref_id"])

    op.create_table(
        "invoices",
        _id(),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("subscription_id", sa.UUID(), nullable=True),
        sa.Column("payment_id", sa.UUID(), nullable=True),
        sa.Column("number", sa.Text(), nullable=False),  # sequential GST invoice number
        sa.Column("status", sa.Text(), server_default=sa.text("'draft'::text"), nullable=False),
        _currency(),
        sa.Column("subtotal_cents", sa.BigInteger(), nullable=False),
        sa.Column("tax_cents", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("line_items", postgresql.JSONB(), server_default=sa.text("'[]'::jsonb"),
                  nullable=False),
        _at("period_start"),
        _at("period_end"),
        _at("issued_at"),
        _at("due_at"),
        _at("paid_at"),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_invoices"),
        sa.UniqueConstraint("number", name="uq_invoices_number"),
        _org_fk("invoices", "RESTRICT"),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscriptions.id"], ondelete="SET NULL",
                                name="fk_invoices_subscription_id_subscriptions"),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], ondelete="SET NULL",
                                name="fk_invoices_payment_id_payments"),
        _check("status IN ('draft', 'open', 'paid', 'void', 'uncollectible')",
                           name="ck_invoices_status"),
        _check("subtotal_cents >= 0", name="ck_invoices_subtotal_cents_nonnegative"),
        _check("tax_cents >= 0", name="ck_invoices_tax_cents_nonnegative"),
        _check("total_cents = subtotal_cents + tax_cents",
                           name="ck_invoices_total_is_sum"),
        _check(_CURRENCY, name="ck_invoices_currency_iso4217"),
        _check(
            "period_end IS NULL OR period_start IS NULL OR period_end > period_start",
            name="ck_invoices_period_order",
        ),
    )
    op.create_index("ix_invoices_org_id", "invoices", ["org_id"])
    op.create_index("ix_invoices_subscription_id", "invoices", ["subscription_id"])
    op.create_index("ix_invoices_payment_id", "invoices", ["payment_id"])


def downgrade() -> None:
    # reverse dependency order; indexes and constraints go with their tables
    op.drop_table("invoices")
    op.drop_table("ledger_entries")
    op.drop_table("payments")
    op.drop_table("subscriptions")
    op.drop_table("plans")
