"""The rehearsal's throwaway copy of a database: named for what it is, made, always dropped.

The copy is made on the same server, by the target's own role when it may create databases
(CREATEDB or superuser), else by an admin connection (``--admin-url``): ``CREATE DATABASE …
TEMPLATE`` when nobody else is connected to the source (a file-level copy; new connections to
the source wait while it runs), otherwise ``pg_dump -Fc | pg_restore`` into an empty database
(both tools tied to rfsetup, as the backups run them). The copy carries a comment saying who
made it and that it is safe to drop; leftovers of a rehearsal that was killed outright
(SIGKILL) are found by that comment and named, never dropped behind anyone's back.

Nothing here writes to the source: the template copy only reads it, pg_dump only reads it.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from psycopg2 import sql

from rfsetup.core.connect import connect
from rfsetup.core.errors import ExitCode, RfsetupError
from rfsetup.core.pgtools import choose_tools, conninfo, kill, tail, tied, tool_env

if TYPE_CHECKING:
    from pathlib import Path

    from psycopg2.extensions import connection as PgConnection
    from sqlalchemy.engine import URL

PREFIX = "rfsetup_rehearsal_"
COMMENT = "rfsetup rehearsal copy of {source} (made {when} by {who}); safe to drop"
CopyMethod = Literal["auto", "template", "dump"]
_NAME_MAX = 63  # NAMEDATALEN - 1
_POLL = 0.1
_ADMIN_DATABASES = ("postgres", "template1")
#: held back while the copy is dropped (as commands/signals.py's: SIGHUP where it exists)
_STOP_SIGNALS = tuple(s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM",
                                                                       "SIGHUP")) if s)


def copy_name(source: str, now: datetime | None = None) -> str:
    """``rfsetup_rehearsal_<db>_<utc>_<4 hex>``: what it is, whose copy, when; at most 63 bytes
    (the source's name shortened, and reduced to ``[a-z0-9_]``, to fit)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    tail_part = f"_{stamp}_{secrets.token_hex(2)}"
    room = _NAME_MAX - len(PREFIX) - len(tail_part)
    base = re.sub(r"[^a-z0-9_]+", "_", source.lower()).strip("_") or "db"
    return f"{PREFIX}{base[:room]}{tail_part}"


@dataclass
class Maker:
    """Who makes and drops the copy: a connection to the server's maintenance database, as
    the target's role or an admin, and the URL it was opened with (for the pg tools)."""

    conn: PgConnection
    url: URL
    #: the role that will run the migrations on the copy (becomes its owner)
    owner: str
    as_admin: bool


@contextlib.contextmanager
def maker(target: URL, admin: URL | None) -> Iterator[Maker]:
    """A connection that can create the copy, or exit 1 saying how to get one.

    The target's role on its server's ``postgres`` (else ``template1``) database when no admin
    is given; it must have CREATEDB (or be superuser)."""
    base = admin or target
    conn = _maintenance(base)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, rolcreatedb OR rolsuper, rolsuper FROM pg_roles "
                        "WHERE rolname = current_user")
            who, can_create, _super = cur.fetchone()
        owner = str(target.username or who)
        if not can_create:
            raise needs_createdb(str(who), admin is not None)
        if admin is not None:
            cur_source = str(target.database)
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (cur_source,))
                if cur.fetchone() is None:
                    raise RfsetupError(
                        f"the admin connection's server has no database {cur_source}: it "
                        "must be the target's server; nothing was done",
                        hint="point --admin-url at DATABASE_URL's host and port",
                        kind="bad_input", exit_code=ExitCode.USAGE)
        yield Maker(conn, conn_url(base, conn), owner, admin is not None)
    finally:
        conn.close()


def needs_createdb(role: str, as_admin: bool) -> RfsetupError:
    """The role cannot create the copy: exit 1, the two fixes."""
    who = "the admin connection's role" if as_admin else "the target's role"
    return RfsetupError(
        f"a rehearsal needs a throwaway database, and {who} {role} may not create databases; "
        "nothing was done",
        hint=f"as an admin: ALTER ROLE {sql_ident(role)} CREATEDB; — or let an admin make the "
             "copy: rfsetup rehearse --admin-url postgresql://postgres@HOST/postgres "
             "(its password from PGPASSWORD)",
        kind="rehearse_needs_createdb")


def sql_ident(name: str) -> str:
    """A role name as it must be typed in SQL (quoted when it needs to be)."""
    return name if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) else '"' + name.replace('"', '""') \
        + '"'


def _maintenance(base: URL) -> PgConnection:
    last: RfsetupError | None = None
    for name in _ADMIN_DATABASES:
        try:
            return connect(base.set(database=name), autocommit=True,
                           application_name="rfsetup rehearse")
        except RfsetupError as exc:
            if exc.kind not in ("database_missing", "pg_hba_rejected", "permission_denied"):
                raise
            last = exc
    assert last is not None
    raise last


def conn_url(base: URL, conn: PgConnection) -> URL:
    return base.set(database=str(conn.info.dbname))


def others_connected(conn: PgConnection, database: str) -> int:
    """Sessions connected to ``database`` other than this one (pg_stat_activity)."""
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                    "AND pid <> pg_backend_pid()", (database,))
        return int(cur.fetchone()[0])


def create_copy(mk: Maker, source: str, name: str, *, method: CopyMethod = "auto",
                on_progress: Callable[[str], None] | None = None,
                cancel: threading.Event | None = None, bin_dir: Path | None = None
                ) -> Literal["template", "dump"]:
    """Make database ``name`` a copy of ``source``; returns how it was made.

    ``auto``: a template copy when nobody is connected to the source, else dump and restore
    (also when someone connects in between: CREATE DATABASE then refuses, nothing made)."""
    say = on_progress or (lambda _l: None)
    if method in ("auto", "template"):
        busy = others_connected(mk.conn, source)
        if busy and method == "template":
            raise RfsetupError(f"{busy} other session(s) are connected to database {source}, "
                               "so it cannot be copied as a template; nothing was done",
                               hint="run without --copy-with template (dump and restore is "
                                    "used then)", kind="rehearse_source_busy")
        if not busy:
            say(f"copying database {source} to {name} (CREATE DATABASE … TEMPLATE)…")
            try:
                _create(mk, name, template=source)
                _comment(mk, name, source)
                return "template"
            except _SourceBusy as busy_now:
                if method == "template":
                    raise RfsetupError(f"database {source} cannot be copied as a template; "
                                       "nothing was done", cause=str(busy_now).strip(),
                                       hint="run without --copy-with template (dump and "
                                            "restore is used then)",
                                       kind="rehearse_source_busy") from None
            say(f"database {source} cannot be copied as a template now: copying it with "
                "pg_dump | pg_restore instead")
        else:
            say(f"{busy} other session(s) use database {source}: copying it with pg_dump | "
                "pg_restore (the template copy needs it idle)")
    _create(mk, name, template="template0")
    _comment(mk, name, source)
    say(f"copying database {source} to {name} (pg_dump | pg_restore)…")
    _dump_restore(mk, source, name, cancel=cancel, bin_dir=bin_dir)
    return "dump"


class _SourceBusy(Exception):
    pass


def _create(mk: Maker, name: str, *, template: str) -> None:
    import psycopg2

    statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name),
                                                                   sql.Identifier(template))
    if mk.as_admin:
        statement = statement + sql.SQL(" OWNER {}").format(sql.Identifier(mk.owner))
    try:
        with mk.conn.cursor() as cur:
            cur.execute(statement)
    except (psycopg2.errors.ObjectInUse, psycopg2.errors.InsufficientPrivilege) as exc:
        # someone connected meanwhile, or the role may create databases but not copy this one
        # (it is not the owner): dump and restore instead
        if template != "template0":
            raise _SourceBusy(str(exc)) from None
        raise _create_failed(name, exc) from None
    except psycopg2.Error as exc:
        raise _create_failed(name, exc) from None


def _create_failed(name: str, exc: Exception) -> RfsetupError:
    from rfsetup.core.alembic.failures import db_error_text

    return RfsetupError(f"cannot create the rehearsal copy {name}; nothing was done",
                        cause=db_error_text(exc), kind="rehearse_copy_failed")


def _comment(mk: Maker, name: str, source: str) -> None:
    from rfsetup.core.locking import application_name

    text = COMMENT.format(source=source, when=datetime.now(UTC).isoformat(timespec="seconds"),
                          who=application_name("rehearse"))
    with mk.conn.cursor() as cur:
        cur.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name),
                                                                    sql.Literal(text)))


def _dump_restore(mk: Maker, source: str, name: str, *, cancel: threading.Event | None,
                  bin_dir: Path | None) -> None:
    """``pg_dump -Fc SOURCE | pg_restore -d NAME``: both tied to rfsetup, killed on cancel or
    on any exception; a failure of either is one error with its last lines."""
    tools = choose_tools(int(mk.conn.server_version), need=("pg_dump", "pg_restore"),
                         bin_dir=bin_dir)
    src, dst = mk.url.set(database=source), mk.url.set(database=name)
    dump = [str(tools.path("pg_dump")), "--format=custom", "--no-password",
            f"--dbname={conninfo(src, 'rfsetup rehearse copy')}"]
    restore = [str(tools.path("pg_restore")), "--no-password", "--exit-on-error",
               f"--dbname={conninfo(dst, 'rfsetup rehearse copy')}"]
    if not mk.as_admin:
        restore.append("--no-owner")  # the role cannot give objects to others
    code, errors = _pipe(dump, restore, tool_env(src), cancel)
    if code == "cancelled":
        from rfsetup.core.backups import interrupted

        raise interrupted(f"copying database {source}")
    if code:
        raise RfsetupError(f"copying database {source} for the rehearsal failed "
                           f"({code}); nothing was changed in {source}",
                           cause=tail(errors, src), kind="rehearse_copy_failed",
                           hint="the copy is dropped; fix the cause, or let an admin make the "
                                "copy (--admin-url)")


def _pipe(first: list[str], second: list[str], env: dict[str, str],
          cancel: threading.Event | None) -> tuple[str, str]:
    """Run ``first | second``; ("", "") when both succeed, ("cancelled", …) on cancel, else
    which one failed and both stderrs."""
    with tempfile.TemporaryFile() as err1, tempfile.TemporaryFile() as err2:
        common = {"env": env, "start_new_session": os.name == "posix"}
        producer = subprocess.Popen(tied(first), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=err1, **common)  # type: ignore[call-overload]
        try:
            consumer = subprocess.Popen(tied(second), stdin=producer.stdout,
                                        stdout=subprocess.DEVNULL, stderr=err2,
                                        **common)  # type: ignore[call-overload]
        except BaseException:
            kill(producer)
            raise
        assert producer.stdout is not None
        producer.stdout.close()  # the consumer holds the read end now
        try:
            while consumer.poll() is None or producer.poll() is None:
                if cancel is not None and cancel.is_set():
                    kill(producer)
                    kill(consumer)
                    return "cancelled", ""
                time.sleep(_POLL)
        except BaseException:
            kill(producer)
            kill(consumer)
            raise
        err1.seek(0)
        err2.seek(0)
        errors = (err1.read() + err2.read()).decode(errors="replace")
    if producer.returncode:
        return f"pg_dump exit {producer.returncode}", errors
    if consumer.returncode:
        return f"pg_restore exit {consumer.returncode}", errors
    return "", errors


def drop_copy(mk_url: URL, name: str) -> None:
    """Drop the copy, on a connection of its own (the maker's may be broken by now), with
    SIGINT and SIGTERM held back meanwhile on the main thread: a second Ctrl-C must not leave
    it behind. Raises when it could not be dropped (the caller says so, naming it)."""
    if not name.startswith(PREFIX):  # never anything but a rehearsal copy
        raise ValueError(f"not a rehearsal copy: {name}")
    with _signals_held():
        conn = connect(mk_url, autocommit=True, application_name="rfsetup rehearse")
        try:
            with conn.cursor() as cur:
                if int(conn.server_version) >= 130000:
                    cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(name)))
                else:
                    cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
                    cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(
                        sql.Identifier(name)))
        finally:
            conn.close()


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {sig: signal.signal(sig, lambda s, _f: pending.append(s))
                for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in pending[:1]:  # delivered now, to whoever handled it before
            os.kill(os.getpid(), sig)


def leftovers(conn: PgConnection) -> list[str]:
    """Rehearsal copies on this server nobody is connected to (a rehearsal killed outright
    leaves its copy behind): named, with the statement that drops them, never dropped here."""
    with conn.cursor() as cur:
        cur.execute("""
            SELECT d.datname FROM pg_database d
             WHERE d.datname LIKE %s AND shobj_description(d.oid, 'pg_database') LIKE %s
               AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)
             ORDER BY 1""", (PREFIX.replace("_", r"\_") + "%", "rfsetup rehearsal copy of %"))
        return [str(r[0]) for r in cur.fetchall()]


def unreachable_copy_error(name: str, exc: RfsetupError) -> RfsetupError:
    """The copy could not be dropped: name it and the statement, as a failure (exit 1)."""
    return RfsetupError(f"the rehearsal copy {name} could not be dropped", cause=exc.message,
                        hint=f"drop it when the server is reachable: DROP DATABASE \"{name}\" "
                             "WITH (FORCE);", kind="rehearse_copy_left",
                        exit_code=ExitCode.FAILED)
