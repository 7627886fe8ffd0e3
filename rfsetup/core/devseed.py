"""Dev fixtures: a local organisation with something in it, added and removed exactly.

``seeds/dev.json`` (package data, rfsetup.seeds) holds a local organisation, an owner user and
membership, a workspace, a project and a small sample of fictional threat intel (an indicator
of each type, an actor, a campaign, a vulnerability, a report), each row with a fixed id. So:

- ``apply_dev`` adds the rows that are missing, in one transaction, and reports per table what
  it added and what was already there: a second run adds nothing, and says so. A clash with a
  row that is not a fixture (the slug ``raptorflow-dev`` or the owner's e-mail taken) is an
  error with nothing changed.
- ``remove_dev`` deletes exactly those rows, children first. A fixture row that other rows
  would go with (ON DELETE CASCADE: the dev organisation holding intel someone added since) is
  kept and named, so nothing but fixtures is ever deleted.

Never on a production target (``rfsetup.core.guard.check_dev_seed``), and only for RaptorFlow's
schema (the profile's seeds). The database checks every row against rfsetup.schema's
constraints (a fixture that breaks one fails the whole run, rolled back).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rfsetup.core.errors import RfsetupError, bad_input

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection

    from rfsetup.core.settings import Settings

FIXTURE_FILE = "dev.json"
#: tables whose key is not ``id``
KEYS = {"memberships": ("org_id", "user_id")}
LOCK_TIMEOUT = "5s"

Fixtures = list[tuple[str, list[dict[str, Any]]]]


@dataclass(frozen=True)
class DevSeedReport:
    """Per table: rows added, and rows that were already there (a second run: all)."""

    added: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(self.added.values())

    def to_json(self) -> dict[str, Any]:
        return {"added": self.added, "already_there": self.kept, "changed": self.changed}


@dataclass(frozen=True)
class DevRemoval:
    """Per table: fixture rows removed; fixture rows kept because other rows depend on them."""

    removed: dict[str, int] = field(default_factory=dict)
    kept: dict[str, list[str]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(self.removed.values())

    def to_json(self) -> dict[str, Any]:
        return {"removed": self.removed, "kept": self.kept, "changed": self.changed}


def load_fixtures() -> Fixtures:
    """``seeds/dev.json``: (table, rows) in insertion order, parents first."""
    from rfsetup.core.seeding import seeds_dir

    path = seeds_dir() / FIXTURE_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        tables = [(str(table), list(rows)) for table, rows in doc["tables"]]
    except FileNotFoundError:
        raise RfsetupError(f"dev fixtures not found: {path}",
                           hint="reinstall rfsetup: they ship in its rfsetup.seeds package",
                           kind="seed_missing") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise bad_input(f"dev fixture file {path} is malformed", cause=str(exc)) from None
    return tables


def _key(table: str) -> tuple[str, ...]:
    return KEYS.get(table, ("id",))


def _key_of(table: str, row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(row[c]) for c in _key(table))


def _where_key(table: str) -> Any:
    from psycopg2 import sql

    return sql.SQL(" AND ").join(
        sql.SQL("{} = %s").format(sql.Identifier(c)) for c in _key(table))


def _begin(cur: Any, fixtures: Fixtures) -> None:
    from psycopg2 import sql

    missing = []
    for table, _rows in fixtures:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{table}",))
        if not cur.fetchone()[0]:
            missing.append(table)
    if missing:
        raise RfsetupError(f"the database has no {', '.join(missing)} table(s): it is not "
                           "migrated", hint="rfsetup migrate up", kind="not_migrated")
    cur.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))


def _failed(exc: Exception, doing: str) -> RfsetupError:
    import psycopg2.errors

    lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
    if isinstance(exc, psycopg2.errors.UniqueViolation):
        return RfsetupError(f"{doing}: a row that is not a dev fixture holds the same unique "
                            "value; nothing was changed", cause=" ".join(lines[:2]),
                            hint="rename or remove that row, or seed another database",
                            kind="dev_seed_conflict")
    if isinstance(exc, psycopg2.errors.LockNotAvailable):
        return RfsetupError(f"{doing}: a table is busy (locked for more than {LOCK_TIMEOUT}); "
                            "nothing was changed", cause=" ".join(lines[:1]),
                            hint="wait for the running migration to finish", kind="locked")
    return RfsetupError(f"{doing}: PostgreSQL refused it; nothing was changed",
                        cause=" ".join(lines[:2]),
                        hint="check that the database is migrated to head (rfsetup migrate up)",
                        kind="dev_seed_failed")


def apply_dev(conn: PgConnection, fixtures: Fixtures | None = None, *,
              dry_run: bool = False) -> DevSeedReport:
    """Add the fixture rows that are missing, in one transaction (rolled back for a
    ``dry_run``: what it would add). Idempotent: rows already there are left as they are."""
    import psycopg2
    from psycopg2 import sql

    fixtures = load_fixtures() if fixtures is None else fixtures
    added: dict[str, int] = {}
    kept: dict[str, int] = {}
    try:
        with conn.cursor() as cur:
            _begin(cur, fixtures)
            for table, rows in fixtures:
                for row in rows:
                    columns = sql.SQL(", ").join(sql.Identifier(c) for c in row)
                    # the JSON row typed by the table itself: arrays, enums, numerics
                    cur.execute(sql.SQL(
                        "INSERT INTO {t} ({cols}) SELECT {cols} FROM "
                        "jsonb_populate_record(NULL::{t}, %s::jsonb) "
                        "ON CONFLICT ({key}) DO NOTHING").format(
                            t=sql.Identifier(table), cols=columns,
                            key=sql.SQL(", ").join(sql.Identifier(c) for c in _key(table))),
                        (json.dumps(row),))
                    target = added if cur.rowcount == 1 else kept
                    target[table] = target.get(table, 0) + 1
        if dry_run:
            conn.rollback()
        else:
            conn.commit()
    except psycopg2.Error as exc:
        conn.rollback()
        raise _failed(exc, "adding the dev fixtures failed") from None
    except BaseException:
        conn.rollback()
        raise
    return DevSeedReport(added, kept)


def _dependents(cur: Any, table: str, row: dict[str, Any], fixtures: Fixtures) -> list[str]:
    """Rows that are not fixtures and would be deleted with ``row`` (ON DELETE CASCADE)."""
    from psycopg2 import sql

    cur.execute("""
        SELECT c.conrelid::regclass::text, array_agg(a.attname::text ORDER BY k.n),
               array_agg(r.attname::text ORDER BY k.n)
          FROM pg_constraint c
          CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(col, ref, n)
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.col
          JOIN pg_attribute r ON r.attrelid = c.confrelid AND r.attnum = k.ref
         WHERE c.contype = 'f' AND c.confdeltype = 'c' AND c.confrelid = %s::regclass
         GROUP BY c.oid, c.conrelid""", (f"public.{table}",))
    ours = dict(fixtures)
    found = []
    for child, columns, referenced in cur.fetchall():
        child_name = child.split(".")[-1].strip('"')
        match = sql.SQL(" AND ").join(
            sql.SQL("{} = %s").format(sql.Identifier(c)) for c in columns)
        params: list[Any] = [row[r] for r in referenced]
        exclude = sql.SQL("")
        mine = [_key_of(child_name, r) for r in ours.get(child_name, [])]
        if mine:
            key = sql.SQL(", ").join(sql.Identifier(c) for c in _key(child_name))
            exclude = sql.SQL(" AND ({}) NOT IN ({})").format(key, sql.SQL(", ").join(
                sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() * len(k)))
                for k in mine))
            params += [v for k in mine for v in k]
        cur.execute(sql.SQL("SELECT count(*) FROM {} WHERE {}{}").format(
            sql.Identifier(child_name), match, exclude), params)
        count = cur.fetchone()[0]
        if count:
            found.append(f"{count} {child_name} row(s)")
    return found


def remove_dev(conn: PgConnection, fixtures: Fixtures | None = None) -> DevRemoval:
    """Delete exactly the fixture rows, children first, in one transaction; a fixture row that
    other rows would go with is kept and named."""
    import psycopg2
    from psycopg2 import sql

    fixtures = load_fixtures() if fixtures is None else fixtures
    removed: dict[str, int] = {}
    kept: dict[str, list[str]] = {}
    try:
        with conn.cursor() as cur:
            _begin(cur, fixtures)
            for table, rows in reversed(fixtures):
                for row in rows:
                    others = _dependents(cur, table, row, fixtures)
                    if others:
                        kept.setdefault(table, []).append(
                            f"{'/'.join(_key_of(table, row))}: {', '.join(others)} depend on it")
                        continue
                    cur.execute(sql.SQL("DELETE FROM {} WHERE {}").format(
                        sql.Identifier(table), _where_key(table)), _key_of(table, row))
                    if cur.rowcount:
                        removed[table] = removed.get(table, 0) + cur.rowcount
        conn.commit()
    except psycopg2.Error as exc:
        conn.rollback()
        raise _failed(exc, "removing the dev fixtures failed") from None
    except BaseException:
        conn.rollback()
        raise
    return DevRemoval(removed, kept)


def _refuse(settings: Settings) -> None:
    from rfsetup.core import guard

    guard.check_dev_seed(settings)
    if not settings.profile.has_seeds:
        raise bad_input(f"this project ({settings.alembic_ini}) has no dev fixtures: they are "
                        "RaptorFlow's", hint="run it in RaptorFlow's repository")


def seed_dev(settings: Settings, *, remove: bool = False, dry_run: bool = False
             ) -> DevSeedReport | DevRemoval:
    """Add (or ``remove``) the dev fixtures in the database ``settings`` points at; refused,
    with nothing done, on a production target or another project's database."""
    from rfsetup.core.connect import connection

    _refuse(settings)
    fixtures = load_fixtures()
    with connection(settings.url()) as conn:
        if remove:
            return remove_dev(conn, fixtures)
        return apply_dev(conn, fixtures, dry_run=dry_run)


def summary(report: DevSeedReport | DevRemoval, tables: Sequence[str] | None = None) -> str:
    """``added: organizations 1, users 1, … `` or ``nothing to add: all 14 rows are there``."""
    if isinstance(report, DevRemoval):
        if not report.changed and not report.kept:
            return "nothing to remove: no dev fixture is in the database"
        parts = ", ".join(f"{t} {n}" for t, n in report.removed.items()) or "none"
        return f"removed: {parts}"
    if not report.changed:
        return f"nothing to add: all {sum(report.kept.values())} dev fixture rows are there"
    parts = ", ".join(f"{t} {n}" for t, n in report.added.items())
    there = sum(report.kept.values())
    return f"added: {parts}" + (f" ({there} already there)" if there else "")
