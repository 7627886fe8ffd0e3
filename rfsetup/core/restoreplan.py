"""What a restore will replace, read before anything is: the plan a confirmation shows.

The restore clears the database before applying the dump (``CLEAR_SQL``: extensions, schemas,
and the relations, types and routines in ``public`` that the database user owns; a superuser
owns everything). Some of that may not be in the dump: later revisions' tables, but also a
schema or an extension another tool put there. ``RestorePlan`` lists every object the clear
step would drop that the dump's table of contents (``pg_restore --list``) lacks, cascades
included (pg_depend), beside the target's tables (row estimates) and revision, the dump's
revision (read from its version table's data) and tables, and where the dump came from
(database name, server system identifier). ``refuse_unless`` turns what needs an explicit
flag into one bad-input error, before anything changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rfsetup.core.backupfiles import Verification
from rfsetup.core.backups import server_facts
from rfsetup.core.errors import RfsetupError, bad_input
from rfsetup.core.pgtools import PgTools, run_tool, tail, tool_env
from rfsetup.core.versiontable import VersionTable, as_version_table, read_revision, revision_label

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection
    from sqlalchemy.engine import URL

# What the clear step drops, one query per kind; CLEAR_SQL and the plan's query share them.
_NOT_EXTENSION_MEMBER = """NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '{cat}'::regclass
                     AND d.objid = {alias}.oid AND d.deptype = 'e')"""
_EXTENSIONS = """SELECT e.oid, e.extname AS name FROM pg_extension e
 WHERE e.extname <> 'plpgsql' AND pg_has_role(e.extowner, 'USAGE')"""
_SCHEMAS = r"""SELECT n.oid, n.nspname AS name FROM pg_namespace n
 WHERE n.nspname <> 'public' AND n.nspname <> 'information_schema'
   AND n.nspname NOT LIKE 'pg\_%' AND pg_has_role(n.nspowner, 'USAGE')"""
_RELATIONS = """SELECT c.oid, c.relname AS name,
        CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                       WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE'
                       ELSE 'TABLE' END AS kind
   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
    AND pg_has_role(c.relowner, 'USAGE')
    AND """ + _NOT_EXTENSION_MEMBER.format(cat="pg_class", alias="c")
_TYPES = """SELECT t.oid, t.typname AS name, CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END
        AS kind
   FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
  WHERE n.nspname = 'public' AND pg_has_role(t.typowner, 'USAGE')
    AND (t.typtype IN ('e', 'd', 'r')
         OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c
                                   WHERE c.oid = t.typrelid) = 'c'))
    AND """ + _NOT_EXTENSION_MEMBER.format(cat="pg_type", alias="t")
_ROUTINES = """SELECT p.oid, p.oid::regprocedure AS sig FROM pg_proc p
   JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE n.nspname = 'public' AND pg_has_role(p.proowner, 'USAGE')
    AND """ + _NOT_EXTENSION_MEMBER.format(cat="pg_proc", alias="p")

# Runs inside the restore's single transaction, so a failure anywhere leaves everything as it was.
CLEAR_SQL = f"""
DO $rfsetup_clear$
DECLARE
  r record;
BEGIN
  FOR r IN {_EXTENSIONS} LOOP
    EXECUTE format('DROP EXTENSION IF EXISTS %I CASCADE', r.name);
  END LOOP;
  FOR r IN {_SCHEMAS} LOOP
    EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', r.name);
  END LOOP;
  FOR r IN {_RELATIONS} ORDER BY c.relkind IN ('S', 'v', 'm') LOOP
    EXECUTE format('DROP %s IF EXISTS public.%I CASCADE', r.kind, r.name);
  END LOOP;
  FOR r IN {_TYPES} LOOP
    EXECUTE format('DROP %s IF EXISTS public.%I CASCADE', r.kind, r.name);
  END LOOP;
  FOR r IN {_ROUTINES} LOOP
    EXECUTE format('DROP ROUTINE IF EXISTS %s CASCADE', r.sig);
  END LOOP;
END
$rfsetup_clear$;
"""

# Everything the clear step drops: its targets, then what DROP … CASCADE takes with them
# (normal and automatic dependents; the owner of an internal part, e.g. a view of its rule;
# an extension's members). Described as (label, pg_restore --list key); extension members are
# represented by their extension.
_DOOMED_SQL = f"""
WITH RECURSIVE seeds(classid, objid) AS (
  SELECT 'pg_extension'::regclass::oid, oid FROM ({_EXTENSIONS}) s
  UNION ALL SELECT 'pg_namespace'::regclass::oid, oid FROM ({_SCHEMAS}) s
  UNION ALL SELECT 'pg_class'::regclass::oid, oid FROM ({_RELATIONS}) s
  UNION ALL SELECT 'pg_type'::regclass::oid, oid FROM ({_TYPES}) s
  UNION ALL SELECT 'pg_proc'::regclass::oid, oid FROM ({_ROUTINES}) s
), doomed(classid, objid) AS (
  SELECT classid, objid FROM seeds
  UNION
  SELECT CASE WHEN d.deptype = 'i' THEN d.refclassid ELSE d.classid END,
         CASE WHEN d.deptype = 'i' THEN d.refobjid ELSE d.objid END
    FROM doomed x JOIN pg_depend d
      ON (d.deptype IN ('n', 'a', 'e') AND d.refclassid = x.classid AND d.refobjid = x.objid
          AND d.objsubid = 0)
      OR (d.deptype = 'i' AND d.classid = x.classid AND d.objid = x.objid)
), shown AS (
  SELECT * FROM doomed x WHERE NOT EXISTS (
    SELECT 1 FROM pg_depend m WHERE m.classid = x.classid AND m.objid = x.objid
       AND m.deptype = 'e')
)
SELECT label, toc FROM (
  SELECT 0, 'extension ' || quote_ident(e.extname), 'EXTENSION - ' || e.extname
    FROM shown x JOIN pg_extension e ON x.classid = 'pg_extension'::regclass AND e.oid = x.objid
  UNION ALL
  SELECT 1, 'schema ' || quote_ident(n.nspname), 'SCHEMA - ' || n.nspname
    FROM shown x JOIN pg_namespace n ON x.classid = 'pg_namespace'::regclass AND n.oid = x.objid
  UNION ALL
  SELECT CASE WHEN c.relkind IN ('r', 'p', 'f') THEN 2 ELSE 3 END,
         lower(k.kind) || ' ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname),
         k.kind || ' ' || n.nspname || ' ' || c.relname
    FROM shown x JOIN pg_class c ON x.classid = 'pg_class'::regclass AND c.oid = x.objid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    CROSS JOIN LATERAL (SELECT CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'TABLE'
                          WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                          WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' END) k(kind)
   WHERE k.kind IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM pg_depend o WHERE o.classid = 'pg_class'::regclass
                        AND o.objid = c.oid AND o.deptype IN ('a', 'i')
                        AND o.refclassid = 'pg_class'::regclass)  -- a table's own sequence
  UNION ALL
  SELECT 4, lower(k.kind) || ' ' || quote_ident(n.nspname) || '.' || quote_ident(t.typname),
         k.kind || ' ' || n.nspname || ' ' || t.typname
    FROM shown x JOIN pg_type t ON x.classid = 'pg_type'::regclass AND t.oid = x.objid
    JOIN pg_namespace n ON n.oid = t.typnamespace
    CROSS JOIN LATERAL (SELECT CASE WHEN t.typtype = 'd' THEN 'DOMAIN' ELSE 'TYPE' END) k(kind)
   WHERE t.typtype IN ('e', 'd', 'r')
      OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
  UNION ALL
  SELECT 5, lower(k.kind) || ' ' || quote_ident(n.nspname) || '.' || quote_ident(p.proname)
           || s.args, k.kind || ' ' || n.nspname || ' ' || p.proname || s.args
    FROM shown x JOIN pg_proc p ON x.classid = 'pg_proc'::regclass AND p.oid = x.objid
    JOIN pg_namespace n ON n.oid = p.pronamespace
    CROSS JOIN LATERAL (SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE'
                               ELSE 'FUNCTION' END) k(kind)
    CROSS JOIN LATERAL (SELECT '(' || COALESCE((
        SELECT string_agg(format_type(a.t, NULL), ', ' ORDER BY a.i)
          FROM unnest(p.proargtypes) WITH ORDINALITY a(t, i)), '') || ')') s(args)
) o(rank, label, toc)
GROUP BY label, toc ORDER BY min(rank), label
"""

_TABLES_SQL = r"""
SELECT n.nspname || '.' || c.relname,
       CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint ELSE s.n_live_tup END
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
 WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema'
   AND n.nspname NOT LIKE 'pg\_%'
 ORDER BY 1
"""
_TOC_LINE = re.compile(r"^\d+; \d+ \d+ (?P<rest>.*)$")


@dataclass(frozen=True)
class TableEstimate:
    """A table of the target database and its row estimate (None when never analysed)."""

    name: str
    rows: int | None


@dataclass(frozen=True)
class DumpContents:
    """What ``pg_restore --list`` says a dump holds."""

    database: str | None
    created: str | None
    server_version: str | None
    tables: tuple[str, ...]
    entries: tuple[str, ...]
    _keys: frozenset[str] = field(default=frozenset(), repr=False)

    def has(self, toc_key: str) -> bool:
        """Whether an entry ``DESC SCHEMA NAME`` (as the plan query writes it) is in the dump."""
        return toc_key in self._keys


def read_contents(tools: PgTools, path: Path, url: URL) -> DumpContents:
    """The dump's table of contents; a classified error when pg_restore cannot read it."""
    run = run_tool([str(tools.path("pg_restore")), "--list", str(path)], env=tool_env(url),
                   capture_stdout=True)
    if run.returncode != 0:
        raise unreadable_dump(run.stderr, path, tools, url)
    header: dict[str, str] = {}
    entries: list[str] = []
    keys: set[str] = set()
    tables: list[str] = []
    for line in run.stdout.splitlines():
        if line.startswith(";"):
            key, sep, value = line.lstrip("; ").partition(": ")
            if sep:
                header[key.strip()] = value.strip()
            elif key.startswith("Archive created at "):
                header["created"] = key.removeprefix("Archive created at ").strip()
            continue
        match = _TOC_LINE.match(line)
        if not match:
            continue
        rest = match["rest"]
        entries.append(rest)
        words = rest.split(" ")
        keys.update(" ".join(words[:n]) for n in range(1, len(words) + 1))
        if rest.startswith("TABLE ") and not rest.startswith("TABLE DATA "):
            # "TABLE schema name owner": unambiguous only without blanks in the names
            tables.append(".".join(words[1:3]) if len(words) == 4 else " ".join(words[1:-1]))
    return DumpContents(header.get("dbname"), header.get("created"),
                        header.get("Dumped from database version"), tuple(tables),
                        tuple(entries), frozenset(keys))


def unreadable_dump(stderr: str, path: Path, tools: PgTools, url: URL) -> RfsetupError:
    """pg_restore could not read the file: newer than this pg_restore, or damaged."""
    if "unsupported version" in stderr:  # check_dump_file saw a sane header first
        return RfsetupError(
            f"{path.name} was written by a newer pg_dump than pg_restore {tools.version} can "
            "read; the database was not changed", cause=tail(stderr, url),
            hint="use a newer PostgreSQL client (set RFSETUP_PG_BINDIR to its bin directory)",
            kind="restore_failed")
    return RfsetupError(f"pg_restore could not read {path.name}; the database was not changed",
                        cause=tail(stderr, url),
                        hint="the file is damaged or incomplete (check it with: pg_restore "
                             "--list FILE); restore another backup (rfsetup backup list)",
                        kind="restore_failed")


def dump_revisions(tools: PgTools, path: Path, url: URL, contents: DumpContents,
                   version_table: VersionTable | str | None) -> tuple[str, ...]:
    """The rows of the version table as the dump holds them (() when it has none)."""
    vt = as_version_table(version_table)
    schema, table = vt.schema or "", vt.name
    present = contents.has(f"TABLE DATA {schema} {table}") if schema else any(
        e.startswith("TABLE DATA ") and f" {table} " in e for e in contents.entries)
    if not present:
        return ()
    argv = [str(tools.path("pg_restore")), "--data-only", f"--table={table}", "--file=-"]
    if schema:
        argv.append(f"--schema={schema}")
    run = run_tool([*argv, str(path)], env=tool_env(url), capture_stdout=True)
    if run.returncode != 0:
        raise unreadable_dump(run.stderr, path, tools, url)
    rows: list[str] = []
    inside = False
    for line in run.stdout.splitlines():
        if line.startswith("COPY ") and f"{table} (" in line:
            inside = not rows
        elif inside and line == "\\.":
            inside = False
        elif inside and line:
            rows.append(line.split("\t", 1)[0])
    return tuple(sorted(rows))


@dataclass(frozen=True)
class RestorePlan:
    """Everything a restore of ``path`` into ``database`` would replace, and what with."""

    path: Path
    database: str
    target_revision: str | None
    target_tables: tuple[TableEstimate, ...]
    target_system_identifier: str | None
    dump_database: str | None
    dump_revision: str | None
    dump_tables: tuple[str, ...]
    dump_created: str | None
    dump_system_identifier: str | None
    version_table: str
    verified: bool
    verification: str
    #: what the clear step would drop that the dump does not contain, e.g. "schema audit"
    extra_objects: tuple[str, ...]

    @property
    def other_database(self) -> bool:
        return self.dump_database is not None and self.dump_database != self.database

    @property
    def other_server(self) -> bool:
        return (self.dump_system_identifier is not None
                and self.target_system_identifier is not None
                and self.dump_system_identifier != self.target_system_identifier)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "database": self.database,
            "target_revision": self.target_revision,
            "target_tables": [{"name": t.name, "rows": t.rows} for t in self.target_tables],
            "target_system_identifier": self.target_system_identifier,
            "dump_database": self.dump_database, "dump_revision": self.dump_revision,
            "dump_tables": list(self.dump_tables), "dump_created": self.dump_created,
            "dump_system_identifier": self.dump_system_identifier,
            "version_table": self.version_table, "verified": self.verified,
            "verification": self.verification, "extra_objects": list(self.extra_objects),
            "other_database": self.other_database, "other_server": self.other_server,
        }

    def refuse_unless(self, *, into_other_database: bool, drop_extra: bool) -> None:
        """Bad input (exit 2, nothing changed) for what needs an explicit flag: a dump of
        another database or server (--into-other-database), objects the restore would drop
        that the dump lacks (--drop-extra)."""
        reasons: list[str] = []
        hints: list[str] = []
        name = self.path.name
        if self.other_database and not into_other_database:
            reasons.append(f"{name} is a dump of database {self.dump_database}, not of "
                           f"{self.database}")
        if self.other_server and not into_other_database:
            reasons.append(f"{name} was taken on another server (system identifier "
                           f"{self.dump_system_identifier}; this server's is "
                           f"{self.target_system_identifier})")
        if reasons:
            hints.append(f"if replacing database {self.database} with it is intended, add "
                         "--into-other-database")
        if self.extra_objects and not drop_extra:
            shown = ", ".join(self.extra_objects[:8])
            more = len(self.extra_objects) - 8
            reasons.append(f"restoring {name} would drop {len(self.extra_objects)} object(s) "
                           f"the dump does not contain: {shown}"
                           + (f" and {more} more" if more > 0 else ""))
            hints.append("add --drop-extra if they may go (e.g. they belong to later "
                         "revisions); otherwise keep them out of reach: restore as a role that "
                         "owns only the application's objects")
        if reasons:
            every = (f"would drop: {', '.join(self.extra_objects)}"
                     if self.extra_objects and not drop_extra else None)
            raise bad_input("; ".join(reasons) + "; nothing was changed", hint="; ".join(hints),
                            cause=every)


def build_plan(conn: PgConnection, url: URL, tools: PgTools, path: Path,
               verification: Verification, version_table: VersionTable | str | None
               ) -> RestorePlan:
    """The plan for restoring ``path`` over the database ``conn`` is connected to."""
    contents = read_contents(tools, path, url)
    dump_rev = revision_label(dump_revisions(tools, path, url, contents, version_table))
    facts = server_facts(conn)
    with conn.cursor() as cur:
        cur.execute(_TABLES_SQL)
        tables = tuple(TableEstimate(str(n), None if r is None else int(r))
                       for n, r in cur.fetchall())
        cur.execute(_DOOMED_SQL)
        doomed = cur.fetchall()
    extra = tuple(str(label) for label, key in doomed if not contents.has(str(key)))
    meta = verification.sidecar or {}
    return RestorePlan(
        path=path, database=str(facts["current_database"]),
        target_revision=revision_label(read_revision(conn, version_table)),
        target_tables=tables, target_system_identifier=facts["system_identifier"],
        dump_database=contents.database or meta.get("database"), dump_revision=dump_rev,
        dump_tables=contents.tables, dump_created=meta.get("created_at") or contents.created,
        dump_system_identifier=meta.get("system_identifier"),
        version_table=as_version_table(version_table).qualified,
        verified=verification.verified, verification=verification.detail,
        extra_objects=extra)
