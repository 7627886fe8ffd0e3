"""Billing: plans, subscriptions, payments, ledger_entries, invoices.

Money is integer minor units (paise for INR), never floating point. Plan prices stay INT as the
guide has them (the largest, 999900 paise, is far from INT's limit), but payment, ledger and
invoice amounts are BIGINT: INT tops out at 2^31-1 paise, about INR 2.1 crore, which one annual
enterprise invoice or a ledger account's running total can pass.

ON DELETE: subscriptions go with their organization (CASCADE), but payments, ledger entries and
invoices RESTRICT the organization's deletion: they are accounting records that tax law (GST)
requires us to keep for years, so deleting an organization that has been billed must be a
deliberate act (anonymise or archive first), never a side effect. A plan that still has
subscriptions cannot be deleted (RESTRICT) either.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from rfsetup.schema.base import (
    Base,
    created_at,
    flag,
    in_list,
    jsonb_object,
    timestamp,
    updated_at,
    uuid_pk,
)

BILLING_PERIODS: tuple[str, ...] = ("monthly", "yearly")
SUBSCRIPTION_STATUSES: tuple[str, ...] = ("trialing", "active", "past_due", "canceled")
PAYMENT_STATUSES: tuple[str, ...] = ("pending", "captured", "refunded", "failed")
INVOICE_STATUSES: tuple[str, ...] = ("draft", "open", "paid", "void", "uncollectible")
LEDGER_DIRECTIONS: tuple[str, ...] = ("DR", "CR")

_CURRENCY_CHECK = "currency ~ '^[A-Z]{3}$'"  # ISO 4217 code


def _inr() -> Mapped[str]:
    return mapped_column(Text, nullable=False, server_default=text("'INR'::text"))


class Plan(Base):
    """A subscription plan (free, pro, enterprise), seeded from seeds/plans.json.

    Quotas are per month; -1 means unlimited (the guide's enterprise plan), so the CHECKs allow
    -1 and up, not just >= 0.
    """

    __tablename__ = "plans"
    __table_args__ = (
        CheckConstraint("price_cents >= 0", name="price_cents_nonnegative"),
        CheckConstraint(_CURRENCY_CHECK, name="currency_iso4217"),
        CheckConstraint(in_list("billing_period", BILLING_PERIODS), name="billing_period"),
        CheckConstraint("api_requests_per_month >= -1", name="api_requests_quota"),
        CheckConstraint("ai_tokens_per_month >= -1", name="ai_tokens_quota"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    price_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = _inr()
    billing_period: Mapped[str] = mapped_column(
        Text, nullable=False, server_default=text("'monthly'::text"))
    api_requests_per_month: Mapped[int] = mapped_column(Integer, nullable=False)
    ai_tokens_per_month: Mapped[int] = mapped_column(Integer, nullable=False)
    features: Mapped[dict[str, Any]] = jsonb_object()


class Subscription(Base):
    """An organization's one subscription (``org_id`` unique) to a plan.

    The guide's "usage tracking fields" are designed here: ``api_requests_used`` and
    ``ai_tokens_used`` count usage in the current period (BIGINT: an unlimited plan's token
    count can pass INT within a month) and are reset to 0 at ``usage_reset_at`` when a period
    rolls over. Also: the payment provider's subscription id (Razorpay), a trial end, and
    cancellation at period end, the usual lifecycle fields.
    """

    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint(in_list("status", SUBSCRIPTION_STATUSES), name="status"),
        CheckConstraint(
            "current_period_end IS NULL OR current_period_start IS NULL"
            " OR current_period_end > current_period_start",
            name="period_order",
        ),
        CheckConstraint("api_requests_used >= 0", name="api_requests_used_nonnegative"),
        CheckConstraint("ai_tokens_used >= 0", name="ai_tokens_used_nonnegative"),
        Index(None, "plan_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # unique: one subscription per organization; the unique index is also the tenant index
    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False, unique=True)
    plan_id: Mapped[str] = mapped_column(
        Text, ForeignKey("plans.id", ondelete="RESTRICT"), nullable=False)
    status: Mapped[str] = mapped_column(
        Text, nullable=False, server_default=text("'trialing'::text"))
    provider_subscription_id: Mapped[str | None] = mapped_column(Text, unique=True)
    current_period_start: Mapped[datetime | None] = timestamp()
    current_period_end: Mapped[datetime | None] = timestamp()
    trial_ends_at: Mapped[datetime | None] = timestamp()
    cancel_at_period_end: Mapped[bool] = flag(False)
    canceled_at: Mapped[datetime | None] = timestamp()
    api_requests_used: Mapped[int] = mapped_column(
        BigInteger, nullable=False, server_default=text("0"))
    ai_tokens_used: Mapped[int] = mapped_column(
        BigInteger, nullable=False, server_default=text("0"))
    usage_reset_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("now()"))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class Payment(Base):
    """A payment attempt at the provider (Razorpay), keyed by ``provider_payment_id``.

    ``subscription_id`` is SET NULL when a subscription row goes: the payment record stays.
    ``method`` (card, upi, netbanking, wallet…) is the provider's open vocabulary, unchecked.
    """

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(in_list("status", PAYMENT_STATUSES), name="status"),
        CheckConstraint("amount_cents >= 0", name="amount_cents_nonnegative"),
        CheckConstraint(_CURRENCY_CHECK, name="currency_iso4217"),
        Index(None, "subscription_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="RESTRICT"),
        nullable=False, index=True)
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("subscriptions.id", ondelete="SET NULL"))
    provider_payment_id: Mapped[str | None] = mapped_column(Text, unique=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = _inr()
    status: Mapped[str] = mapped_column(
        Text, nullable=False, server_default=text("'pending'::text"))
    method: Mapped[str | None] = mapped_column(Text)
    captured_at: Mapped[datetime | None] = timestamp()
    refunded_at: Mapped[datetime | None] = timestamp()
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class LedgerEntry(Base):
    """One line of a double-entry journal; append-only, so no ``updated_at``.

    Entries that belong together share ``transaction_id`` (their DR and CR sums must be
    equal). ``amount_cents`` is strictly positive: the direction carries the sign.
    ``account`` (cash, revenue, refunds… and later tax accounts) is an open set of lowercase
    names. ``ref_type``/``ref_id`` point at the payment, invoice or refund that caused the entry
    (polymorphic, so no FK); both or neither are set.
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint(in_list("direction", LEDGER_DIRECTIONS), name="direction"),
        CheckConstraint("amount_cents > 0", name="amount_cents_positive"),
        CheckConstraint("account ~ '^[a-z][a-z0-9_]*$'", name="account_format"),
        CheckConstraint(_CURRENCY_CHECK, name="currency_iso4217"),
        CheckConstraint("(ref_type IS NULL) = (ref_id IS NULL)", name="ref_pair"),
        Index(None, "transaction_id"),
        Index(None, "ref_type", "ref_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="RESTRICT"),
        nullable=False, index=True)
    transaction_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    account: Mapped[str] = mapped_column(Text, nullable=False)
    direction: Mapped[str] = mapped_column(Text, nullable=False)
    amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = _inr()
    ref_type: Mapped[str | None] = mapped_column(Text)
    ref_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()


class Invoice(Base):
    """A tax invoice (the guide names the table but no columns).

    Designed as a billing engineer would expect for GST: a globally unique sequential
    ``number``, the billed period, subtotal + tax = total (checked), line items as JSONB
    (an array), lifecycle status and dates, and links to the subscription and the payment that
    settled it (SET NULL: the invoice outlives both).
    """

    __tablename__ = "invoices"
    __table_args__ = (
        CheckConstraint(in_list("status", INVOICE_STATUSES), name="status"),
        CheckConstraint("subtotal_cents >= 0", name="subtotal_cents_nonnegative"),
        CheckConstraint("tax_cents >= 0", name="tax_cents_nonnegative"),
        CheckConstraint("total_cents = subtotal_cents + tax_cents", name="total_is_sum"),
        CheckConstraint(_CURRENCY_CHECK, name="currency_iso4217"),
        CheckConstraint(
            "period_end IS NULL OR period_start IS NULL OR period_end > period_start",
            name="period_order",
        ),
        Index(None, "subscription_id"),
        Index(None, "payment_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    org_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="RESTRICT"),
        nullable=False, index=True)
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("subscriptions.id", ondelete="SET NULL"))
    payment_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("payments.id", ondelete="SET NULL"))
    number: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    status: Mapped[str] = mapped_column(
        Text, nullable=False, server_default=text("'draft'::text"))
    currency: Mapped[str] = _inr()
    subtotal_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    tax_cents: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    total_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    line_items: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    period_start: Mapped[datetime | None] = timestamp()
    period_end: Mapped[datetime | None] = timestamp()
    issued_at: Mapped[datetime | None] = timestamp()
    due_at: Mapped[datetime | None] = timestamp()
    paid_at: Mapped[datetime | None] = timestamp()
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
