"""rfsetup.core.inspect on a real server: \\dt and \\d for tables built here with every feature."""

from __future__ import annotations

import psycopg2
import pytest

from rfsetup.core.errors import ExitCode, RfsetupError
from rfsetup.core.inspect import describe_table, list_tables
from rfsetup.core.settings import Settings

DDL = """
CREATE TABLE orgs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug text NOT NULL,
    CONSTRAINT uq_orgs_slug UNIQUE (slug)
);
CREATE TABLE "Members" (
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_no integer NOT NULL,
    confidence integer CHECK (confidence BETWEEN 0 AND 100),
    tags text[] NOT NULL DEFAULT '{}',
    seq bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (org_id, user_no)
);
CREATE INDEX ix_members_tags ON "Members" USING gin (tags);
INSERT INTO orgs (slug) VALUES ('a'), ('b'), ('c');
ANALYZE orgs;
"""


@pytest.fixture(scope="module")
def settings(pg, tmp_path_factory) -> Settings:
    name = pg.create_database()
    conn = psycopg2.connect(pg.url(name).replace("postgresql+psycopg2", "postgresql"))
    with conn, conn.cursor() as cur:
        cur.execute(DDL)
    conn.close()
    tmp = tmp_path_factory.mktemp("inspect")
    yield Settings(env_file=tmp / ".env", alembic_ini=tmp / "alembic.ini",
                   database_url=pg.url(name))
    pg.drop_database(name)


def test_list_tables_is_dt_with_estimates(settings: Settings) -> None:
    tables = {t.name: t for t in list_tables(settings)}
    assert set(tables) == {"orgs", "Members"}
    assert tables["orgs"].rows == 3  # from reltuples after ANALYZE
    assert tables["orgs"].columns == 2
    assert tables["Members"].columns == 5
    assert tables["orgs"].schema == "public"
    assert tables["orgs"].owner == "postgres"


def test_describe_columns_keys_indexes_checks(settings: Settings) -> None:
    desc = describe_table(settings, "Members")
    cols = {c.name: c for c in desc.columns}
    assert [c.name for c in desc.columns] == ["org_id", "user_no", "confidence", "tags", "seq"]
    assert cols["org_id"].type == "uuid" and not cols["org_id"].nullable
    assert cols["confidence"].nullable
    assert cols["tags"].type == "text[]" and cols["tags"].default == "'{}'::text[]"
    assert cols["seq"].default == "generated always as identity"
    assert desc.primary_key == ("org_id", "user_no")
    fks = desc.of_kind("foreign key")
    assert len(fks) == 1 and "REFERENCES orgs(id) ON DELETE CASCADE" in fks[0].definition
    checks = desc.of_kind("check")
    assert len(checks) == 1 and "confidence >= 0" in checks[0].definition
    by_name = {i.name: i for i in desc.indexes}
    assert by_name["Members_pkey"].primary
    assert "USING gin (tags)" in by_name["ix_members_tags"].definition


def test_describe_unique_and_referenced_by(settings: Settings) -> None:
    desc = describe_table(settings, "public.orgs")
    assert desc.primary_key == ("id",)
    assert desc.columns[0].default == "gen_random_uuid()"
    assert [c.name for c in desc.of_kind("unique")] == ["uq_orgs_slug"]
    assert [(r.table, r.kind) for r in desc.referenced_by] == [('"Members"', "foreign key")]
    assert desc.to_json()["primary_key"] == ["id"]


def test_missing_table_is_bad_input_naming_the_tables(settings: Settings) -> None:
    with pytest.raises(RfsetupError) as info:
        describe_table(settings, "userz")
    assert info.value.exit_code == ExitCode.USAGE
    assert "orgs" in (info.value.hint or "")


def test_unreachable_server_is_diagnosed(tmp_path) -> None:
    from rfsetup.core.embedded import free_port

    s = Settings(env_file=tmp_path / ".env", alembic_ini=tmp_path / "a.ini",
                 database_url=f"postgresql://u:secret@127.0.0.1:{free_port()}/db")
    with pytest.raises(RfsetupError) as info:
        list_tables(s)
    assert info.value.exit_code == ExitCode.CONNECT
    assert "secret" not in str(info.value.to_dict())
