"""The guide's "Create Database" step, idempotent: a login role, its database, and the right to
migrate it.

``plan_provision`` is what the user is shown; ``provision`` applies it as an admin. Decisions:

* The role's password is sent as a SCRAM-SHA-256 verifier computed here (libpq's
  ``PQencryptPasswordConn`` through ``psycopg2.extensions.encrypt_password``), so the clear text
  reaches neither the server nor its statement log.
* An existing role keeps its password unless a new one is given; it is given LOGIN if it lacks it.
* An existing database keeps its owner. The role is then granted what the guide grants
  (``ALL PRIVILEGES ON DATABASE``) plus ``CREATE, USAGE ON SCHEMA public``, which PostgreSQL 15
  no longer gives to everyone and without which the role cannot create its tables. A new database
  is owned by the role, which on 15+ makes it the owner of schema public (pg_database_owner).
* Names are quoted with ``psycopg2.sql.Identifier``; empty names and names over 63 bytes
  (which PostgreSQL would silently truncate) are refused before anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from rfsetup.core.connect import connection
from rfsetup.core.errors import RfsetupError, bad_input
from rfsetup.core.settings import mask_url

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection
    from sqlalchemy.engine import URL

DEFAULT_NAME = "raptorflow"
DEFAULT_OWNER = "raptorflow"
MAX_IDENTIFIER_BYTES = 63  # NAMEDATALEN - 1: PostgreSQL truncates longer names
MASKED_PASSWORD = "'***'"


def check_identifier(name: str, what: str) -> str:
    """Return ``name`` if PostgreSQL will store it unchanged; otherwise a bad-input error."""
    if not name:
        raise bad_input(f"the {what} name is empty")
    if "\x00" in name:
        raise bad_input(f"the {what} name contains a NUL character")
    size = len(name.encode("utf-8"))
    if size > MAX_IDENTIFIER_BYTES:
        raise bad_input(
            f"the {what} name is {size} bytes long; PostgreSQL keeps only "
            f"{MAX_IDENTIFIER_BYTES} and would silently truncate it",
            hint="choose a shorter name",
        )
    return name


def quote_ident(name: str) -> str:
    """How ``sql.Identifier`` quotes ``name``, for display only (no connection needed)."""
    return '"' + name.replace('"', '""') + '"'


def plan_provision(name: str = DEFAULT_NAME, owner: str = DEFAULT_OWNER) -> list[str]:
    """The statements ``provision`` may run, for display; the password is shown as ``'***'``."""
    check_identifier(name, "database")
    check_identifier(owner, "role")
    db, role = quote_ident(name), quote_ident(owner)
    return [
        f"CREATE ROLE {role} LOGIN PASSWORD {MASKED_PASSWORD};"
        "  -- a SCRAM-SHA-256 verifier computed here; if the role exists, only with a new "
        "password: ALTER ROLE … PASSWORD",
        f"CREATE DATABASE {db} OWNER {role};  -- skipped if it exists",
        f"GRANT ALL PRIVILEGES ON DATABASE {db} TO {role};  -- only if another role owns it",
        f"\\connect {db}",
        f"GRANT CREATE, USAGE ON SCHEMA public TO {role};"
        "  -- only if the role cannot create there yet (PostgreSQL 15+)",
    ]


@dataclass(frozen=True)
class ServerState:
    """What already exists, as seen by the admin before anything is changed."""

    server_version: int
    role_exists: bool
    role_can_login: bool
    database_exists: bool
    database_owner: str | None


@dataclass
class ProvisionResult:
    """What ``provision`` did; ``database_url`` is masked (``role_url`` builds the real one)."""

    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    #: things that will still stand in the way, e.g. tables owned by another role
    warnings: list[str] = field(default_factory=list)
    database_url: str = ""
    #: the SQL actually run, the password shown as ``'***'``
    statements: list[str] = field(default_factory=list)


def inspect_server(admin_url: URL, name: str, owner: str) -> ServerState:
    """Look (read-only) at what exists: role, database, its owner, the server version."""
    with connection(admin_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_setting('server_version_num')::int")
        version = int(cur.fetchone()[0])
        cur.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (owner,))
        role = cur.fetchone()
        cur.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (name,))
        db = cur.fetchone()
    return ServerState(
        server_version=version,
        role_exists=role is not None,
        role_can_login=bool(role and role[0]),
        database_exists=db is not None,
        database_owner=db[0] if db else None,
    )


def provision(
    admin_url: URL,
    name: str = DEFAULT_NAME,
    owner: str = DEFAULT_OWNER,
    password: str | None = None,
    *,
    on_progress: Callable[[str], None] | None = None,
) -> ProvisionResult:
    """Create (or complete) role ``owner`` and database ``name`` on the admin's server.

    Idempotent: a second run creates nothing and reports what exists. A new role needs a
    password (bad input otherwise, before anything is changed); for an existing role a given
    password replaces the old one and ``None`` leaves it alone.
    """
    check_identifier(name, "database")
    check_identifier(owner, "role")
    from psycopg2 import errors, sql

    progress = on_progress or (lambda _msg: None)
    state = inspect_server(admin_url, name, owner)
    if not state.role_exists and password is None:
        raise bad_input(f"role {owner!r} does not exist and no password was given for it",
                        hint="pass the password on standard input: --password-stdin")
    result = ProvisionResult()
    role, db = sql.Identifier(owner), sql.Identifier(name)

    with connection(admin_url, autocommit=True) as conn:
        run = _runner(conn, result)
        # -- the role ------------------------------------------------------------------------
        if not state.role_exists:
            try:
                run(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    role, _verifier(conn, password or "", owner)), secret=True)
                result.created.append(f"role {owner}")
            except errors.DuplicateObject:  # created meanwhile by someone else
                result.existing.append(f"role {owner}")
                state = _with(state, role_exists=True, role_can_login=True)
                if password is not None:
                    _set_password(conn, run, role, owner, password, result)
        else:
            result.existing.append(f"role {owner}")
            if not state.role_can_login:
                run(sql.SQL("ALTER ROLE {} LOGIN").format(role))
                result.changed.append(f"role {owner}: may now log in")
            if password is not None:
                _set_password(conn, run, role, owner, password, result)
        progress(f"role {owner} ready")

        # -- the database --------------------------------------------------------------------
        if not state.database_exists:
            try:
                run(sql.SQL("CREATE DATABASE {} OWNER {}").format(db, role))
                result.created.append(f"database {name} (owner {owner})")
                state = _with(state, database_exists=True, database_owner=owner)
            except errors.DuplicateDatabase:
                state = inspect_server(admin_url, name, owner)
                result.existing.append(f"database {name} (owner {state.database_owner})")
        else:
            result.existing.append(f"database {name} (owner {state.database_owner})")
        if state.database_owner != owner:
            # the guide's grant; harmless when already held
            run(sql.SQL("GRANT ALL PRIVILEGES ON DATABASE {} TO {}").format(db, role))
        progress(f"database {name} ready")

    # -- schema public: PostgreSQL 15 took CREATE away from PUBLIC -------------------------------
    with connection(admin_url.set(database=name), autocommit=True) as conn:
        run = _runner(conn, result)
        with conn.cursor() as cur:
            cur.execute("SELECT has_schema_privilege(%s, 'public', 'CREATE'), "
                        "has_schema_privilege(%s, 'public', 'USAGE')", (owner, owner))
            can_create, can_use = cur.fetchone()
            # objects created earlier by another role (e.g. migrated as postgres) cannot be
            # altered by this role's migrations; say so rather than fail at the next migration
            cur.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S') "
                "AND NOT pg_has_role(%s, c.relowner, 'USAGE')", (owner,))
            foreign = int(cur.fetchone()[0])
        if not (can_create and can_use):
            run(sql.SQL("GRANT CREATE, USAGE ON SCHEMA public TO {}").format(role))
            result.changed.append(f"role {owner}: may create tables in {name}.public")
        if foreign:
            result.warnings.append(
                f"{foreign} tables, views or sequences in {name}.public belong to other roles; "
                f"migrations run as {owner} cannot alter them "
                f"(ALTER TABLE … OWNER TO {quote_ident(owner)})")
    progress("privileges ready")

    result.database_url = mask_url(role_url(admin_url, owner, password, name))
    return result


def role_url(admin_url: URL, owner: str, password: str | None, name: str) -> URL:
    """The admin's server (and query, e.g. sslmode) with the role's credentials and database.

    Built afresh because ``URL.set(password=None)`` would keep the admin's password.
    """
    from sqlalchemy.engine import URL

    return URL.create(admin_url.drivername, username=owner, password=password,
                      host=admin_url.host, port=admin_url.port, database=name,
                      query=admin_url.query)


def _with(state: ServerState, **changes: object) -> ServerState:
    return replace(state, **changes)  # type: ignore[arg-type]


def _verifier(conn: PgConnection, password: str, owner: str):  # -> sql.Literal
    """The SCRAM-SHA-256 verifier of ``password`` for ``owner``, computed client-side."""
    from psycopg2 import sql
    from psycopg2.extensions import encrypt_password

    try:
        return sql.Literal(encrypt_password(password, owner, conn, "scram-sha-256"))
    except Exception as exc:  # e.g. a libpq too old to know SCRAM
        raise RfsetupError(
            "cannot compute the SCRAM-SHA-256 password verifier",
            cause=type(exc).__name__,
            hint="upgrade libpq/psycopg2 (libpq 10 or newer is needed)",
        ) from None


def _set_password(conn: PgConnection, run: Callable[..., None], role: object, owner: str,
                  password: str, result: ProvisionResult) -> None:
    from psycopg2 import sql

    run(sql.SQL("ALTER ROLE {} PASSWORD {}").format(role, _verifier(conn, password, owner)),
        secret=True)
    result.changed.append(f"role {owner}: password set")


def _runner(conn: PgConnection, result: ProvisionResult) -> Callable[..., None]:
    """Execute a composed statement, recording its display form (verifier hidden)."""
    from psycopg2 import errors, sql

    def run(statement: sql.Composed, *, secret: bool = False) -> None:
        if secret:
            # the last part is the verifier literal: show it as '***'
            shown = sql.Composed(statement.seq[:-1]).as_string(conn) + MASKED_PASSWORD
        else:
            shown = statement.as_string(conn)
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
        except errors.InsufficientPrivilege as exc:
            raise RfsetupError(
                "the admin connection may not do this",
                cause=f"{shown}: {str(exc).strip().splitlines()[0]}",
                hint="connect as a superuser, or a role with CREATEROLE and CREATEDB "
                "(--admin-url postgresql://postgres@HOST:5432/postgres)",
                kind="insufficient_privilege",
            ) from None
        result.statements.append(shown + ";")

    return run
