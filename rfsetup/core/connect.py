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
    pattern: re.Pattern[str]
    message: str
    hint: str
    exit_code: ExitCode = ExitCode.CONNECT


def _rule(kind: str, pattern: str, message: str, hint: str,
          exit_code: ExitCode = ExitCode.CONNECT) -> _Rule:
    return _Rule(kind, re.compile(pattern, re.IGNORECASE | re.DOTALL), message, hint, exit_code)


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
        "password rejected for {user} at {target}",
        "check the password in DATABASE_URL (URL-escape @ : / % as %40 %3A %2F %25); "
        "if the role may not exist (the server says the same then), create it: "
        "rfsetup db create --owner {user} --name {db}",
    ),
    _rule(
        "password_missing",
        r"no password supplied|fe_sendauth",
        "the server asks for a password but DATABASE_URL has none",
        "put the password in DATABASE_URL: postgresql://{user}:PASSWORD@…",
    ),
    _rule(
        "role_missing",
        r'role ".*" does not exist',
        "role {user} does not exist on {target}",
        "create it: rfsetup db create --owner {user}",
    ),
    _rule(
        "database_missing",
        r'database ".*" does not exist',
        "database {db} does not exist on {target}",
        "create it: rfsetup db create --name {db}",
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
        "start it again (brew services start postgresql@15 / sudo systemctl start postgresql)",
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
        "check that the host and port are right and that no firewall drops the traffic",
    ),
    _rule(
        "server_down",
        r"Connection refused|No such file or directory|could not connect to server|"
        r"Is the server running",
        "no PostgreSQL server is accepting connections at {target}",
        "start PostgreSQL (Linux: sudo systemctl start postgresql; macOS: brew services start "
        "postgresql@15; Windows: net start postgresql-x64-15), check the port, or use --sandbox",
    ),
)


def diagnose(exc: BaseException, url: URL) -> RfsetupError:
    """Turn a failed connection attempt into a classified, password-free error (exit 3)."""
    raw = _scrub(str(getattr(exc, "orig", None) or exc), url)
    host, target = _target(url)
    sslmode = url.query.get("sslmode", "require")
    fmt = {"target": target, "host": host, "user": url.username or "(default)",
           "db": url.database or "(default)",
           "sslmode": sslmode if isinstance(sslmode, str) else sslmode[-1]}
    for rule in _RULES:
        if rule.pattern.search(raw):
            return RfsetupError(
                rule.message.format(**fmt),
                hint=rule.hint.format(**fmt),
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


def _target(url: URL) -> tuple[str, str]:
    """The host as shown to the user, and host:port."""
    host = url.host or "localhost (socket)"
    return host, f"{host}:{url.port or 5432}"


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
