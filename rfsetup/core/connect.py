"""The one place a database connection is opened, and the diagnosis of why it could not be.

Every failure is classified (server down, DNS, timeout, password, role, database, pg_hba, SSL,
too many clients, starting up) and answered with the fix, never with the password.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rfsetup.core import redact
from rfsetup.core.errors import ExitCode, RfsetupError
from rfsetup.core.settings import libpq_params, mask_url

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection
    from sqlalchemy.engine import URL, Engine

APPLICATION_NAME = "rfsetup"
DEFAULT_CONNECT_TIMEOUT = 5


@dataclass(frozen=True)
class _Rule:
    kind: str
    #: compiled on the first failure that needs it (``search``), not when rfsetup starts
    pattern: str
    message: str
    hint: str
    exit_code: ExitCode = ExitCode.CONNECT

    def search(self, text: str) -> re.Match[str] | None:
        return re.search(self.pattern, text, re.IGNORECASE | re.DOTALL)


def _rule(kind: str, pattern: str, message: str, hint: str,
          exit_code: ExitCode = ExitCode.CONNECT) -> _Rule:
    return _Rule(kind, pattern, message, hint, exit_code)


# Order matters: the first match wins, specific causes before generic ones.
_RULES: tuple[_Rule, ...] = (
    # libpq refuses these before it opens any connection: the URL is wrong, not the server,
    # so they are bad input (exit 2) and the fix is in DATABASE_URL's ?query
    _rule(
        "bad_url_option",
        r"invalid connection option",
        "DATABASE_URL has a query parameter libpq does not know",
        "remove it from DATABASE_URL's ?query (libpq takes e.g. sslmode, connect_timeout, "
        "application_name, options)",
        ExitCode.USAGE,
    ),
    _rule(
        "bad_url_value",
        r"invalid [\w ]*value|invalid port number",
        "DATABASE_URL has an invalid value in its query",
        "fix the value named above in DATABASE_URL's ?query (e.g. sslmode=disable, require or "
        "verify-full; connect_timeout in whole seconds)",
        ExitCode.USAGE,
    ),
    _rule(
        "pg_hba_rejected",
        r"no pg_hba\.conf entry|pg_hba\.conf rejects",
        "the server's pg_hba.conf rejects {user} connecting to {db} from this host",
        "add a line for this host to pg_hba.conf (e.g. 'host {db} {user} 127.0.0.1/32 "
        "scram-sha-256') and reload PostgreSQL (SELECT pg_reload_conf();)",
    ),
    _rule(
        "ssl_unsupported",
        r"server does not support SSL",
        "the server does not support SSL but the URL requires it",
        "remove sslmode={sslmode} (asyncpg: ssl=…) from DATABASE_URL, or enable SSL on the "
        "server",
    ),
    _rule(
        "ssl_failed",
        r"SSL (SYSCALL )?error|certificate verify failed|root certificate file",
        "the SSL handshake with {target} failed",
        "check sslmode and the server certificate (sslmode=require skips verification)",
    ),
    _rule(
        "password_rejected",
        r"password authentication failed",
        "password rejected for {user} at {target}: the server answered and refused the login",
        "check the password in DATABASE_URL (URL-escaped: @ : / % as %40 %3A %2F %25); "
        "a missing role gets the same answer over TCP: rfsetup db create --owner {user} "
        "--name {db} creates it",
    ),
    _rule(
        "password_missing",
        r"no password supplied|fe_sendauth",
        "the server at {target} asks {user} for a password and DATABASE_URL has none",
        "put it in DATABASE_URL (postgresql://{user}:PASSWORD@…, URL-escaped) or in ~/.pgpass",
    ),
    _rule(
        "role_missing",
        r'role ".*" does not exist',
        "role {user} does not exist on {target}: the server answered and refused the login",
        "create it: rfsetup db create --owner {user} --name {db} (or fix the user name in "
        "DATABASE_URL)",
    ),
    _rule(
        "database_missing",
        r'database ".*" does not exist',
        "database {db} does not exist on {target}: the server answered and refused it",
        "create it: rfsetup db create --name {db} --owner {user} (or fix the database name at "
        "the end of DATABASE_URL)",
    ),
    _rule(
        "too_many_clients",
        r"too many clients|remaining connection slots are reserved|too many connections",
        "the server at {target} has no free connection slots",
        "close idle sessions (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
        "state = 'idle') or raise max_connections",
    ),
    _rule(
        "server_starting",
        r"the database system is (starting up|in recovery mode|not yet accepting)",
        "the server at {target} is starting up",
        "wait a few seconds and try again",
    ),
    _rule(
        "server_shutting_down",
        r"the database system is shutting down",
        "the server at {target} is shutting down",
        "wait until it has stopped (or restarted, if that is what is happening), then start "
        "it again if it stays down",
    ),
    _rule(
        "host_unresolvable",
        r"could not translate host name|Name or service not known|nodename nor servname",
        "host {host} cannot be resolved",
        "check the host name in DATABASE_URL (use localhost for a local server)",
    ),
    _rule(
        "timeout",
        r"timeout expired|timed out",
        "no answer from {target} within the connect timeout",
        "",  # remedies.timeout_remedy
    ),
    _rule(
        "server_down",
        r"Connection refused|No such file or directory|could not connect to server|"
        r"Is the server running",
        "no PostgreSQL server is accepting connections at {target}",
        "",  # remedies.server_down_remedy: what this machine has
    ),
)


def diagnose(exc: BaseException, url: URL) -> RfsetupError:
    """Turn a failed connection attempt into a classified, password-free error (exit 3).

    The remedy of a refused port or a timeout depends on this machine and OS (``remedies``):
    the sandbox is started with ``rfsetup sandbox start``, an installed server with its own
    service, and only a machine with no PostgreSQL at all is told to install one.
    """
    raw = _scrub(str(getattr(exc, "orig", None) or exc), url)
    host, target = _target(url)
    sslmode = url.query.get("sslmode", "require")
    fmt = {"target": target, "host": host, "user": url.username or "(default)",
           "db": url.database or "(default)",
           "sslmode": sslmode if isinstance(sslmode, str) else sslmode[-1]}
    for rule in _RULES:
        if rule.search(raw):
            return RfsetupError(
                rule.message.format(**fmt),
                hint=_machine_remedy(rule.kind, url) or rule.hint.format(**fmt),
                cause=_first_line(raw),
                exit_code=rule.exit_code,
                kind=rule.kind,
            )
    return RfsetupError(
        f"cannot connect to {target}",
        hint=f"check DATABASE_URL ({mask_url(url)})",
        cause=_first_line(raw),
        exit_code=ExitCode.CONNECT,
        kind="connect_failed",
    )


def _machine_remedy(kind: str, url: URL) -> str | None:
    """The remedy that depends on where the target is and what this machine has."""
    from rfsetup.core import remedies

    if kind not in ("server_down", "timeout"):
        return None
    host, port = _host_port(url)
    if kind == "timeout":
        return remedies.timeout_remedy(host, port)
    return remedies.server_down_remedy(host, port)


#: the server answered and refused: it is reachable, the login or the database is wrong
SERVER_ANSWERED = frozenset({
    "password_rejected", "password_missing", "role_missing", "database_missing",
    "pg_hba_rejected", "ssl_unsupported", "ssl_required", "ssl_failed", "too_many_clients",
    "server_starting", "server_shutting_down"})
#: what happened, in words that read after "server " (the CLI's status line, the panel)
_VERDICTS = {
    "server_down": "not listening (connection refused)",
    "timeout": "not answering (timed out)",
    "host_unresolvable": "host name not found (DNS)",
    "password_rejected": "answered: login refused (password, or no such role)",
    "password_missing": "answered: a password is needed",
    "role_missing": "answered: no such role",
    "database_missing": "answered: no such database",
    "pg_hba_rejected": "answered: pg_hba.conf refuses this login",
    "ssl_unsupported": "answered: it has no SSL",
    "ssl_required": "answered: only SSL connections",
    "ssl_failed": "reached, but the SSL handshake failed",
    "too_many_clients": "answered: no free connection slots",
    "server_starting": "answered: starting up",
    "server_shutting_down": "answered: shutting down",
}


def server_answered(error: RfsetupError) -> bool:
    """Whether the server was reached and refused (so "unreachable" would be wrong)."""
    return error.kind in SERVER_ANSWERED


def verdict(error: RfsetupError) -> str:
    """What happened to the connection attempt, in a few words that follow "server "."""
    if error.exit_code == ExitCode.USAGE:
        return "not contacted (fix the URL first)"
    return _VERDICTS.get(error.kind, "not reached")


def server_words(cause: str | None) -> str | None:
    """The server's (or libpq's) own words in a cause, without libpq's "connection to server
    at …, port … failed:" preamble, which the target already says."""
    if not cause:
        return None
    text = re.sub(r'^connection to server (at "[^"]*"(?: \([^)]*\))?, port \d+|on socket '
                  r'"[^"]*") failed:\s*', "", cause.strip())
    return re.sub(r"\s+", " ", text).strip() or None


def as_admin_error(exc: RfsetupError, admin: URL, *, form: bool = False) -> RfsetupError:
    """A failed *admin* connection (``db create``, the Database step) in its own words.

    The diagnosis speaks of DATABASE_URL; here the admin URL failed, whose password comes from
    ``--admin-url`` or the step's password field, PGPASSWORD, ~/.pgpass or the prompt, and whose
    role is the admin's, never one to create with ``db create``. ``form``: the TUI's Database
    step, whose fields are named instead of the CLI's flags.
    """
    user = admin.username or "postgres"
    host, port = _host_port(admin)
    where = f"{host or 'localhost'}:{port or 5432}"
    field = "the admin password field" if form else "--admin-url (URL-escaped)"
    other = ("type another admin in the admin connection field (postgresql://ADMIN@HOST:PORT)"
             if form else "or name another admin: --admin-url postgresql://ADMIN@HOST:PORT")
    hints = {
        "password_rejected": f"check {user}'s password: {field}, else PGPASSWORD or ~/.pgpass "
                             f"({where}:*:{user}:PASSWORD); {other}",
        "password_missing": f"give {user}'s password: {field}, PGPASSWORD in the environment or "
                            f"~/.pgpass ({where}:*:{user}:PASSWORD)"
                            + ("" if form else ", or run at a terminal to be asked"),
        "role_missing": f"{user} is not a role there: name an existing superuser (or a role with "
                        f"CREATEROLE and CREATEDB): {other.removeprefix('or ')}",
        "database_missing": f"the admin URL's database {admin.database} does not exist there: "
                            "name one that does (postgres, usually) at its end",
    }
    hint = hints.get(exc.kind) or (exc.hint or "").replace("DATABASE_URL", "the admin URL")
    message = exc.message.replace("DATABASE_URL", "the admin URL")
    return RfsetupError(f"admin connection: {message}", hint=hint, cause=exc.cause,
                        exit_code=exc.exit_code, kind=exc.kind)


def _scrub(text: str, url: URL) -> str:
    """``text`` without the URL's secrets (its password, from the userinfo or the query)."""
    return redact.scrub(text, url)


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " ".join(lines[:2]) if lines else text


def connect(
    url: URL,
    *,
    timeout: int = DEFAULT_CONNECT_TIMEOUT,
    autocommit: bool = False,
    **extra: Any,
) -> PgConnection:
    """Open a psycopg2 connection to a normalised URL, or raise a diagnosed ``RfsetupError``."""
    import psycopg2

    params: dict[str, Any] = libpq_params(url)
    params.setdefault("connect_timeout", timeout)
    params.setdefault("application_name", APPLICATION_NAME)
    params.update(extra)
    try:
        conn = psycopg2.connect(**params)
    except psycopg2.Error as exc:
        error = diagnose(exc, url)
        if error.kind == "pg_hba_rejected" and "sslmode" not in params and _ssl_would_pass(params):
            error = _ssl_required(url, error)
        raise error from None
    conn.autocommit = autocommit
    return conn


def _ssl_would_pass(params: dict[str, Any]) -> bool:
    """A plain pg_hba rejection and a hostssl-only server read the same ("no encryption"):
    one retry with SSL tells them apart."""
    import psycopg2

    try:
        psycopg2.connect(**{**params, "sslmode": "require"}).close()
    except psycopg2.Error as exc:
        return "no pg_hba.conf entry" not in str(exc) and "does not support SSL" not in str(exc)
    return True


def _ssl_required(url: URL, plain: RfsetupError) -> RfsetupError:
    # not a text rule: the server's words are those of a plain pg_hba rejection
    return RfsetupError(f"the server accepts only SSL connections from {_target(url)[1]}",
                        hint="add ?sslmode=require to DATABASE_URL", cause=plain.cause,
                        exit_code=ExitCode.CONNECT, kind="ssl_required")


def _host_port(url: URL) -> tuple[str | None, int | None]:
    """The host and port libpq will use: the URL's, else its ``?host=``/``?port=`` (a socket
    directory is given that way)."""
    host: str | None = url.host
    port: int | None = url.port
    if host is None and "host" in url.query:
        value = url.query["host"]
        host = value if isinstance(value, str) else value[-1]
    if port is None and "port" in url.query:
        value = url.query["port"]
        text = value if isinstance(value, str) else value[-1]
        port = int(text) if text.isdigit() else None
    return host, port


def _target(url: URL) -> tuple[str, str]:
    """The host as shown to the user, and host:port."""
    host, port = _host_port(url)
    shown = host or "localhost (socket)"
    return shown, f"{shown}:{port or 5432}"


def make_engine(url: URL, *, timeout: int = DEFAULT_CONNECT_TIMEOUT) -> Engine:
    """A SQLAlchemy engine whose every connection is opened (and diagnosed) by ``connect``."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    return create_engine(url, poolclass=NullPool, creator=lambda: connect(url, timeout=timeout))


@contextmanager
def connection(url: URL, *, timeout: int = DEFAULT_CONNECT_TIMEOUT,
               autocommit: bool = False) -> Iterator[PgConnection]:
    """``connect`` as a context manager that always closes."""
    conn = connect(url, timeout=timeout, autocommit=autocommit)
    try:
        yield conn
    finally:
        conn.close()
