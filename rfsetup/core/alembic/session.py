"""The session a migration runs in: rfsetup's locked connection, and the settings every
connection of the run gets, whoever opens it.

rfsetup's own connection is opened by ``connect`` (diagnosed failures), named in
pg_stat_activity (``application_name``), given the session settings with ``SET`` (so a
``?options=`` in the URL cannot override them), and takes the migration lock. An env.py that
opens its own engine gets the same settings through a SQLAlchemy pool ``connect`` listener,
active only on the running thread and only while the run lasts.

The settings: ``lock_timeout`` and ``statement_timeout`` (RFSETUP_LOCK_TIMEOUT,
RFSETUP_STATEMENT_TIMEOUT); server-side TCP keepalives and, on PostgreSQL 14+,
``client_connection_check_interval``, so that a backend whose rfsetup was killed stops within
seconds instead of running on (holding the lock and its table locks) for up to the statement
timeout.

Before any of that, the path to the server is probed (``rfsetup.core.pooler``): through a
connection pooler in transaction mode the session lock and the SETs would stay behind on a
pooled server session, so the run is refused (exit 2) before anything is locked or set.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import msgspec

from rfsetup.core import locking, pooler
from rfsetup.core.alembic.observe import Target, identify
from rfsetup.core.settings import Settings

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection
    from sqlalchemy.engine import URL

#: libpq's client-side keepalives: rfsetup notices a dead server or network within ~25 s
CLIENT_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
                     "keepalives_count": 3}
#: the server's: it notices a vanished client host within ~25 s
SERVER_KEEPALIVES = {"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5",
                     "tcp_keepalives_count": "3"}
CHECK_INTERVAL = "2s"


def session_settings(settings: Settings, server_version_num: int,
                     application_name: str) -> dict[str, str]:
    """The GUCs every connection of a migration run gets (timeouts from ``settings``)."""
    values = dict(locking.session_timeouts(settings))
    values.update(SERVER_KEEPALIVES)
    if server_version_num >= 140000:
        values["client_connection_check_interval"] = CHECK_INTERVAL
    values["application_name"] = application_name
    return values


def set_statements(values: dict[str, str]) -> list[str]:
    """``SET name = 'value'`` statements (names are rfsetup's own, values quoted)."""
    return [f"SET {name} = '{value.replace(chr(39), chr(39) * 2)}'"
            for name, value in values.items()]


class Session(msgspec.Struct):
    """rfsetup's connection for one run, with the lock (when asked) and the target's identity."""

    url: URL
    conn: PgConnection
    target: Target
    settings: dict[str, str]

    @property
    def server_version_num(self) -> int:
        return int(self.conn.server_version)


@contextlib.contextmanager
def open_session(settings: Settings, action: str, *, lock: bool,
                 on_progress: Callable[[str], None] | None = None,
                 purpose: str | None = None,
                 cancel: threading.Event | None = None) -> Iterator[Session]:
    """Connect, refuse a transaction-mode pooler (exit 2), set the session settings, take the
    migration lock when ``lock``; always close (which releases the lock, as the server does if
    this process dies). ``purpose`` names the command in a refusal (``rfsetup migrate up``);
    ``cancel`` stops a wait for the lock."""
    from rfsetup.core.connect import connect

    url = settings.url()
    name = locking.application_name(action)
    conn = connect(url, autocommit=True, application_name=name, **CLIENT_KEEPALIVES)
    try:
        what = purpose or f"rfsetup {action}"
        facts = pooler.refuse_transaction_pooler(conn, url, what)
        values = session_settings(settings, int(conn.server_version), name)
        with conn.cursor() as cur:
            for statement in set_statements(values):
                cur.execute(statement)
        facts = pooler.check_settings_kept(conn, url, facts)
        if facts.transaction_mode:
            raise pooler.refusal(facts, url, what)
        if lock:
            locking.acquire(conn, wait=settings.lock_wait, on_progress=on_progress,
                            cancel=cancel)
        yield Session(url, conn, identify(conn), values)
    finally:
        conn.close()


@contextlib.contextmanager
def on_every_connection(values: dict[str, str]) -> Iterator[None]:
    """Apply ``values`` to every DBAPI connection SQLAlchemy opens on this thread meanwhile.

    This is how the session settings reach an engine env.py builds itself. Autocommit for the
    SETs, as SQLAlchemy's documentation does it, so they are not undone by a rollback.
    """
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    thread = threading.get_ident()
    statements = set_statements(values)

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        if threading.get_ident() != thread:
            return
        previous = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        cursor = dbapi_connection.cursor()
        try:
            for statement in statements:
                cursor.execute(statement)
        finally:
            cursor.close()
            dbapi_connection.autocommit = previous

    event.listen(Pool, "connect", on_connect)
    try:
        yield
    finally:
        event.remove(Pool, "connect", on_connect)
