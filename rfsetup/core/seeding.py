"""Seed data: the subscription plans from seeds/plans.json, upserted idempotently.

The seed file is the source of truth for the columns it names (the guide's INSERT: name,
price_cents, currency, billing_period, the two monthly quotas and features); columns it does
not name (``description``) are left alone. Running the seed twice changes nothing; a value that
differs from the file is updated; the report says which plans were inserted, updated or left
unchanged. "Differs" is decided by PostgreSQL (``IS DISTINCT FROM``), so JSONB key order or
whitespace never counts as a change.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rfsetup.core.errors import RfsetupError, bad_input

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from psycopg2.extensions import connection as PgConnection

    from rfsetup.core.settings import Settings

#: the seed file's fields, their Python type in JSON and their PostgreSQL type (code constants)
PLAN_FIELDS: dict[str, tuple[type, str]] = {
    "id": (str, "text"),
    "name": (str, "text"),
    "price_cents": (int, "integer"),
    "currency": (str, "text"),
    "billing_period": (str, "text"),
    "api_requests_per_month": (int, "integer"),
    "ai_tokens_per_month": (int, "integer"),
    "features": (dict, "jsonb"),
}
_UPDATABLE = tuple(name for name in PLAN_FIELDS if name != "id")
#: how long apply_seed waits for the plans table before giving up (a migration may hold it)
LOCK_TIMEOUT = "5s"
NOT_MIGRATED_HINT = "rfsetup migrate up"
#: the package holding the seed files (package data; the repo's seeds/ folder)
SEED_PACKAGE = "rfsetup.seeds"


@dataclass(frozen=True)
class SeedReport:
    """What a seed run did (or, for a dry run, would do), as plan ids in seed-file order."""

    inserted: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when the run writes (or would write) anything."""
        return bool(self.inserted or self.updated)

    def to_json(self) -> dict[str, Any]:
        """``asdict`` plus ``changed`` (the `seed --json` document)."""
        return {**asdict(self), "changed": self.changed}


def seeds_dir() -> Traversable:
    """Where the seed files are: the ``rfsetup.seeds`` package, which pyproject.toml maps to
    the repository's seeds/ folder (an editable install reads it there; a wheel carries it)."""
    from importlib.resources import files

    return files(SEED_PACKAGE)


def load_plans(path: Path | Traversable | None = None) -> list[dict[str, Any]]:
    """Read and validate the plans seed file (default: ``plans.json`` of :func:`seeds_dir`).

    Raises RfsetupError when the file is missing (exit 1) or malformed (bad input, exit 2).
    """
    path = path if path is not None else seeds_dir() / "plans.json"
    if not path.is_file():
        raise RfsetupError(
            f"seed file not found: {path}",
            hint="reinstall rfsetup (pip install -e . in a checkout): the plans ship in its "
                 "rfsetup.seeds package, the repository's seeds/ folder",
            kind="seed_missing",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_input(f"seed file {path} is not valid JSON", cause=str(exc)) from None
    return _validate(data, path)


def _validate(data: object, path: Path | Traversable) -> list[dict[str, Any]]:
    if not isinstance(data, list) or not data:
        raise bad_input(f"seed file {path} must hold a non-empty JSON list of plans")
    seen: set[str] = set()
    for index, plan in enumerate(data):
        where = f"seed file {path}, plan #{index + 1}"
        if not isinstance(plan, dict):
            raise bad_input(f"{where} is not a JSON object")
        missing = [k for k in PLAN_FIELDS if k not in plan]
        unknown = sorted(set(plan) - set(PLAN_FIELDS))
        if missing or unknown:
            raise bad_input(
                f"{where} has missing fields {missing} or unknown fields {unknown}",
                hint="expected exactly: " + ", ".join(PLAN_FIELDS),
            )
        for key, (kind, _pg) in PLAN_FIELDS.items():
            value = plan[key]
            # bool is an int in Python; a JSON true is never a valid price or quota
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise bad_input(f"{where}: {key} must be a JSON {kind.__name__}, got {value!r}")
        if plan["id"] in seen:
            raise bad_input(f"{where}: duplicate plan id {plan['id']!r}")
        seen.add(plan["id"])
    return [dict(plan) for plan in data]


def _seed_rows():  # -> psycopg2.sql.Composed
    """``jsonb_to_recordset(%(plans)s::jsonb) AS s(id text, …)``: the seed as a typed relation."""
    from psycopg2 import sql

    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(pg)) for name, (_t, pg)
        in PLAN_FIELDS.items()
    )
    return sql.SQL("jsonb_to_recordset(%(plans)s::jsonb) AS s({})").format(columns)


def _row(alias: str):  # -> psycopg2.sql.Composed
    """``(alias.name, alias.price_cents, …)``: the updatable columns as one row value."""
    from psycopg2 import sql

    return sql.SQL("({})").format(sql.SQL(", ").join(
        sql.Identifier(alias, name) for name in _UPDATABLE))


def _require_plans_table(cur: Any) -> None:
    cur.execute("SELECT to_regclass('plans') IS NOT NULL")
    if not cur.fetchone()[0]:
        raise RfsetupError(
            "the plans table does not exist: the database has not been migrated",
            hint=NOT_MIGRATED_HINT,
            kind="not_migrated",
        )


def _classify(cur: Any, plans: Sequence[dict[str, Any]]) -> SeedReport:
    from psycopg2 import sql

    query = sql.SQL(
        "SELECT s.id, CASE WHEN p.id IS NULL THEN 'insert'"
        " WHEN {current} IS DISTINCT FROM {wanted} THEN 'update' ELSE 'unchanged' END"
        " FROM {rows} LEFT JOIN plans AS p ON p.id = s.id"
    ).format(current=_row("p"), wanted=_row("s"), rows=_seed_rows())
    cur.execute(query, {"plans": json.dumps(list(plans))})
    verdicts = dict(cur.fetchall())
    report = SeedReport()
    for plan in plans:  # keep the seed file's order
        {"insert": report.inserted, "update": report.updated,
         "unchanged": report.unchanged}[verdicts[plan["id"]]].append(plan["id"])
    return report


def _db_error(exc: Exception, doing: str) -> RfsetupError:
    import psycopg2.errors

    lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
    if isinstance(exc, psycopg2.errors.LockNotAvailable):
        return RfsetupError(
            f"{doing}: the plans table is busy (locked for more than {LOCK_TIMEOUT})",
            hint="wait for the running migration or seed to finish and try again",
            cause=" ".join(lines[:1]),
            kind="locked",
        )
    return RfsetupError(
        f"{doing}: PostgreSQL refused it",
        hint="check that the database is migrated to head (rfsetup migrate up) and that "
        "seeds/plans.json holds valid values",
        cause=" ".join(lines[:2]),
        kind="seed_failed",
    )


def plan_seed(conn: PgConnection, plans: Sequence[dict[str, Any]] | None = None) -> SeedReport:
    """What ``apply_seed`` would do, computed by the database; changes nothing.

    ``plans`` defaults to ``load_plans()``. When the connection was idle, the read's own
    transaction is rolled back, so the connection is left as it was found.
    """
    import psycopg2
    from psycopg2.extensions import TRANSACTION_STATUS_IDLE

    plans = load_plans() if plans is None else plans
    was_idle = conn.get_transaction_status() == TRANSACTION_STATUS_IDLE
    try:
        with conn.cursor() as cur:
            _require_plans_table(cur)
            return _classify(cur, plans)
    except psycopg2.Error as exc:
        raise _db_error(exc, "planning the seed failed") from None
    finally:
        if was_idle and not conn.autocommit:
            conn.rollback()


def apply_seed(conn: PgConnection, plans: Sequence[dict[str, Any]] | None = None) -> SeedReport:
    """Upsert the plans in one transaction and report what changed; idempotent.

    The plans table is locked against concurrent writers (SHARE ROW EXCLUSIVE: readers and
    foreign-key checks from subscriptions still proceed) so the report is exactly what was
    written. Commits on success (including anything the caller left open on ``conn``), rolls
    back on any error. ``plans`` defaults to
    ``load_plans()``.
    """
    import psycopg2
    from psycopg2 import sql

    plans = load_plans() if plans is None else plans
    was_autocommit = conn.autocommit
    if was_autocommit:  # psycopg2 allows the switch only outside a transaction
        conn.autocommit = False
    try:
        with conn, conn.cursor() as cur:
            _require_plans_table(cur)
            cur.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
            cur.execute("LOCK TABLE plans IN SHARE ROW EXCLUSIVE MODE")
            report = _classify(cur, plans)
            if report.changed:
                columns = sql.SQL(", ").join(sql.Identifier(n) for n in PLAN_FIELDS)
                updates = sql.SQL(", ").join(
                    sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n)) for n in _UPDATABLE)
                cur.execute(
                    sql.SQL(
                        "INSERT INTO plans AS p ({columns}) SELECT {columns} FROM {rows}"
                        " ON CONFLICT (id) DO UPDATE SET {updates}"
                        " WHERE {current} IS DISTINCT FROM {wanted}"
                    ).format(columns=columns, rows=_seed_rows(), updates=updates,
                             current=_row("p"), wanted=_row("excluded")),
                    {"plans": json.dumps(list(plans))},
                )
        return report
    except psycopg2.Error as exc:
        raise _db_error(exc, "seeding the plans failed") from None
    finally:
        if was_autocommit:
            conn.autocommit = True


def seed(settings: Settings, *, dry_run: bool = False) -> SeedReport:
    """Seed the plans into the database ``settings`` points at (or only plan it: ``dry_run``).

    The seed file is read and validated before connecting, so a broken file fails fast.
    """
    from rfsetup.core.connect import connection

    plans = load_plans()
    with connection(settings.url()) as conn:
        return plan_seed(conn, plans) if dry_run else apply_seed(conn, plans)


def is_seeded(settings: Settings) -> bool | None:
    """Whether the database holds the seed as the seed file has it (a dry run finds nothing
    to insert or update); False when the seed's table is not there yet; None when the
    project has no seeds (nothing is expected). What Verify and ``rfsetup setup`` check."""
    if not settings.profile.has_seeds:
        return None
    try:
        return not seed(settings, dry_run=True).changed
    except RfsetupError as exc:
        if exc.kind == "not_migrated":
            return False
        raise
