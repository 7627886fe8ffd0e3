"""The guide's Verify step without psql: ``\\dt`` (list_tables) and ``\\d users`` (describe_table).

Both read the system catalogs over one connection opened by ``rfsetup.core.connect``, so a
failure to connect is diagnosed like everywhere else. Row counts are the planner's estimates
(``reltuples``), never ``COUNT(*)``: Verify must stay instant on a large table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from rfsetup.core.errors import bad_input
from rfsetup.core.settings import Settings

_TABLES_SQL = """
SELECT n.nspname, c.relname,
       CASE c.relkind WHEN 'p' THEN 'partitioned table' ELSE 'table' END,
       pg_get_userbyid(c.relowner),
       CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint ELSE COALESCE(s.n_live_tup, 0) END,
       (SELECT count(*) FROM pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
 WHERE c.relkind IN ('r', 'p')
   AND n.nspname = COALESCE(%(schema)s, current_schema())
 ORDER BY c.relname
"""

_FIND_SQL = """
SELECT c.oid, n.nspname, c.relname
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND c.relname = %(name)s
   AND n.nspname = COALESCE(%(schema)s, current_schema())
"""

_COLUMNS_SQL = """
SELECT a.attname,
       format_type(a.atttypid, a.atttypmod),
       NOT a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid),
       a.attidentity,
       a.attgenerated
  FROM pg_attribute a
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attrelid = %(oid)s AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum
"""

_INDEXES_SQL = """
SELECT ic.relname, i.indisprimary, i.indisunique, pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
 WHERE i.indrelid = %(oid)s
 ORDER BY i.indisprimary DESC, ic.relname
"""

# contype: p primary key, u unique, f foreign key, c check, x exclusion
_CONSTRAINTS_SQL = """
SELECT conname, contype, pg_get_constraintdef(oid, true)
  FROM pg_constraint
 WHERE conrelid = %(oid)s AND contype IN ('p', 'u', 'f', 'c', 'x')
 ORDER BY contype, conname
"""

_REFERENCED_BY_SQL = """
SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid, true)
  FROM pg_constraint
 WHERE confrelid = %(oid)s AND contype = 'f'
 ORDER BY 1, 2
"""

_KINDS = {"p": "primary key", "u": "unique", "f": "foreign key", "c": "check", "x": "exclusion"}


@dataclass(frozen=True)
class TableSummary:
    """One row of ``\\dt`` plus the planner's row estimate and the column count."""

    schema: str
    name: str
    kind: str
    owner: str
    rows: int
    columns: int


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str
    nullable: bool
    default: str | None


@dataclass(frozen=True)
class IndexInfo:
    name: str
    primary: bool
    unique: bool
    definition: str


@dataclass(frozen=True)
class ConstraintInfo:
    """A constraint as psql shows it; ``kind`` is primary key / unique / foreign key / check."""

    name: str
    kind: str
    definition: str
    #: for "referenced by" entries: the table whose foreign key points here
    table: str | None = None


@dataclass(frozen=True)
class TableDescription:
    """What ``\\d TABLE`` shows: columns, indexes, constraints and who references the table."""

    schema: str
    name: str
    columns: tuple[ColumnInfo, ...]
    indexes: tuple[IndexInfo, ...]
    constraints: tuple[ConstraintInfo, ...]
    referenced_by: tuple[ConstraintInfo, ...]

    @property
    def primary_key(self) -> tuple[str, ...]:
        """The primary key's columns, in key order (from the constraint definition)."""
        for con in self.constraints:
            if con.kind == "primary key":
                inner = con.definition[con.definition.index("(") + 1: con.definition.rindex(")")]
                return tuple(part.strip().strip('"') for part in inner.split(","))
        return ()

    def of_kind(self, kind: str) -> tuple[ConstraintInfo, ...]:
        return tuple(c for c in self.constraints if c.kind == kind)

    def to_json(self) -> dict[str, Any]:
        """``asdict`` plus the derived primary key."""
        return {**asdict(self), "primary_key": list(self.primary_key)}


def _split_name(name: str) -> tuple[str | None, str]:
    """``schema.table`` or ``table`` (then the connection's current schema)."""
    text = name.strip()
    if not text:
        raise bad_input("no table name given", hint="e.g. users")
    if "." in text:
        schema, _, table = text.partition(".")
        return schema, table
    return None, text


def list_tables(settings: Settings, schema: str | None = None) -> list[TableSummary]:
    """The tables of ``schema`` (default: the current schema, normally public), like ``\\dt``."""
    from rfsetup.core.connect import connection

    with connection(settings.url(), autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(_TABLES_SQL, {"schema": schema})
        return [TableSummary(sch, name, kind, owner, int(rows), int(cols))
                for sch, name, kind, owner, rows, cols in cur.fetchall()]


def describe_table(settings: Settings, name: str) -> TableDescription:
    """Columns, types, nullability, defaults, keys, indexes, foreign keys and checks of a table.

    Raises a bad-input error naming the tables that do exist when ``name`` is not one of them.
    """
    from rfsetup.core.connect import connection

    schema, table = _split_name(name)
    with connection(settings.url(), autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(_FIND_SQL, {"name": table, "schema": schema})
        found = cur.fetchone()
        if found is None:
            cur.execute(_TABLES_SQL, {"schema": schema})
            names = [row[1] for row in cur.fetchall()]
            raise bad_input(
                f"no table named {name!r}",
                hint=("tables here: " + ", ".join(names)) if names
                else "the database has no tables yet: run the migrations (rfsetup migrate up)",
            )
        oid, schema_name, table_name = found
        params = {"oid": oid}
        cur.execute(_COLUMNS_SQL, params)
        columns = tuple(_column(*row) for row in cur.fetchall())
        cur.execute(_INDEXES_SQL, params)
        indexes = tuple(IndexInfo(n, bool(p), bool(u), d) for n, p, u, d in cur.fetchall())
        cur.execute(_CONSTRAINTS_SQL, params)
        constraints = tuple(ConstraintInfo(n, _KINDS[k], d) for n, k, d in cur.fetchall())
        cur.execute(_REFERENCED_BY_SQL, params)
        referenced_by = tuple(ConstraintInfo(n, "foreign key", d, table=t)
                              for t, n, d in cur.fetchall())
    return TableDescription(schema_name, table_name, columns, indexes, constraints, referenced_by)


def _column(name: str, type_: str, nullable: bool, default: str | None, identity: str,
            generated: str) -> ColumnInfo:
    # psql shows identity and generated columns in the Default column; so do we
    if identity:
        default = "generated always as identity" if identity == "a" else \
            "generated by default as identity"
    elif generated:
        default = f"generated always as ({default}) stored"
    return ColumnInfo(name, type_, bool(nullable), default)
