"""Shared test helpers (synthetic Alembic projects); also used by benchmarks/."""
