"""Seeding the plans: equal to the guide's SQL, idempotent, updates what changed, on real servers.

Every test that writes gets its own copy of a database migrated to head (CREATE DATABASE …
TEMPLATE: faster than migrating each time).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from rfsetup.core import seeding
from rfsetup.core.errors import ExitCode, RfsetupError
from rfsetup.core.seeding import SeedReport, apply_seed, load_plans, plan_seed, seed
from rfsetup.core.settings import load_settings
from tests.conftest import REPO_ROOT, PgTestServer

# The guide's "Seed Data" step, verbatim: the seed must produce exactly what this produces.
GUIDE_INSERT = """
INSERT INTO plans (id, name, price_cents, currency, billing_period, api_requests_per_month, ai_tokens_per_month, features)
VALUES
('free', 'Free', 0, 'INR', 'monthly', 10000, 10000, '{"ai_agents": false, "projects": 3}'::jsonb),
('pro', 'Pro', 350000, 'INR', 'monthly', 100000, 500000, '{"ai_agents": true, "projects": 50, "exports": true}'::jsonb),
('enterprise', 'Enterprise', 999900, 'INR', 'monthly', -1, -1, '{"ai_agents": true, "projects": -1, "exports": true, "sla": true, "support": "priority"}'::jsonb);
"""  # noqa: E501
PLAN_IDS = ["free", "pro", "enterprise"]


@pytest.fixture
def migrated(pg: PgTestServer, head_template: str) -> Iterator[str]:
    """A fresh database at head; yields its psycopg2 URL."""
    name = pg.clone_database(head_template)
    try:
        yield pg.url(name)
    finally:
        pg.drop_database(name)


@pytest.fixture
def conn(pg: PgTestServer, migrated: str) -> Iterator[psycopg2.extensions.connection]:
    """A plain (non-autocommit) psycopg2 connection to ``migrated``."""
    from sqlalchemy.engine import make_url

    db = make_url(migrated).database
    c = pg.admin_connect(db)
    c.autocommit = False
    try:
        yield c
    finally:
        c.close()


def _plans(conn: psycopg2.extensions.connection) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM plans ORDER BY id")
        rows = cur.fetchall()
    conn.rollback()
    return rows


def _versions(conn: psycopg2.extensions.connection) -> dict[str, str]:
    """Each plan's row version (xmin): it changes on any write, even one to the same values."""
    with conn.cursor() as cur:
        cur.execute("SELECT id, xmin::text FROM plans")
        rows = dict(cur.fetchall())
    conn.rollback()
    return rows


def test_seed_file_holds_the_guides_plans_and_equals_the_guides_sql(
        pg: PgTestServer, head_template: str, conn) -> None:
    report = apply_seed(conn)
    assert report == SeedReport(inserted=PLAN_IDS)
    seeded = _plans(conn)

    by_guide = pg.clone_database(head_template)
    try:
        guide_conn = pg.admin_connect(by_guide)
        try:
            with guide_conn.cursor() as cur:
                cur.execute(GUIDE_INSERT)
            assert _plans(guide_conn) == seeded
        finally:
            guide_conn.close()
    finally:
        pg.drop_database(by_guide)
    enterprise = next(row for row in seeded if row[0] == "enterprise")
    assert enterprise[5:8] == ("monthly", -1, -1)  # -1 = unlimited passes the CHECKs


def test_seeding_twice_writes_nothing_the_second_time(conn) -> None:
    apply_seed(conn)
    before = _versions(conn)
    report = apply_seed(conn)
    assert report == SeedReport(unchanged=PLAN_IDS)
    assert not report.changed
    assert _versions(conn) == before, "an unchanged plan was rewritten"
    assert report.to_json() == {"inserted": [], "updated": [], "unchanged": PLAN_IDS,
                                "changed": False}


def test_a_changed_value_is_updated_and_only_that_plan_is_written(conn) -> None:
    apply_seed(conn)
    with conn.cursor() as cur:
        cur.execute("UPDATE plans SET price_cents = 1 WHERE id = 'pro'")
        cur.execute("""UPDATE plans SET features = features - 'sla' WHERE id = 'enterprise'""")
    conn.commit()
    before = _versions(conn)

    planned = plan_seed(conn)
    assert planned == SeedReport(updated=["pro", "enterprise"], unchanged=["free"])
    assert _versions(conn) == before, "plan_seed wrote something"

    assert apply_seed(conn) == planned
    after = _versions(conn)
    assert after["free"] == before["free"]
    assert after["pro"] != before["pro"] and after["enterprise"] != before["enterprise"]
    with conn.cursor() as cur:
        cur.execute("SELECT price_cents, features->'sla' FROM plans WHERE id IN ('pro',"
                    " 'enterprise') ORDER BY id")
        assert cur.fetchall() == [(999900, True), (350000, None)]
    conn.rollback()
    assert apply_seed(conn) == SeedReport(unchanged=PLAN_IDS)


def test_a_changed_seed_file_updates_the_database(conn) -> None:
    apply_seed(conn)
    plans = load_plans()
    plans[0]["name"] = "Free forever"
    plans[0]["features"] = {**plans[0]["features"], "projects": 5}
    assert apply_seed(conn, plans) == SeedReport(updated=["free"], unchanged=["pro", "enterprise"])
    with conn.cursor() as cur:
        cur.execute("SELECT name, features FROM plans WHERE id = 'free'")
        assert cur.fetchone() == ("Free forever", {"ai_agents": False, "projects": 5})
    conn.rollback()


def test_columns_outside_the_seed_are_left_alone(conn) -> None:
    apply_seed(conn)
    with conn.cursor() as cur:
        cur.execute("UPDATE plans SET description = 'for hobbyists' WHERE id = 'free'")
    conn.commit()
    assert apply_seed(conn) == SeedReport(unchanged=PLAN_IDS)
    with conn.cursor() as cur:
        cur.execute("SELECT description FROM plans WHERE id = 'free'")
        assert cur.fetchone() == ("for hobbyists",)
    conn.rollback()


def test_dry_run_reports_and_changes_nothing(conn) -> None:
    assert plan_seed(conn) == SeedReport(inserted=PLAN_IDS)
    assert _plans(conn) == []
    assert conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE


def test_a_value_postgres_rejects_rolls_back_the_whole_seed(conn) -> None:
    plans = load_plans()
    plans[2]["price_cents"] = -5  # the last plan violates ck_plans_price_cents_nonnegative
    with pytest.raises(RfsetupError) as info:
        apply_seed(conn, plans)
    assert info.value.kind == "seed_failed"
    assert "ck_plans_price_cents_nonnegative" in (info.value.cause or "")
    assert _plans(conn) == [], "the valid plans before it were written anyway"


def test_autocommit_connections_are_handled_and_restored(pg: PgTestServer, migrated: str) -> None:
    from sqlalchemy.engine import make_url

    c = pg.admin_connect(make_url(migrated).database)  # autocommit
    try:
        assert apply_seed(c) == SeedReport(inserted=PLAN_IDS)
        assert c.autocommit
        assert plan_seed(c) == SeedReport(unchanged=PLAN_IDS)
    finally:
        c.close()


def test_seed_through_settings_with_dry_run(migrated: str, tmp_path: Path) -> None:
    settings = load_settings(environ={"DATABASE_URL": migrated}, cwd=tmp_path)
    assert seed(settings, dry_run=True) == SeedReport(inserted=PLAN_IDS)
    assert seed(settings) == SeedReport(inserted=PLAN_IDS)
    assert seed(settings, dry_run=True) == SeedReport(unchanged=PLAN_IDS)


@pytest.mark.parametrize("dry_run", [True, False])
def test_unmigrated_database_says_to_migrate(fresh_db: str, tmp_path: Path,
                                             dry_run: bool) -> None:
    settings = load_settings(environ={"DATABASE_URL": fresh_db}, cwd=tmp_path)
    with pytest.raises(RfsetupError) as info:
        seed(settings, dry_run=dry_run)
    assert info.value.kind == "not_migrated"
    assert info.value.hint == "rfsetup migrate up"
    assert info.value.exit_code == ExitCode.FAILED


def test_default_seed_file_is_the_repos() -> None:
    assert seeding.seeds_dir() == REPO_ROOT / "seeds"
    assert load_plans() == json.loads((REPO_ROOT / "seeds" / "plans.json").read_text())


def test_missing_seed_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RfsetupError) as info:
        load_plans(tmp_path / "plans.json")
    assert info.value.kind == "seed_missing"
    assert str(tmp_path / "plans.json") in info.value.message


@pytest.mark.parametrize("content, says", [
    ("{not json", "not valid JSON"),
    ("{}", "non-empty JSON list"),
    ("[]", "non-empty JSON list"),
    ('["free"]', "not a JSON object"),
    ('[{"id": "free"}]', "missing fields"),
    ("PLAN_WITH price_cents=true", "price_cents must be a JSON int"),
    ("PLAN_WITH features=[]", "features must be a JSON dict"),
    ("PLAN_WITH extra=1", "unknown fields ['extra']"),
    ("TWICE", "duplicate plan id 'free'"),
])
def test_malformed_seed_files_are_bad_input(tmp_path: Path, content: str, says: str) -> None:
    plan = load_plans()[0]
    if content.startswith("PLAN_WITH "):
        key, value = content.removeprefix("PLAN_WITH ").split("=")
        content = json.dumps([{**plan, key: json.loads(value)}])
    elif content == "TWICE":
        content = json.dumps([plan, plan])
    path = tmp_path / "plans.json"
    path.write_text(content)
    with pytest.raises(RfsetupError) as info:
        load_plans(path)
    assert info.value.exit_code == ExitCode.USAGE
    assert says in info.value.message
