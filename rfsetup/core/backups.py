"""pg_dump backups before every migration, and restoring one exactly as it was.

Backups are custom-format dumps (``pg_dump -Fc``) in ``./.rfsetup/backups/`` named by database,
UTC time and revision, each with a small JSON sidecar (the revision exactly, the server and
pg_dump versions). The directory is 0700 and the files 0600: a dump holds all the data.

pg_dump refuses to dump a server newer than itself, and machines often carry several client
versions (/usr/bin, /usr/lib/postgresql/*/bin, Homebrew, pgserver's bundle), so the tools are
picked by version: the same major as the server if present, else the newest one that is new
enough; an older one is named and explained. Passwords go to the tools through PGPASSWORD in
their environment, never through argv.

A restore must leave the database as the file has it, revision included, with nothing from
later revisions surviving; ``pg_restore --clean`` only drops what the dump contains. So the
restore runs as ONE transaction in psql (from the same directory as pg_restore): first a block
that drops what the database user owns (extensions, schemas, and the relations, types and
routines in ``public``), then the SQL pg_restore generates from the file. Any error rolls the
whole thing back and the database is untouched. A safety backup of the current state is taken
first all the same.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rfsetup.core import locking
from rfsetup.core.errors import RfsetupError, bad_input
from rfsetup.core.settings import Settings, libpq_params

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection
    from sqlalchemy.engine import URL

ENV_BINDIR = "RFSETUP_PG_BINDIR"
DUMP_SUFFIX = ".dump"
SIDECAR_SUFFIX = ".json"
_STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_NAME_RE = re.compile(r"^(?P<db>.+)_(?P<ts>\d{8}T\d{6}Z)(?:-\d+)?_(?P<rev>.+)\.dump$")
_VERSION_RE = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")
_MAGIC = b"PGDMP"
# distribution (Debian/Ubuntu, RHEL), Homebrew, Postgres.app and Windows installer locations
_BIN_PATTERNS = (
    "/usr/lib/postgresql/*/bin",
    "/usr/pgsql-*/bin",
    "/opt/homebrew/opt/postgresql@*/bin",
    "/usr/local/opt/postgresql@*/bin",
    "/Applications/Postgres.app/Contents/Versions/*/bin",
    "C:/Program Files/PostgreSQL/*/bin",
)

Progress = Callable[[str], None]


# -- backup records -------------------------------------------------------------------------
@dataclass(frozen=True)
class BackupInfo:
    """One backup file: where it is, which database and revision it holds, when it was taken."""

    path: Path
    database: str
    revision: str | None
    created_at: datetime
    size: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "database": self.database,
            "revision": self.revision,
            "created_at": self.created_at.isoformat(),
            "size": self.size,
        }


def revision_label(revisions: Iterable[str] | str | None) -> str | None:
    """Current heads as one string (``a,b`` for two heads); None at base."""
    if revisions is None or isinstance(revisions, str):
        return revisions or None
    joined = ",".join(sorted(revisions))
    return joined or None


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "x"


def read_backup_info(path: Path) -> BackupInfo:
    """What is known about a dump: its sidecar, else its file name, else only its mtime."""
    path = Path(path)
    stat = path.stat()
    sidecar = path.with_suffix(SIDECAR_SUFFIX)
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        meta = json.loads(sidecar.read_text())
        return BackupInfo(path, str(meta["database"]), meta.get("revision") or None,
                          datetime.fromisoformat(meta["created_at"]), stat.st_size)
    match = _NAME_RE.match(path.name)
    if match:
        created = datetime.strptime(match["ts"], _STAMP_FORMAT).replace(tzinfo=UTC)
        rev = match["rev"]
        return BackupInfo(path, match["db"], None if rev == "base" else rev.replace("+", ","),
                          created, stat.st_size)
    return BackupInfo(path, "?", None, datetime.fromtimestamp(stat.st_mtime, UTC), stat.st_size)


def list_backups(settings: Settings) -> list[BackupInfo]:
    """The backups in the backups directory, newest first."""
    folder = settings.backups_dir
    if not folder.is_dir():
        return []
    infos = [read_backup_info(p) for p in folder.glob(f"*{DUMP_SUFFIX}") if p.is_file()]
    return sorted(infos, key=lambda b: (b.created_at, b.path.name), reverse=True)


# -- choosing pg_dump / pg_restore / psql ------------------------------------------------------
@dataclass(frozen=True)
class PgTools:
    """A directory of PostgreSQL client programs of one version."""

    bin_dir: Path
    version: str
    major: tuple[int, ...]

    def path(self, name: str) -> Path:
        return _exe(self.bin_dir, name)

    def has(self, name: str) -> bool:
        return self.path(name).is_file()


def _exe(bin_dir: Path, name: str) -> Path:
    return bin_dir / (f"{name}.exe" if os.name == "nt" else name)


def server_major(server_version_num: int) -> tuple[int, ...]:
    """160002 -> (16,); 90624 -> (9, 6): PostgreSQL's major version as a comparable tuple."""
    if server_version_num >= 100000:
        return (server_version_num // 10000,)
    return (server_version_num // 10000, server_version_num // 100 % 100)


def _format_major(major: tuple[int, ...]) -> str:
    return ".".join(str(p) for p in major)


def candidate_bin_dirs() -> list[Path]:
    """Where PostgreSQL client programs may live, most specific first (deduplicated).

    ``RFSETUP_PG_BINDIR`` alone when set; else PATH, the distribution and Homebrew locations,
    and pgserver's bundled binaries.
    """
    explicit = os.environ.get(ENV_BINDIR)
    if explicit:
        return [Path(explicit)]
    dirs: list[Path] = []
    found = shutil.which("pg_dump")
    if found:
        dirs.append(Path(found).parent)
    import glob


    for pattern in _BIN_PATTERNS:
        dirs.extend(Path(p) for p in sorted(glob.glob(pattern), reverse=True))
    from rfsetup.core.embedded import postgres_bin_dir

    bundled = postgres_bin_dir()
    if bundled is not None:
        dirs.append(bundled)
    unique: list[Path] = []
    for d in dirs:
        if d not in unique and _exe(d, "pg_dump").is_file():
            unique.append(d)
    return unique


@functools.lru_cache(maxsize=32)
def _tool_version(path: str) -> str | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10,
                             check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION_RE.search(out)
    return out.strip().split(")", 1)[-1].split()[0] if match else None


def _parse_major(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in re.findall(r"\d+", version)[:2]]
    return (parts[0],) if parts[0] >= 10 else tuple(parts)


def choose_tools(
    server_version_num: int,
    *,
    need: Sequence[str] = ("pg_dump",),
    candidates: Sequence[Path] | None = None,
) -> PgTools:
    """The client tools to use against a server: same major if present, else the newest newer.

    Raises RfsetupError when none is found or all are older than the server (with the fix).
    """
    want = server_major(server_version_num)
    dirs = candidate_bin_dirs() if candidates is None else list(candidates)
    usable: list[PgTools] = []
    too_old: list[PgTools] = []
    for d in dirs:
        version = _tool_version(str(_exe(d, "pg_dump")))
        if version is None:
            continue
        tools = PgTools(d, version, _parse_major(version))
        if not all(tools.has(name) for name in need):
            continue
        (usable if tools.major >= want else too_old).append(tools)
    wanted = _format_major(want)
    install = (f"install postgresql-client-{wanted} (Debian/Ubuntu: sudo apt-get install "
               f"postgresql-client-{wanted}; macOS: brew install postgresql@{wanted}) or point "
               f"{ENV_BINDIR} at a PostgreSQL {wanted}+ bin directory")
    if usable:
        exact = [t for t in usable if t.major == want]
        return exact[0] if exact else max(usable, key=lambda t: t.major)
    if too_old:
        newest = max(too_old, key=lambda t: t.major)
        raise RfsetupError(
            f"pg_dump {newest.version} ({newest.path('pg_dump')}) is older than the server "
            f"(PostgreSQL {wanted}) and cannot dump it",
            hint=install,
            cause="pg_dump only dumps servers of its own major version or older",
            kind="pg_dump_too_old",
        )
    names = ", ".join(need)
    raise RfsetupError(f"{names} not found", hint=install, kind="pg_dump_missing")


# -- running the tools -----------------------------------------------------------------------
def _conninfo(url: URL, application_name: str) -> str:
    """A libpq conninfo string WITHOUT the password (that goes through PGPASSWORD)."""
    params = libpq_params(url)
    params.pop("password", None)
    params["application_name"] = application_name
    return " ".join(f"{key}={_quote(str(value))}" for key, value in params.items())


def _quote(value: str) -> str:
    if value and re.fullmatch(r"[A-Za-z0-9._/:@+-]+", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _tool_env(url: URL, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("PGPASSWORD", "PGOPTIONS"):
        env.pop(key, None)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    env.update(extra)
    return env


def _scrub(text: str, url: URL) -> str:
    if url.password:
        text = text.replace(str(url.password), "***")
    return text


def _tail(text: str, url: URL, lines: int = 3) -> str:
    kept = [ln.strip() for ln in _scrub(text, url).strip().splitlines() if ln.strip()]
    errors = [ln for ln in kept if "error" in ln.lower() or "fatal" in ln.lower()]
    return " | ".join((errors or kept)[-lines:]) or "(no output)"


def _private_dir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        folder.chmod(0o700)
    return folder


def dump_database(
    url: URL,
    folder: Path,
    *,
    server_version_num: int,
    revision: str | None,
    tools: PgTools | None = None,
) -> BackupInfo:
    """``pg_dump -Fc`` the database into ``folder``; the file appears only when complete."""
    tools = tools or choose_tools(server_version_num)
    database = str(url.database)
    _private_dir(folder)
    created = datetime.now(UTC)
    fd, tmp_name = tempfile.mkstemp(prefix=".partial-", suffix=DUMP_SUFFIX, dir=folder)
    os.close(fd)  # mkstemp made it 0600; pg_dump truncates and keeps the mode
    tmp = Path(tmp_name)
    try:
        proc = subprocess.run(
            [str(tools.path("pg_dump")), "--format=custom", "--no-password", f"--file={tmp}",
             f"--dbname={_conninfo(url, 'rfsetup backup')}"],
            capture_output=True, text=True, env=_tool_env(url), check=False)
        if proc.returncode != 0:
            raise RfsetupError(
                f"pg_dump of database {database} failed (exit {proc.returncode})",
                cause=_tail(proc.stderr, url),
                hint="nothing was changed; fix the cause, or skip the backup with --no-backup",
                kind="backup_failed",
            )
        base = f"{_safe(database)}_{created.strftime(_STAMP_FORMAT)}"
        rev_part = _safe((revision or "base").replace(",", "+"))
        final = _link_unique(tmp, folder, base, rev_part)
        info = BackupInfo(final, database, revision, created, final.stat().st_size)
        _write_sidecar(final, info, server_version_num, tools)
        return info
    finally:
        tmp.unlink(missing_ok=True)


def _link_unique(tmp: Path, folder: Path, base: str, rev_part: str) -> Path:
    """Give the finished dump its name without ever overwriting another backup."""
    for n in range(1, 1000):
        suffix = "" if n == 1 else f"-{n}"
        final = folder / f"{base}{suffix}_{rev_part}{DUMP_SUFFIX}"
        try:
            os.link(tmp, final)
        except FileExistsError:
            continue
        return final
    raise RfsetupError(f"too many backups named {base}* in {folder}", kind="backup_failed")


def _write_sidecar(dump: Path, info: BackupInfo, server_version_num: int, tools: PgTools) -> None:
    meta = info.to_json() | {"server_version_num": server_version_num,
                             "pg_dump_version": tools.version}
    meta.pop("path")
    meta.pop("size")
    target = dump.with_suffix(SIDECAR_SUFFIX)
    fd, tmp = tempfile.mkstemp(prefix=".partial-", suffix=SIDECAR_SUFFIX, dir=dump.parent)
    with os.fdopen(fd, "w") as fh:
        json.dump(meta, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, target)


def read_revision(conn: PgConnection, version_table: str = "alembic_version") -> tuple[str, ...]:
    """The revisions recorded in the version table (empty at base or without the table)."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (version_table,))
        row = cur.fetchone()
        if not (row and row[0]):
            return ()
        return select_revisions(cur, version_table)


def select_revisions(cur: Any, version_table: str) -> tuple[str, ...]:
    """SELECT the revisions from a version table known to exist (``[schema.]table``)."""
    from psycopg2 import sql

    cur.execute(sql.SQL("SELECT version_num FROM {} ORDER BY 1").format(
        sql.Identifier(*version_table.split(".", 1))))
    return tuple(str(r[0]) for r in cur.fetchall())


def create_backup(settings: Settings, *, revision: str | None = None) -> BackupInfo:
    """Back the database up now into ``settings.backups_dir``."""
    from rfsetup.core.connect import connection

    url = settings.url()
    with connection(url, autocommit=True) as conn:
        server = int(conn.server_version)
        rev = revision if revision is not None else revision_label(read_revision(conn))
    return dump_database(url, settings.backups_dir, server_version_num=server, revision=rev)


# -- restore ---------------------------------------------------------------------------------
# Drops what this user owns and the dump would not recreate over; runs inside the restore's
# single transaction, so a failure anywhere leaves everything as it was.
CLEAR_SQL = r"""
DO $rfsetup_clear$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT e.extname FROM pg_extension e
            WHERE e.extname <> 'plpgsql' AND pg_has_role(e.extowner, 'USAGE') LOOP
    EXECUTE format('DROP EXTENSION IF EXISTS %I CASCADE', r.extname);
  END LOOP;
  FOR r IN SELECT n.nspname FROM pg_namespace n
            WHERE n.nspname <> 'public' AND n.nspname <> 'information_schema'
              AND n.nspname NOT LIKE 'pg\_%' AND pg_has_role(n.nspowner, 'USAGE') LOOP
    EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', r.nspname);
  END LOOP;
  FOR r IN SELECT c.relname,
                  CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                 WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE'
                                 ELSE 'TABLE' END AS kind
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
              AND pg_has_role(c.relowner, 'USAGE')
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                 AND d.objid = c.oid AND d.deptype = 'e')
            ORDER BY c.relkind IN ('S', 'v', 'm') LOOP
    EXECUTE format('DROP %s IF EXISTS public.%I CASCADE', r.kind, r.relname);
  END LOOP;
  FOR r IN SELECT t.typname, CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END AS kind
             FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
            WHERE n.nspname = 'public' AND pg_has_role(t.typowner, 'USAGE')
              AND (t.typtype IN ('e', 'd', 'r')
                   OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c
                                             WHERE c.oid = t.typrelid) = 'c'))
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                                 AND d.objid = t.oid AND d.deptype = 'e') LOOP
    EXECUTE format('DROP %s IF EXISTS public.%I CASCADE', r.kind, r.typname);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'public' AND pg_has_role(p.proowner, 'USAGE')
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                                 AND d.objid = p.oid AND d.deptype = 'e') LOOP
    EXECUTE format('DROP ROUTINE IF EXISTS %s CASCADE', r.sig);
  END LOOP;
END
$rfsetup_clear$;
"""


def check_dump_file(path: Path) -> None:
    """Bad input (exit 2) unless ``path`` is a readable pg_dump custom-format archive."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_MAGIC))
    except FileNotFoundError:
        raise bad_input(f"no such backup file: {path}", hint="rfsetup backup list") from None
    except OSError as exc:
        raise bad_input(f"cannot read {path}: {exc.strerror}") from None
    if head != _MAGIC:
        raise bad_input(f"{path} is not a pg_dump custom-format backup",
                        hint="restore files written by rfsetup backup create or pg_dump -Fc")


def restore_backup(
    settings: Settings,
    path: Path,
    *,
    backup: bool = True,
    on_progress: Progress | None = None,
) -> BackupInfo:
    """Put the database back exactly as ``path`` has it (tables and revision), atomically.

    Takes the migration lock (no migration can run meanwhile) and, unless ``backup=False``,
    a safety backup of the current state first. Returns the file's info with the revision the
    database is at afterwards.
    """
    from rfsetup.core.connect import connect

    progress = on_progress or (lambda _line: None)
    path = Path(path)
    check_dump_file(path)
    info = read_backup_info(path)
    url = settings.url()
    timeouts = locking.session_timeouts()
    # the lock holder's name is what a colleague's "migration is running" error will show
    conn = connect(url, autocommit=True, application_name=locking.application_name("restore"))
    with contextlib.closing(conn):
        locking.acquire(conn, on_progress=progress)
        try:
            server = int(conn.server_version)
            tools = choose_tools(server, need=("pg_dump", "pg_restore", "psql"))
            if backup:
                safety = dump_database(url, settings.backups_dir, server_version_num=server,
                                       revision=revision_label(read_revision(conn)), tools=tools)
                progress(f"backup of the current state written to {safety.path}")
            progress(f"restoring {path.name} into database {url.database}")
            _restore_stream(url, path, tools, timeouts["lock_timeout"])
            after = revision_label(read_revision(conn))
            progress(f"restored; database {url.database} is at {after or 'base'}")
        finally:
            locking.release(conn)
    return BackupInfo(path, info.database, after, info.created_at, info.size)


def _restore_stream(url: URL, path: Path, tools: PgTools, lock_timeout: str) -> None:
    """pg_restore's SQL, after CLEAR_SQL, through psql as one transaction that stops at errors.

    The SQL is written to a private temporary file first and applied only when pg_restore
    succeeded: psql commits its single transaction at end of input, so streaming a pg_restore
    that died half way would commit a half-restored database.
    """
    env = _tool_env(url, PGOPTIONS=f"-c lock_timeout={lock_timeout} "
                                   "-c client_min_messages=warning")
    with tempfile.TemporaryDirectory(prefix="rfsetup-restore-") as tmp:
        script = Path(tmp) / "restore.sql"
        restore = subprocess.run(
            [str(tools.path("pg_restore")), "--clean", "--if-exists", f"--file={script}",
             str(path)],
            capture_output=True, text=True, env=env, check=False)
        if restore.returncode != 0:
            raise RfsetupError(
                f"pg_restore could not read {path.name}; the database was not changed",
                cause=_tail(restore.stderr, url),
                hint=("the file may come from a newer pg_dump: " + _install_hint(tools))
                if "unsupported version" in restore.stderr
                else "the file is damaged or incomplete (check it with: pg_restore --list FILE)",
                kind="restore_failed",
            )
        psql = subprocess.run(
            [str(tools.path("psql")), "--no-psqlrc", "--quiet", "--no-password",
             "--single-transaction", "--set=ON_ERROR_STOP=1", f"--command={CLEAR_SQL}",
             f"--file={script}", f"--dbname={_conninfo(url, 'rfsetup restore')}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, check=False)
    if psql.returncode != 0:
        raise RfsetupError(
            f"restoring {path.name} failed; the database was not changed (one transaction)",
            cause=_tail(psql.stderr, url),
            hint="a lock timeout means sessions are using the tables: stop the application "
                 "and retry" if "lock timeout" in psql.stderr
            else "restore as a role that can create everything in the file (e.g. the one that "
                 "took the backup)",
            kind="restore_failed",
        )


def _install_hint(tools: PgTools) -> str:
    return (f"use a newer PostgreSQL client than {tools.version} "
            f"(set {ENV_BINDIR} to its bin directory)")
