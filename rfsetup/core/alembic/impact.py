"""What a move drops, read from its SQL and the catalog's row estimates, for a confirmation.

A rollback shown as ``BEGIN; -- Running downgrade …; COMMIT;`` says nothing about what goes. Here
a preview's SQL is split into statements (quotes, dollar quotes and comments respected) and
each is sorted into what changes the schema or the data (``DROP``, ``ALTER``, ``CREATE``…) and
Alembic's bookkeeping (``BEGIN``/``COMMIT``, the version table's row, ``SET``), so both UIs can
show the statements that matter first (``statements_of``). The drops among them (tables,
columns, truncations, deletions; indexes, types, views… as objects) are looked up in the
catalog — ``pg_class.reltuples``, else the statistics' ``n_live_tup``, never ``COUNT(*)`` — so
a confirmation can say "3 tables with ~48,210 rows will be dropped" (``rollback_impact``).

What cannot be read from SQL is said, not guessed: a revision without offline SQL (its Python
runs) is named in ``Impact.unread``; a table the database does not have (yet) has no estimate.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rfsetup.core.alembic.planning import count_text

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection

    from rfsetup.core.alembic.preview import Preview
    from rfsetup.core.settings import Settings

#: one identifier as PostgreSQL reads it: quoted (``""`` inside) or plain
_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
#: a possibly qualified name: ``users``, ``public.users``, ``"My Schema"."My Table"``
_NAME = rf"{_IDENT}(?:\s*\.\s*{_IDENT}){{0,2}}"
_TRANSACTION = re.compile(r"^(BEGIN|COMMIT|END|ROLLBACK|START\s+TRANSACTION|SAVEPOINT|RELEASE)\b",
                          re.IGNORECASE)
_SETTING = re.compile(r"^(SET|RESET)\b", re.IGNORECASE)
_DROP = re.compile(
    r"^DROP\s+(?P<kind>TABLE|MATERIALIZED\s+VIEW|VIEW|SEQUENCE|TYPE|DOMAIN|SCHEMA|EXTENSION|"
    r"INDEX|FUNCTION|PROCEDURE|TRIGGER|POLICY|RULE)\s+(?:CONCURRENTLY\s+)?(?:IF\s+EXISTS\s+)?"
    r"(?P<names>.+?)\s*(?:\b(?:CASCADE|RESTRICT)\s*)?;?$", re.IGNORECASE | re.DOTALL)
_ALTER_TABLE = re.compile(rf"^ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(?P<table>{_NAME})"
                          r"\s+(?P<actions>.+?);?$", re.IGNORECASE | re.DOTALL)
_DROP_COLUMN = re.compile(rf"^DROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?(?P<column>{_IDENT})"
                          r"(?:\s+(?:CASCADE|RESTRICT))?$", re.IGNORECASE)
#: ALTER TABLE … DROP <these> removes no data
_NOT_A_COLUMN = {"constraint", "default", "not", "identity", "expression"}
_TRUNCATE = re.compile(r"^TRUNCATE\s+(?:TABLE\s+)?(?:ONLY\s+)?(?P<names>.+?)"
                       r"(?:\s+(?:RESTART|CONTINUE)\s+IDENTITY)?(?:\s+(?:CASCADE|RESTRICT))?;?$",
                       re.IGNORECASE | re.DOTALL)
_DELETE = re.compile(rf"^DELETE\s+FROM\s+(?:ONLY\s+)?(?P<table>{_NAME})", re.IGNORECASE)
_VERSION_WRITE = r"^(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|CREATE\s+TABLE(?:\s+IF\s+NOT\s+EXISTS)?" \
                 r"|ALTER\s+TABLE|DROP\s+TABLE(?:\s+IF\s+EXISTS)?)\s+(?:ONLY\s+)?{vt}(?![\w$])"
#: these kinds hold rows: their loss is the data lost
DATA_KINDS = ("table", "column", "truncate", "delete")


# -- statements ---------------------------------------------------------------------------------
def split_statements(sql: str) -> list[str]:
    """``sql`` cut at the semicolons that end statements (not those inside quotes, dollar
    quotes or comments); each piece keeps its text and the comments before it."""
    pieces: list[str] = []
    start = i = 0
    n = len(sql)
    while i < n:
        c = sql[i]
        if c == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif c == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif c in "'\"":
            i = _after_quoted(sql, i, c)
        elif c == "$":
            match = re.match(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$", sql[i:])
            if match:
                end = sql.find(match.group(0), i + len(match.group(0)))
                i = n if end < 0 else end + len(match.group(0))
            else:
                i += 1
        elif c == ";":
            pieces.append(sql[start:i + 1])
            start = i = i + 1
        else:
            i += 1
    if sql[start:].strip():
        pieces.append(sql[start:])
    return [p.strip() for p in pieces if p.strip()]


def _after_quoted(sql: str, i: int, quote: str) -> int:
    j = i + 1
    while j < len(sql):
        if sql[j] == quote:
            if sql.startswith(quote * 2, j):  # '' or "" inside: still quoted
                j += 2
                continue
            return j + 1
        j += 1
    return len(sql)


def strip_comments(statement: str) -> str:
    """The statement without its comments, whitespace collapsed to single spaces (quoted text
    kept as it is)."""
    out: list[str] = []
    i, n = 0, len(statement)
    while i < n:
        c = statement[i]
        if c == "-" and statement.startswith("--", i):
            end = statement.find("\n", i)
            i = n if end < 0 else end + 1
            out.append(" ")
        elif c == "/" and statement.startswith("/*", i):
            end = statement.find("*/", i + 2)
            i = n if end < 0 else end + 2
            out.append(" ")
        elif c in "'\"":
            j = _after_quoted(statement, i, c)
            out.append(statement[i:j])
            i = j
        elif c.isspace():
            out.append(" ")
            i += 1
        else:
            out.append(c)
            i += 1
    return re.sub(r" {2,}", " ", "".join(out)).strip()


def classify(statement: str, version_table: str = "alembic_version") -> str:
    """``change`` (what the move is about), ``transaction`` (BEGIN/COMMIT…), ``setting``
    (SET/RESET), ``bookkeeping`` (the version table's row) or ``comment`` (nothing runs)."""
    text = strip_comments(statement)
    if not text or text == ";":
        return "comment"
    if _TRANSACTION.match(text):
        return "transaction"
    if _SETTING.match(text):
        return "setting"
    if _version_write(version_table).match(text):
        return "bookkeeping"
    return "change"


def _version_write(version_table: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in version_table.split(".")]
    name = r"\s*\.\s*".join(rf'"?{p}"?' for p in parts)
    if len(parts) == 1:  # an unqualified table may still be written with its schema
        name = rf'(?:{_IDENT}\s*\.\s*)?{name}'
    return re.compile(_VERSION_WRITE.format(vt=name), re.IGNORECASE)


@dataclass(frozen=True)
class StepStatements:
    """One revision's statements: what it changes (one line each, in order), and how many
    statements are Alembic's bookkeeping around them."""

    revision: str
    message: str
    changes: tuple[str, ...]
    bookkeeping: int
    #: False: the revision has no offline SQL (its Python runs; see the preview)
    offline: bool = True


def statements_of(preview: Preview) -> list[StepStatements]:
    """Per revision of ``preview``, the statements that matter, then the bookkeeping count."""
    result = []
    for step in preview.steps:
        changes: list[str] = []
        other = 0
        if step.offline:
            for statement in split_statements(step.sql):
                kind = classify(statement, preview.version_table)
                if kind == "change":
                    changes.append(strip_comments(statement))
                elif kind != "comment":
                    other += 1
        result.append(StepStatements(step.revision, step.message, tuple(changes), other,
                                     step.offline))
    return result


def changes_text(steps: Sequence[StepStatements]) -> str:
    """The statements that matter first, as SQL comments and statements (what both UIs show
    above the full SQL): ``-- 4 statements change the schema or data:`` …"""
    total = sum(len(s.changes) for s in steps)
    other = sum(s.bookkeeping for s in steps)
    lines = [f"-- {count_text(total, 'statement')} change the schema or data"
             + (f" ({len(steps)} revisions)" if len(steps) > 1 else "") + ":"]
    for step in steps:
        if len(steps) > 1 or not step.offline:
            lines.append(f"-- {step.revision}: {step.message}".rstrip(": "))
        if not step.offline:
            lines.append("--   no offline SQL: its Python runs (shown in the full SQL below)")
        lines.extend(step.changes)
    if other:
        lines.append(f"-- + {count_text(other, 'statement')} of Alembic's bookkeeping "
                     "(BEGIN/COMMIT, the version table): in the full SQL")
    return "\n".join(lines)


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
            return [(kind, name.strip(), _unquote(table.strip()) or None)]
        if kind in ("function", "procedure"):
            return [(kind, names.strip(), None)]
        out = []
        for name in _top_level_split(names):
            clean = _unquote(name.strip())
            out.append((kind, clean, clean if kind == "table" else None))
        return out
    match = _ALTER_TABLE.match(text)
    if match:
        table = _unquote(match["table"])
        out = []
        for action in _top_level_split(match["actions"]):
            column = _DROP_COLUMN.match(action.strip())
            if column and column["column"].lower() not in _NOT_A_COLUMN:
                out.append(("column", f"{table}.{_unquote(column['column'])}", table))
        return out
    match = _TRUNCATE.match(text)
    if match:
        return [("truncate", _unquote(n.strip()), _unquote(n.strip()))
                for n in _top_level_split(match["names"])]
    match = _DELETE.match(text)
    if match:
        table = _unquote(match["table"])
        return [("delete", table, table)]
    return []


def _top_level_split(text: str) -> list[str]:
    """``a, b(c, d), "e,f"`` -> ``a``, ``b(c, d)``, ``"e,f"``."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        c = text[i]
        if c in "'\"":
            i = _after_quoted(text, i, c)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


def _unquote(name: str) -> str:
    """``public."My Table"`` as PostgreSQL names it for people: ``public.My Table``; a plain
    identifier folded to lower case, as the server does."""
    parts = re.findall(_IDENT, name)
    return ".".join(p[1:-1].replace('""', '"') if p.startswith('"') else p.lower()
                    for p in parts)


def _regclass_text(name: str) -> str:
    """A name from ``_unquote`` quoted again for ``to_regclass``."""
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
                f" ({_objects_text(objects)} will be dropped)" if objects else "")
        if self.unread:
            text += f"; not read from SQL: {', '.join(self.unread)} (its Python runs)"
        return text

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


def _objects_text(objects: Iterable[Dropped]) -> str:
    by_kind: dict[str, list[str]] = {}
    for d in objects:
        by_kind.setdefault(d.kind, []).append(d.name)
    out = []
    for kind, names in by_kind.items():
        noun = {"index": "indexes", "schema": "schemas"}.get(kind, kind + "s")
        shown = ", ".join(names[:3]) + (f", … {len(names) - 3} more" if len(names) > 3 else "")
        out.append(f"{len(names)} {noun if len(names) != 1 else kind} ({shown})")
    return "; ".join(out)


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
