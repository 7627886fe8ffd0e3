"""What a move drops, read from its SQL and the catalog's row estimates, for a confirmation.

The drops among a move's statements (``statements``: tables, columns, truncations, deletions;
indexes, types, views… as objects) are looked up in the catalog — ``pg_class.reltuples``, else
the statistics' ``n_live_tup``, never ``COUNT(*)`` — so both UIs can say "3 tables with ~48,210
rows will be dropped" before a rollback is confirmed (``rollback_impact``).

What cannot be read from SQL is said, not guessed: a revision without offline SQL (its Python
runs) is named in ``Impact.unread``; a table the database does not have (yet) has no estimate.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rfsetup.core.alembic.planning import count_text
from rfsetup.core.alembic.statements import (
    IDENT,
    NAME,
    classify,
    split_statements,
    strip_comments,
    top_level_split,
    unquote,
)

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection

    from rfsetup.core.alembic.sqlpreview import Preview
    from rfsetup.core.settings import Settings

_DROP = re.compile(
    r"^DROP\s+(?P<kind>TABLE|MATERIALIZED\s+VIEW|VIEW|SEQUENCE|TYPE|DOMAIN|SCHEMA|EXTENSION|"
    r"INDEX|FUNCTION|PROCEDURE|TRIGGER|POLICY|RULE)\s+(?:CONCURRENTLY\s+)?(?:IF\s+EXISTS\s+)?"
    r"(?P<names>.+?)\s*(?:\b(?:CASCADE|RESTRICT)\s*)?;?$", re.IGNORECASE | re.DOTALL)
_ALTER_TABLE = re.compile(rf"^ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(?P<table>{NAME})"
                          r"\s+(?P<actions>.+?);?$", re.IGNORECASE | re.DOTALL)
_DROP_COLUMN = re.compile(rf"^DROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?(?P<column>{IDENT})"
                          r"(?:\s+(?:CASCADE|RESTRICT))?$", re.IGNORECASE)
#: ALTER TABLE … DROP <these> removes no data
_NOT_A_COLUMN = {"constraint", "default", "not", "identity", "expression"}
_TRUNCATE = re.compile(r"^TRUNCATE\s+(?:TABLE\s+)?(?:ONLY\s+)?(?P<names>.+?)"
                       r"(?:\s+(?:RESTART|CONTINUE)\s+IDENTITY)?(?:\s+(?:CASCADE|RESTRICT))?;?$",
                       re.IGNORECASE | re.DOTALL)
_DELETE = re.compile(rf"^DELETE\s+FROM\s+(?:ONLY\s+)?(?P<table>{NAME})", re.IGNORECASE)
#: these kinds hold rows: their loss is the data lost
DATA_KINDS = ("table", "column", "truncate", "delete")


# -- what is dropped ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Dropped:
    """One thing a move removes: ``kind`` table, column, truncate or delete (rows go), or an
    object kind (index, type, view…); ``rows`` the estimate of the rows it holds (a column's:
    its table's), None when unknown."""

    kind: str
    name: str
    revision: str
    table: str | None = None
    rows: int | None = None
    #: False: no such table in the database now (no estimate)
    exists: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "revision": self.revision,
                "table": self.table, "rows": self.rows, "exists": self.exists}


def drops_in(statement: str) -> list[tuple[str, str, str | None]]:
    """What one statement removes: (kind, name, table) — ``("table", "users", "users")``,
    ``("column", "users.email", "users")``, ``("index", "ix_a", None)``."""
    text = strip_comments(statement)
    match = _DROP.match(text)
    if match:
        kind = " ".join(match["kind"].lower().split())
        names = match["names"]
        if kind in ("trigger", "policy", "rule"):  # DROP TRIGGER t ON table
            name, table = [*re.split(r"\s+ON\s+", names, maxsplit=1, flags=re.IGNORECASE),
                           ""][:2]
            return [(kind, name.strip(), unquote(table.strip()) or None)]
        if kind in ("function", "procedure"):
            return [(kind, names.strip(), None)]
        out = []
        for name in top_level_split(names):
            clean = unquote(name.strip())
            out.append((kind, clean, clean if kind == "table" else None))
        return out
    match = _ALTER_TABLE.match(text)
    if match:
        table = unquote(match["table"])
        out = []
        for action in top_level_split(match["actions"]):
            column = _DROP_COLUMN.match(action.strip())
            if column and column["column"].lower() not in _NOT_A_COLUMN:
                out.append(("column", f"{table}.{unquote(column['column'])}", table))
        return out
    match = _TRUNCATE.match(text)
    if match:
        return [("truncate", unquote(n.strip()), unquote(n.strip()))
                for n in top_level_split(match["names"])]
    match = _DELETE.match(text)
    if match:
        table = unquote(match["table"])
        return [("delete", table, table)]
    return []


def _regclass_text(name: str) -> str:
    """A name from ``unquote`` quoted again for ``to_regclass``."""
    return ".".join('"' + p.replace('"', '""') + '"' for p in name.split("."))


@dataclass(frozen=True)
class Impact:
    """What a move drops, with row estimates; ``unread`` the revisions whose effect cannot be
    read from SQL (no offline SQL)."""

    direction: str
    target: str
    dropped: tuple[Dropped, ...]
    unread: tuple[str, ...] = ()
    #: tables the database holds that the move leaves alone (to base: what survives)
    kept_tables: tuple[str, ...] = field(default=())

    @property
    def to_base(self) -> bool:
        return self.direction == "down" and self.target == "base"

    def of_kind(self, *kinds: str) -> list[Dropped]:
        return [d for d in self.dropped if d.kind in kinds]

    @property
    def loses_data(self) -> bool:
        return bool(self.of_kind(*DATA_KINDS))

    @property
    def rows_lost(self) -> int:
        """The estimated rows in the dropped tables, truncated tables and dropped columns'
        tables (each table once)."""
        seen: dict[str, int] = {}
        for d in self.of_kind(*DATA_KINDS):
            if d.table and d.rows is not None and d.kind != "delete":
                seen[d.table] = d.rows
        return sum(seen.values())

    def headline(self) -> str:
        """``3 tables with ~48,210 rows will be dropped``; to base, the data lost in so many
        words; what is dropped when no data goes."""
        tables = self.of_kind("table")
        columns = self.of_kind("column")
        truncated = self.of_kind("truncate")
        parts = []
        if tables:
            parts.append(f"{count_text(len(tables), 'table')} with "
                         f"{_rows(sum(t.rows or 0 for t in tables), tables)}")
        if columns:
            parts.append(count_text(len(columns), "column"))
        text = ""
        if parts:
            text = " and ".join(parts) + " will be dropped"
        if truncated:
            text += ("; " if text else "") + (
                f"{count_text(len(truncated), 'table')} emptied (TRUNCATE, "
                f"{_rows(sum(t.rows or 0 for t in truncated), truncated)})")
        deleted = self.of_kind("delete")
        if deleted:
            text += ("; " if text else "") + "rows deleted from " + \
                ", ".join(d.name for d in deleted)
        if self.to_base:
            n = len(self.kept_tables)
            kept = f"; {count_text(n, 'other table')} {'stays' if n == 1 else 'stay'}" \
                if n else ""
            text = f"rollback to base: {text or 'nothing is dropped'}" + (
                "; all their data is lost" if self.loses_data else "") + kept
        if not text:
            objects = [d for d in self.dropped if d.kind not in DATA_KINDS]
            text = "no table or column is dropped" + (
                f", only {_objects_text(objects, names=False)}" if objects else "")
        if self.unread:
            text += f"; not read from SQL: {', '.join(self.unread)} (its Python runs)"
        return text

    def summary(self, limit: int = 5) -> str:
        """The headline, then the largest tables and columns named with their rows:
        ``2 tables with ~48,267 rows will be dropped: indicators ~48,210, threat_actors ~57``."""
        # the empty ones are counted in the headline, not named
        data = sorted((d for d in self.of_kind("table", "column", "truncate")
                       if d.exists and d.rows != 0), key=lambda d: -(d.rows or 0))
        if not data:
            return self.headline()
        named = ", ".join(f"{d.name} " + (f"~{d.rows:,}" if d.rows is not None else "?")
                          for d in data[:limit])
        more = f", … {len(data) - limit} more" if len(data) > limit else ""
        return f"{self.headline()} — the largest: {named}{more}" if len(data) > 1 else \
            f"{self.headline()}: {named}"

    def details(self, limit: int = 12) -> list[str]:
        """One line per dropped table or column (largest first), then the other objects."""
        data = sorted(self.of_kind(*DATA_KINDS), key=lambda d: -(d.rows or 0))
        lines = []
        for d in data[:limit]:
            what = {"table": "table", "column": "column", "truncate": "emptied",
                    "delete": "rows deleted from"}[d.kind]
            if not d.exists:
                rows = "not in the database now"
            elif d.kind == "delete":
                rows = f"of ~{d.rows:,} rows" if d.rows is not None else "rows unknown"
            else:
                rows = _rows(d.rows or 0, [d]) + (" in its table" if d.kind == "column" else "")
            lines.append(f"{what} {d.name}  {rows}")
        if len(data) > limit:
            lines.append(f"… and {len(data) - limit} more")
        objects = [d for d in self.dropped if d.kind not in DATA_KINDS]
        if objects:
            lines.append(f"also dropped: {_objects_text(objects)}")
        return lines

    def to_json(self) -> dict[str, Any]:
        return {"direction": self.direction, "target": self.target,
                "dropped": [d.to_json() for d in self.dropped], "unread": list(self.unread),
                "kept_tables": list(self.kept_tables), "rows_lost": self.rows_lost,
                "headline": self.headline()}


def _rows(total: int, items: Sequence[Dropped]) -> str:
    unknown = any(d.rows is None for d in items)
    if unknown and not total:
        return "an unknown number of rows"
    return f"~{total:,} row{'s' if total != 1 else ''}" + (" or more" if unknown else "")


def _objects_text(objects: Iterable[Dropped], *, names: bool = True) -> str:
    """``4 indexes (ix_a, ix_b, ix_c, … 1 more); 1 type (t)``; without ``names``, the counts."""
    by_kind: dict[str, list[str]] = {}
    for d in objects:
        by_kind.setdefault(d.kind, []).append(d.name)
    out = []
    for kind, found in by_kind.items():
        noun = {"index": "indexes", "schema": "schemas"}.get(kind, kind + "s")
        text = f"{len(found)} {noun if len(found) != 1 else kind}"
        if names:
            text += " (" + ", ".join(found[:3]) + (
                f", … {len(found) - 3} more" if len(found) > 3 else "") + ")"
        out.append(text)
    return ("; " if names else ", ").join(out)


_ESTIMATES_SQL = """
SELECT c.oid IS NOT NULL,
       CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint ELSE s.n_live_tup END
  FROM (SELECT to_regclass(%s) AS oid) r
  LEFT JOIN pg_class c ON c.oid = r.oid
  LEFT JOIN pg_stat_user_tables s ON s.relid = r.oid
"""

_ALL_TABLES_SQL = """
SELECT n.nspname, c.relname
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname !~ '^pg_toast' AND NOT c.relispartition
 ORDER BY 1, 2
"""


def read_impact(conn: PgConnection, preview: Preview) -> Impact:
    """What ``preview`` drops, its tables' row estimates read on ``conn`` (read-only)."""
    found: list[tuple[str, str, str | None, str]] = []
    for step in preview.steps:
        if not step.offline:
            continue
        for statement in split_statements(step.sql):
            if classify(statement, preview.version_table) != "change":
                continue
            found += [(kind, name, table, step.revision)
                      for kind, name, table in drops_in(statement)]
    estimates: dict[str, tuple[bool, int | None]] = {}
    with conn.cursor() as cur:
        for _kind, _name, table, _rev in found:
            if table is not None and table not in estimates:
                cur.execute(_ESTIMATES_SQL, (_regclass_text(table),))
                row = cur.fetchone()
                exists = bool(row and row[0])
                estimates[table] = (exists, int(row[1]) if exists and row[1] is not None
                                    else None)
        kept: tuple[str, ...] = ()
        if preview.direction == "down" and preview.target == "base":
            cur.execute(_ALL_TABLES_SQL)
            dropped = {t for k, _n, t, _r in found if k == "table" and t}
            vt = preview.version_table.split(".")[-1]
            kept = tuple(f"{s}.{t}" if s != "public" else t for s, t in cur.fetchall()
                         if t != vt and t not in dropped and f"{s}.{t}" not in dropped)
    dropped_items = tuple(
        Dropped(kind, name, rev, table, *(_pair(estimates.get(table)) if table else (None, True)))
        for kind, name, table, rev in found)
    return Impact(preview.direction, preview.target, dropped_items,
                  tuple(s.revision for s in preview.steps if not s.offline), kept)


def _pair(estimate: tuple[bool, int | None] | None) -> tuple[int | None, bool]:
    if estimate is None:
        return None, True
    exists, rows = estimate
    return rows, exists


def rollback_impact(settings: Settings, preview: Preview) -> Impact:
    """``read_impact`` on a connection of its own to the target (diagnosed failures)."""
    from rfsetup.core.connect import connection

    with connection(settings.url(), autocommit=True) as conn:
        return read_impact(conn, preview)
