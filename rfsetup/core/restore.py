"""Restoring a backup: the database ends exactly as the file has it, or is untouched.

``pg_restore --clean`` only drops what the dump contains, so nothing from later revisions
would be removed; instead the restore runs as ONE transaction in psql: ``CLEAR_SQL`` (see
``restoreplan``), then the SQL pg_restore generates from the file. Any error rolls the whole
thing back. Before that, under the migration lock:

* the file's SHA-256 is checked against its sidecar (a dump without one restores, said to be
  unverified), and its header and table of contents are read;
* the plan (``restoreplan.RestorePlan``: what is replaced, and with what) refuses a dump of
  another database or server unless ``into_other_database``, and objects the clear step would
  drop that the dump lacks unless ``drop_extra`` (bad input, exit 2, nothing changed);
* a safety backup of the current state is taken (``backup=False`` skips it).

lock_timeout and statement_timeout are SET inside the session (a URL's ``?options=`` would
override PGOPTIONS), and pg_restore's own ``SET … = 0`` header lines are pointed at the same
values. Ctrl-C (``cancel``) cancels psql's statement on the server: rolled back, unless the
COMMIT had already happened, which is then reported as done.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rfsetup.core import locking, pooler
from rfsetup.core.backupfiles import (
    BackupInfo,
    check_dump_file,
    free_space,
    os_error,
    verify_dump,
)
from rfsetup.core.backups import ProgressTick, dump_database, interrupted
from rfsetup.core.connect import connect, connection
from rfsetup.core.errors import RfsetupError
from rfsetup.core.pgtools import PgTools, choose_tools, conninfo, run_tool, tail, tool_env
from rfsetup.core.restoreplan import CLEAR_SQL, RestorePlan, build_plan, unreadable_dump
from rfsetup.core.settings import Settings
from rfsetup.core.versiontable import VersionTable, read_revision, revision_label

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection
    from sqlalchemy.engine import URL

__all__ = ["CLEAR_SQL", "RestorePlan", "RestoreResult", "plan_restore", "restore_backup"]

Progress = Callable[[str], None]
TOOLS = ("pg_dump", "pg_restore", "psql")
#: the safety backup's failure hint: restore has no way to skip it from the CLI
_RESTORE_RETRY = "then run rfsetup backup restore again (it always backs up the current state " \
                 "first)"
# pg_restore's script header resets both to 0; patched in place (same length) to psql variables
_HEADER_PATCHES = ((b"SET statement_timeout = 0;", b"SET statement_timeout=:ST;"),
                   (b"SET lock_timeout = 0;", b"SET lock_timeout=:LT;"))


@dataclass(frozen=True)
class RestoreResult:
    """A finished restore: the plan it carried out, the revision after, the safety backup."""

    path: Path
    plan: RestorePlan
    revision: str | None
    safety: BackupInfo | None

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "plan": self.plan.to_json(), "revision": self.revision,
                "safety_backup": self.safety.to_json() if self.safety else None}


def plan_restore(settings: Settings, path: Path, *,
                 version_table: VersionTable | str | None = None) -> RestorePlan:
    """What restoring ``path`` would replace, for a confirmation (no lock, nothing changed).

    Bad input (exit 2) for a file that is not a sane dump or fails its checksum.
    """
    path = Path(path)
    check_dump_file(path)
    verification = verify_dump(path)
    url = settings.url()
    with connection(url, autocommit=True) as conn:
        pooler.refuse_transaction_pooler(conn, url, "rfsetup backup restore")
        tools = choose_tools(int(conn.server_version), need=TOOLS, bin_dir=settings.pg_bindir)
        return build_plan(conn, url, tools, path, verification, version_table)


def restore_backup(
    settings: Settings,
    path: Path,
    *,
    version_table: VersionTable | str | None = None,
    backup: bool = True,
    on_progress: Progress | None = None,
    cancel: threading.Event | None = None,
    into_other_database: bool = False,
    drop_extra: bool = False,
    confirmed: RestorePlan | None = None,
    expect_from: tuple[str, ...] | None = None,
) -> RestoreResult:
    """Put the database back exactly as ``path`` has it (tables and revision), atomically.

    Under the migration lock: verify, plan (refusing what needs ``into_other_database`` or
    ``drop_extra``), compare with the ``confirmed`` plan (or the revisions ``expect_from``
    names): a database that moved since is left alone; then back up the current state unless
    ``backup=False``, and restore. Kind
    ``interrupted`` when ``cancel`` stopped it before the commit.
    """
    progress = on_progress or (lambda _line: None)
    path = Path(path)
    check_dump_file(path)
    verification = verify_dump(path)
    url = settings.url()
    # the lock holder's name is what a colleague's "migration is running" error will show
    conn = connect(url, autocommit=True, application_name=locking.application_name("restore"))
    with contextlib.closing(conn):
        pooler.refuse_transaction_pooler(conn, url, "rfsetup backup restore")
        locking.acquire(conn, wait=settings.lock_wait, on_progress=progress, cancel=cancel)
        try:
            tools = choose_tools(int(conn.server_version), need=TOOLS,
                                 bin_dir=settings.pg_bindir)
            plan = build_plan(conn, url, tools, path, verification, version_table)
            plan.refuse_unless(into_other_database=into_other_database, drop_extra=drop_extra)
            _still_as_confirmed(plan, confirmed, expect_from)
            progress(describe(plan))
            safety = None
            if backup:
                safety = dump_database(url, settings.backups_dir,
                                       server_version_num=int(conn.server_version),
                                       revision=plan.target_revision, tools=tools,
                                       version_table=version_table, on_progress=progress,
                                       cancel=cancel, keep=settings.backup_keep,
                                       protect=(path,), skip_hint=_RESTORE_RETRY,
                                       lock_timeout=settings.lock_timeout)
                progress(f"backup of the current state written to {safety.path}")
            _restore_stream(url, conn, path, tools, progress, cancel,
                            locking.session_timeouts(settings))
            after = revision_label(read_revision(conn, version_table))
            progress(f"restored; database {plan.database} is at {after or 'base'}")
        finally:
            with contextlib.suppress(Exception):
                locking.release(conn)
    return RestoreResult(path, plan, after, safety)


def _still_as_confirmed(plan: RestorePlan, confirmed: RestorePlan | None,
                        expect_from: tuple[str, ...] | None) -> None:
    """Compare-and-swap: what was confirmed (or --from) must still be what is replaced."""
    from rfsetup.core.alembic.runner import moved_error

    def revs(label: str | None) -> tuple[str, ...]:
        return tuple(label.split(",")) if label else ()

    now = revs(plan.target_revision)
    if confirmed is not None:
        if set(now) != set(revs(confirmed.target_revision)):
            raise moved_error(plan.database, revs(confirmed.target_revision), now)
        if set(plan.extra_objects) != set(confirmed.extra_objects):
            raise RfsetupError(
                f"database {plan.database} changed since this was confirmed (what the restore "
                "would drop is no longer what was shown); nothing was done",
                hint="review the restore again", kind="moved")
    if expect_from is not None and set(now) != set(expect_from):
        raise moved_error(plan.database, tuple(expect_from), now, confirmed=False)


def describe(plan: RestorePlan) -> str:
    """One line: what is replaced with what (the CLI prints more at a confirmation)."""
    return (f"replacing database {plan.database} (at {plan.target_revision or 'base'}, "
            f"{len(plan.target_tables)} tables) with {plan.path.name} (database "
            f"{plan.dump_database or '?'} at {plan.dump_revision or 'base'}, "
            f"{len(plan.dump_tables)} tables); {plan.verification}")


def _patch_header(script: Path) -> None:
    """Point pg_restore's ``SET lock_timeout = 0`` / ``statement_timeout = 0`` at the session's
    values, in place (same length), so the script keeps rfsetup's timeouts."""
    with open(script, "r+b") as fh:
        head = fh.read(8192)
        for old, new in _HEADER_PATCHES:
            at = head.find(b"\n" + old + b"\n")
            if at >= 0:
                fh.seek(at + 1)
                fh.write(new)


def _wrapper(timeouts: dict[str, str]) -> str:
    return (f"SET lock_timeout = '{timeouts['lock_timeout']}';\n"
            f"SET statement_timeout = '{timeouts['statement_timeout']}';\n"
            "SET client_min_messages = warning;\n"
            f"{CLEAR_SQL}\n\\ir restore.sql\n")


def _restore_stream(url: URL, conn: PgConnection, path: Path, tools: PgTools,
                    progress: Progress, cancel: threading.Event | None,
                    timeouts: dict[str, str]) -> None:
    """pg_restore's SQL, after CLEAR_SQL, through psql as one transaction that stops at errors.

    The SQL is written to a private temporary file first and applied only when pg_restore
    succeeded: psql commits its single transaction at end of input, so streaming a pg_restore
    that died half way would commit a half-restored database.
    """
    started = f"restoring {path.name} into database {url.database}…"
    progress(started)

    def tick(seconds: float) -> None:
        progress(ProgressTick(f"{started} {seconds:.0f}s"))

    work = Path(tempfile.gettempdir())
    try:
        tmp_dir = tempfile.TemporaryDirectory(prefix="rfsetup-restore-")
    except OSError as exc:
        raise os_error(exc, work, "creating the restore's work folder") from None
    with tmp_dir as tmp:
        script = Path(tmp) / "restore.sql"
        run = run_tool([str(tools.path("pg_restore")), "--clean", "--if-exists",
                        f"--file={script}", str(path)], env=tool_env(url), cancel=cancel,
                       on_tick=tick)
        if run.cancelled:
            raise interrupted(f"restore of {path.name}")
        if run.returncode != 0:
            if "No space left on device" in run.stderr or "could not write" in run.stderr:
                raise RfsetupError(
                    f"no space left in {work} for the SQL of {path.name} ({free_space(work)} "
                    "free); the database was not changed", cause=tail(run.stderr, url),
                    hint="point TMPDIR at a folder with room for the data, uncompressed",
                    kind="disk_full")
            raise unreadable_dump(run.stderr, path, tools, url)
        try:
            _patch_header(script)
            (Path(tmp) / "run.sql").write_text(_wrapper(timeouts))
        except OSError as exc:
            raise os_error(exc, Path(tmp), "preparing the restore") from None
        app = f"rfsetup restore psql {os.getpid()} {uuid.uuid4().hex[:8]}"
        run = run_tool(
            [str(tools.path("psql")), "--no-psqlrc", "--quiet", "--no-password",
             "--single-transaction", "--set=ON_ERROR_STOP=1",
             f"--set=LT='{timeouts['lock_timeout']}'",
             f"--set=ST='{timeouts['statement_timeout']}'",
             f"--file={Path(tmp) / 'run.sql'}", f"--dbname={conninfo(url, app)}"],
            env=tool_env(url), cancel=cancel, on_tick=tick,
            on_cancel=lambda: _cancel_backend(conn, app))
    if run.returncode == 0:
        if run.cancelled:
            progress("the interrupt came after the restore had committed: it is done")
        return
    if run.cancelled:
        raise interrupted(f"restore of {path.name}")
    raise _psql_failed(run.stderr, url, path.name, timeouts)


def _cancel_backend(conn: PgConnection, application_name: str) -> None:
    """Cancel psql's statement on the server: its transaction rolls back, psql stops."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s", (application_name,))


_DAMAGED = re.compile(r"syntax error|invalid input syntax|invalid byte sequence|missing data "
                      r"for column|extra data after last expected column|unterminated|"
                      r"invalid command|end-of-copy marker|out of range", re.IGNORECASE)
_ROLE = re.compile(r'role ".*" does not exist|must be owner of|permission denied')
_EXTENSION = re.compile(r'extension "([^"]+)" is not available|could not open extension '
                        r'control file ".*/([^/"]+)\.control"')


def _psql_failed(stderr: str, url: URL, name: str, timeouts: dict[str, str]) -> RfsetupError:
    """What the server refused, named, with the next step for that cause."""
    cause = tail(stderr, url)
    unchanged = "the database was not changed (one transaction)"

    def error(message: str, hint: str, kind: str = "restore_failed") -> RfsetupError:
        return RfsetupError(f"{message}; {unchanged}", cause=cause, hint=hint, kind=kind)

    if "lock timeout" in stderr:
        return error(f"restoring {name} waited more than {timeouts['lock_timeout']} for a table "
                     "lock", f"sessions are using the tables: stop the application and retry, "
                             f"or raise {locking.ENV_LOCK_TIMEOUT}", "restore_lock_timeout")
    if "statement timeout" in stderr:
        return error(f"a statement of the restore of {name} ran longer than "
                     f"{timeouts['statement_timeout']}",
                     f"raise {locking.ENV_STATEMENT_TIMEOUT} (e.g. 2h) and retry",
                     "restore_timeout")
    if "No space left on device" in stderr or "could not extend file" in stderr:
        return error(f"the server ran out of disk space restoring {name}",
                     "free space on the database server and retry")
    missing = _EXTENSION.search(stderr)
    if missing:
        ext = missing.group(1) or missing.group(2)
        return error(f"the server lacks the extension {ext} that {name} needs",
                     f"install {ext} on the database server (its package), then retry")
    if _ROLE.search(stderr):
        return error(f"the database user may not create everything in {name}",
                     "restore as a role that can create everything in the file (e.g. the one "
                     "that took the backup), or create the role named above")
    if _DAMAGED.search(stderr):
        return error(f"the server rejected the SQL in {name}: the file is damaged or was "
                     "edited", "restore another backup (rfsetup backup list)")
    return error(f"restoring {name} failed", "fix the cause above and run the restore again")

