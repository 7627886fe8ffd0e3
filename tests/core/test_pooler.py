"""Transaction-mode poolers, observed through a real PgBouncer in front of the test server:
the probe tells direct, session mode and transaction mode apart, and migrations and restores
refuse a transaction pooler before they lock or SET anything."""

from __future__ import annotations

from pathlib import Path

import psycopg2
import pytest

from rfsetup.core import alembic as migrations
from rfsetup.core import backups, locking, pooler, restore
from rfsetup.core.errors import ExitCode, RfsetupError
from rfsetup.core.settings import normalize_database_url
from tests.conftest import PgBouncer
from tests.helpers.alembic_project import SyntheticProject, make_project
from tests.helpers.db import db, libpq, query, settings_for, version


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> SyntheticProject:
    return make_project(tmp_path_factory.mktemp("pooler") / "p", 2)


def _probe(url: str) -> pooler.PoolerFacts:
    conn = psycopg2.connect(libpq(url))
    conn.autocommit = True
    try:
        return pooler.probe(conn, normalize_database_url(url))
    finally:
        conn.close()


def test_the_probe_tells_direct_session_and_transaction_mode_apart(
        pgbouncer: PgBouncer, fresh_db: str) -> None:
    name = fresh_db.rsplit("/", 1)[1]
    direct = _probe(fresh_db)
    assert not direct.proxied and not direct.transaction_mode
    session = _probe(pgbouncer.url(name, "session"))
    assert session.proxied and not session.transaction_mode
    assert "session mode" in session.evidence
    pooled = _probe(pgbouncer.url(name, "transaction"))
    assert pooled.proxied and pooled.transaction_mode
    assert "server session" in pooled.evidence
    assert pooled.hint and "session mode" in pooled.hint
    # the probe left nothing behind on the pooled server sessions: no SET, no lock
    assert query(fresh_db, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == [(0,)]


def _upgrade_refused(settings) -> RfsetupError:
    with pytest.raises(RfsetupError) as info:
        migrations.upgrade(settings)
    return info.value


def test_migrations_refuse_a_transaction_pooler_with_nothing_done(
        pgbouncer: PgBouncer, fresh_db: str, project: SyntheticProject, tmp_path: Path) -> None:
    name = fresh_db.rsplit("/", 1)[1]
    pooled = settings_for(project.ini, pgbouncer.url(name, "transaction"), tmp_path)
    err = _upgrade_refused(pooled)
    assert err.exit_code == ExitCode.USAGE and err.kind == "transaction_pooler"
    assert "rfsetup migrate up" in err.message and "nothing was done" in err.message
    assert "transaction mode" in err.message and "***" in err.message  # password masked
    assert "session mode" in (err.hint or "")
    assert version(fresh_db) == ()
    assert not (tmp_path / ".rfsetup" / "backups").exists()  # not even a backup
    with pytest.raises(RfsetupError) as stamped:
        migrations.stamp(pooled, project.ids[0])
    assert stamped.value.kind == "transaction_pooler" and "migrate stamp" in \
        stamped.value.message
    # no lock was left behind on a pooled server session: a direct run takes it at once
    direct = settings_for(project.ini, fresh_db, tmp_path, RFSETUP_LOCK_WAIT="0")
    assert migrations.upgrade(direct, backup=False).applied == project.ids
    with pytest.raises(RfsetupError) as down:
        migrations.downgrade(pooled, backup=False)
    assert down.value.kind == "transaction_pooler" and "migrate down" in down.value.message
    assert version(fresh_db) == tuple(project.heads)


def test_a_session_mode_pooler_migrates_with_lock_and_timeouts(
        pgbouncer: PgBouncer, fresh_db: str, tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", 2, record_at=2)
    name = fresh_db.rsplit("/", 1)[1]
    settings = settings_for(project.ini, pgbouncer.url(name, "session"), tmp_path / "w",
                            RFSETUP_LOCK_TIMEOUT="1500ms")
    result = migrations.upgrade(settings, backup=False)
    assert result.applied == project.ids
    assert query(fresh_db, "SELECT lock_timeout FROM session_seen") == [("1500ms",)]


def test_restore_refuses_a_transaction_pooler_before_the_confirmation(
        pgbouncer: PgBouncer, fresh_db: str, project: SyntheticProject, tmp_path: Path) -> None:
    direct = settings_for(project.ini, fresh_db, tmp_path)
    migrations.upgrade(direct, project.ids[0], backup=False)
    taken = backups.create_backup(direct)
    migrations.upgrade(direct, backup=False)
    name = fresh_db.rsplit("/", 1)[1]
    pooled = settings_for(project.ini, pgbouncer.url(name, "transaction"), tmp_path)
    for attempt in (lambda: restore.plan_restore(pooled, taken.path),
                    lambda: restore.restore_backup(pooled, taken.path, drop_extra=True)):
        with pytest.raises(RfsetupError) as info:
            attempt()
        assert info.value.kind == "transaction_pooler"
        assert info.value.exit_code == ExitCode.USAGE
        assert "rfsetup backup restore" in info.value.message
    assert version(fresh_db) == tuple(project.heads)
    assert len(backups.list_backups(direct)) == 1  # no safety backup either
    with db(fresh_db) as conn:
        assert locking.try_lock(conn)


@pytest.mark.parametrize(("url", "known", "fix"), [
    ("postgresql://postgres.abcdefgh:pw@aws-0-eu-central-1.pooler.supabase.com:6543/postgres",
     "Supavisor in transaction mode", "port 5432 on db.abcdefgh.supabase.co"),
    ("postgresql://u:pw@db.example.com:6543/app", "port 6543", "db.<project-ref>.supabase.co"),
    ("postgresql://u:pw@app.proxy-c1x2y3.eu-west-1.rds.amazonaws.com/app", "RDS Proxy",
     "not the proxy's"),
    ("postgresql://u:pw@10.0.0.5:6432/app", "PgBouncer", "pool_mode = session"),
    ("postgresql://u:pw@10.0.0.5/app", None, "pool_mode = session"),
])
def test_well_known_pooler_addresses_sharpen_the_hint(url: str, known: str | None,
                                                      fix: str) -> None:
    parsed = normalize_database_url(url)
    named = pooler.known_pooler(parsed)
    assert (named is None) if known is None else (known in (named or ""))
    assert fix in pooler.fix_hint(parsed)
