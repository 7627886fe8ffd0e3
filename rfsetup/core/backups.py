"""pg_dump backups before every migration (and on demand), bounded, interruptible, pruned.

Backups are custom-format dumps (``pg_dump -Fc``) in ``./.rfsetup/backups/`` with a JSON
sidecar each (see ``backupfiles``). pg_dump is picked by version (``pgtools``) and runs with
``--lock-wait-timeout`` set to the session lock timeout (RFSETUP_LOCK_TIMEOUT): a table another
session holds ACCESS EXCLUSIVE fails the backup, naming the holder, instead of stalling a
migration that holds the migration lock. Progress reports the elapsed time; a ``cancel`` event
stops it (partial file removed, nothing changed). After each new backup the oldest of that
database beyond RFSETUP_BACKUP_KEEP (default 20, 0 = all) are removed, never the newest and
never a file rfsetup did not write.

Restoring lives in ``rfsetup.core.restore``.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rfsetup import __version__
from rfsetup.core import locking, runlog
from rfsetup.core.backupfiles import (
    DUMP_SUFFIX,
    SIDECAR_FORMAT,
    SIDECAR_SUFFIX,
    BackupInfo,
    backup_name,
    check_dump_file,
    free_space,
    fsync,
    list_backups_in,
    os_error,
    partial_file,
    prepare_folder,
    publish,
    read_backup_info,
    read_sidecar,
    remove_stale_partials,
    rfsetup_name,
    sha256_of,
    sidecar_path,
    write_sidecar,
)
from rfsetup.core.connect import connection
from rfsetup.core.errors import ExitCode, RfsetupError, bad_input
from rfsetup.core.pgtools import (
    ENV_BINDIR,
    PgTools,
    candidate_bin_dirs,
    choose_tools,
    conninfo,
    run_tool,
    server_major,
    tail,
    tool_env,
)
from rfsetup.core.progress import ProgressTick  # defined there: locking reports ticks too
from rfsetup.core.settings import DEFAULT_BACKUP_KEEP, Settings
from rfsetup.core.versiontable import (
    VersionTable,
    as_version_table,
    read_revision,
    revision_label,
    select_revisions,
)

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection
    from sqlalchemy.engine import URL

__all__ = [
    "DUMP_SUFFIX", "ENV_BINDIR", "SIDECAR_SUFFIX", "BackupInfo", "PgTools", "ProgressTick",
    "candidate_bin_dirs", "check_dump_file", "choose_tools", "create_backup", "dump_database",
    "list_backups", "prune_backups", "read_backup_info", "read_revision", "revision_label",
    "select_revisions", "server_major",
]  # read_revision, select_revisions, revision_label: re-exported from versiontable

Progress = Callable[[str], None]
#: the hint's last words when a backup before a migration fails
SKIP_WITH_NO_BACKUP = "or skip the backup with --no-backup"


# -- listing and pruning ---------------------------------------------------------------------
def list_backups(settings: Settings) -> list[BackupInfo]:
    """The backups in the backups directory, newest first (never partial files)."""
    return list_backups_in(settings.backups_dir)


def prune_backups(settings: Settings, keep: int, *, database: str | None = None,
                  dry_run: bool = False) -> list[BackupInfo]:
    """Keep the newest ``keep`` (>= 1) backups of ``database`` (default: every database in
    the folder, each separately); remove the older ones rfsetup wrote. Returns them."""
    return prune(settings.backups_dir, keep, database=database, dry_run=dry_run)


def written_by_rfsetup(info: BackupInfo) -> bool:
    """A dump rfsetup wrote: its file name pattern, or an rfsetup sidecar."""
    if rfsetup_name(info.path.name):
        return True
    with contextlib.suppress(ValueError):
        meta = read_sidecar(info.path)
        return bool(meta and str(meta.get("written_by", "")).startswith("rfsetup"))
    return False


def prune(folder: Path, keep: int, *, database: str | None = None,
          protect: Iterable[Path] = (), dry_run: bool = False) -> list[BackupInfo]:
    """Remove all but the newest ``keep`` backups of each database (only ``database``'s when
    given), with their sidecars. Only files rfsetup wrote are touched, never the newest of a
    database, never a ``protect``-ed path. Returns what was (or, dry run, would be) removed."""
    if keep < 1:
        raise bad_input(f"--keep {keep}: at least the newest backup is always kept",
                        hint="e.g. --keep 5")
    guarded = {Path(p).resolve() for p in protect}
    seen: dict[str, int] = {}
    doomed: list[BackupInfo] = []
    for info in list_backups_in(folder):  # newest first
        if (database is not None and info.database != database) or not written_by_rfsetup(info):
            continue
        rank = seen.get(info.database, 0)
        seen[info.database] = rank + 1
        if rank < keep or info.path.resolve() in guarded:
            continue
        doomed.append(info)
    if dry_run:
        return doomed
    for info in doomed:
        for path in (info.path, sidecar_path(info.path)):
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                raise RfsetupError(f"cannot remove {path}: {exc.strerror}",
                                   hint="check the backups folder's permissions",
                                   kind="prune_failed") from None
    return doomed


# -- taking a backup -------------------------------------------------------------------------
_FACTS_SQL = """
SELECT current_setting('server_version'), current_database()
"""


def server_facts(conn: PgConnection) -> dict[str, Any]:
    """The server's identity for a sidecar: version, and its system identifier when this role
    may read it (``pg_control_system()`` needs only EXECUTE, which PUBLIC has by default but a
    managed service may revoke; then None and the reason are recorded)."""
    facts: dict[str, Any] = {"system_identifier": None}
    with conn.cursor() as cur:
        cur.execute(_FACTS_SQL)
        version, database = cur.fetchone()
        facts["server_version"] = str(version).split(" ")[0]
        facts["current_database"] = database
        try:
            cur.execute("SELECT system_identifier::text FROM pg_control_system()")
            facts["system_identifier"] = cur.fetchone()[0]
        except Exception as exc:  # psycopg2.Error; autocommit, so nothing to roll back
            facts["system_identifier_error"] = str(getattr(exc, "pgerror", None) or exc
                                                   ).strip().splitlines()[0]
    return facts


def _lock_holders(url: URL) -> tuple[str, int] | None:
    """Who holds ACCESS EXCLUSIVE locks in the database now (what blocks pg_dump's locks), and
    the first one's pid."""
    with contextlib.suppress(Exception), connection(url, timeout=3, autocommit=True) as conn, \
            conn.cursor() as cur:
        cur.execute("""
            SELECT l.relation::regclass::text, a.pid, a.application_name, a.usename, a.state
              FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'relation' AND l.granted AND l.mode = 'AccessExclusiveLock'
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND l.pid <> pg_backend_pid() ORDER BY 1 LIMIT 5""")
        rows = cur.fetchall()
        if rows:
            return "; ".join(f"table {rel} by pid {pid} (application {app!r}, user {user}, "
                             f"{state})" for rel, pid, app, user, state in rows), int(rows[0][1])
    return None


def _dump_failed(stderr: str, url: URL, folder: Path, lock_timeout: str,
                 skip_hint: str | None) -> RfsetupError:
    database = str(url.database)
    skip = f", {skip_hint}" if skip_hint else ""
    cause = tail(stderr, url)
    if "No space left on device" in stderr or "Disk quota exceeded" in stderr:
        return RfsetupError(f"no space left in {folder} for the backup of database {database} "
                            f"({free_space(folder)} free)", cause=cause, kind="disk_full",
                            hint=f"nothing was changed; free some space (old backups: rfsetup "
                                 f"backup prune --keep N){skip}")
    if "statement timeout" in stderr and "LOCK TABLE" in stderr:
        holders = _lock_holders(url)
        who, pid = holders if holders else ("a conflicting lock", "PID")
        return RfsetupError(
            f"pg_dump could not lock the tables of database {database} within {lock_timeout}: "
            f"another session holds {who}",
            cause=cause, kind="backup_lock_timeout",
            hint=f"nothing was changed; wait for that session to finish (or end it: SELECT "
                 f"pg_terminate_backend({pid});) and run again, or raise "
                 f"{locking.ENV_LOCK_TIMEOUT}{skip}")
    if "permission denied for" in stderr:
        return RfsetupError(f"pg_dump may not read everything in database {database}",
                            cause=cause, kind="backup_permission",
                            hint=f"nothing was changed; back up as a role that can read every "
                                 f"object (e.g. the owner){skip}")
    return RfsetupError(f"pg_dump of database {database} failed", cause=cause,
                        hint=f"nothing was changed; fix the cause{skip}", kind="backup_failed")


def interrupted(what: str) -> RfsetupError:
    """The error for a run stopped by its ``cancel`` event (Ctrl-C): nothing was changed."""
    return RfsetupError(f"{what} interrupted; nothing was changed", kind="interrupted",
                        hint="run it again when ready", exit_code=ExitCode.INTERRUPTED)


def dump_database(
    url: URL,
    folder: Path,
    *,
    server_version_num: int,
    revision: str | None,
    tools: PgTools | None = None,
    version_table: VersionTable | str | None = None,
    on_progress: Progress | None = None,
    cancel: threading.Event | None = None,
    keep: int | None = None,
    protect: Sequence[Path] = (),
    skip_hint: str | None = SKIP_WITH_NO_BACKUP,
    bin_dir: Path | None = None,
    lock_timeout: str = locking.DEFAULT_LOCK_TIMEOUT,
) -> BackupInfo:
    """``pg_dump -Fc`` the database into ``folder``; the file appears only when complete.

    ``revision`` is the label of the version table's rows (``revision_label``), recorded with
    ``version_table`` in the sidecar. Raises a classified RfsetupError when it fails (disk full,
    folder unusable, a table locked by another session) and kind ``interrupted`` when
    ``cancel`` is set; nothing is left behind either way. ``keep``: how many backups of this
    database to keep afterwards (callers pass ``Settings.backup_keep``, RFSETUP_BACKUP_KEEP;
    default 20; 0 = all); ``protect``: paths that pruning must not remove (a restore's source).
    ``skip_hint`` ends the failure hints; ``bin_dir``: ``Settings.pg_bindir`` when no ``tools``.
    ``lock_timeout``: how long pg_dump waits for a table lock (``settings.lock_timeout``).
    """
    progress = on_progress or (lambda _line: None)
    keep = DEFAULT_BACKUP_KEEP if keep is None else keep
    tools = tools or choose_tools(server_version_num, bin_dir=bin_dir)
    database = str(url.database)
    prepare_folder(folder)
    stale = remove_stale_partials(folder)
    if stale:
        progress(f"removed {len(stale)} partial file(s) left by an interrupted backup")
    with connection(url, autocommit=True) as conn:
        facts = server_facts(conn)
    created = datetime.now(UTC)
    started = f"taking a backup of database {database}…"
    progress(started)
    argv = [str(tools.path("pg_dump")), "--format=custom", "--no-password"]
    if not re.fullmatch(r"0+(\.0*)?[a-z]*", lock_timeout):  # 0 = no bound, as for the session
        argv.append(f"--lock-wait-timeout={lock_timeout}")
    with partial_file(folder) as tmp:
        run = run_tool([*argv, f"--file={tmp}",
                        f"--dbname={conninfo(url, 'rfsetup backup')}"],
                       env=tool_env(url), cancel=cancel,
                       on_tick=lambda s: progress(ProgressTick(f"{started} {s:.0f}s")))
        if run.cancelled:
            raise interrupted(f"backup of database {database}")
        if run.returncode != 0:
            raise _dump_failed(run.stderr, url, folder, lock_timeout, skip_hint)
        fsync(tmp)
        size, digest = tmp.stat().st_size, sha256_of(tmp)
        base, rev_part = backup_name(database, created, revision)
        final = publish(tmp, folder, base, rev_part)
        info = BackupInfo(final, database, revision, created, size,
                          as_version_table(version_table).qualified,
                          facts["system_identifier"], digest)
        meta = info.to_json() | {
            "written_by": f"rfsetup {__version__}", "format": SIDECAR_FORMAT,
            "file": final.name, "revisions": revision.split(",") if revision else [],
            "server_version": facts["server_version"],
            "server_version_num": server_version_num, "pg_dump_version": tools.version}
        meta.pop("path")
        if "system_identifier_error" in facts:
            meta["system_identifier_error"] = facts["system_identifier_error"]
        try:
            write_sidecar(final, meta)
        except OSError as exc:
            final.unlink(missing_ok=True)  # a dump without its sidecar could not be verified
            raise os_error(exc, folder, "writing the backup's sidecar") from None
    if keep:
        _auto_prune(folder, keep, database, (*protect, final), progress)
    return info


def _auto_prune(folder: Path, keep: int, database: str, protect: Sequence[Path],
                progress: Progress) -> None:
    """Keep the newest ``keep`` backups of ``database``; a failure here is only reported (the
    backup itself succeeded)."""
    try:
        removed = prune(folder, keep, database=database, protect=protect)
    except RfsetupError as exc:
        progress(f"warning: {exc.message}")
        return
    if removed:
        progress(f"removed {len(removed)} old backup(s) of database {database} (keeping the "
                 f"newest {keep}; RFSETUP_BACKUP_KEEP)")


@runlog.logged("backup create")  # the run log of .rfsetup/logs
def create_backup(
    settings: Settings,
    *,
    revision: str | None = None,
    version_table: VersionTable | str | None = None,
    on_progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> BackupInfo:
    """Back the database up now into ``settings.backups_dir`` (``version_table``: where the
    revision is read, ``[schema.]table``)."""
    url = settings.url()
    with connection(url, autocommit=True) as conn:
        server = int(conn.server_version)
        rev = revision if revision is not None else revision_label(
            read_revision(conn, version_table))
    return dump_database(url, settings.backups_dir, server_version_num=server, revision=rev,
                         version_table=version_table, on_progress=on_progress, cancel=cancel,
                         keep=settings.backup_keep, skip_hint=None,
                         bin_dir=settings.pg_bindir, lock_timeout=settings.lock_timeout)
