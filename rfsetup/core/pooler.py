"""Connection poolers between rfsetup and the server, observed rather than guessed from a port.

A pooler in transaction mode (PgBouncer ``pool_mode = transaction``, Supabase's Supavisor on
port 6543, pgcat; RDS Proxy when it does not pin) hands each transaction of a client to
whichever server session is free. rfsetup's migration lock is a *session* advisory lock and its
lock_timeout / statement_timeout are *session* settings: through such a pooler the lock stays
behind on a pooled server session (every later run then fails "another migration is running",
naming a process that is long gone) and the timeouts land on some other client's session.

How it is told, cheaply and by observation (``probe``):

1. The protocol's backend key (``conn.info.backend_pid``, sent by whoever answered the
   connection) against ``pg_backend_pid()`` (the server process that ran the query). They are
   equal on a direct connection, and then nothing more is asked: one round trip. Every pooler
   sends a key of its own (it must: a cancel request has to reach the pooler, which forwards
   it to whichever server session the client has at that moment), so a mismatch means a proxy.
2. Only then: does the pooler share server sessions between clients? On one connection alone
   this cannot be seen on an idle pool: PgBouncer reuses the most recently freed server
   session (LIFO), so the pid never changes between transactions and even a SET seems to stay
   (it stays on that server session, for the next client to inherit). So a second client opens
   a transaction: when it is handed the server session the first client just used, or the
   first client's next transaction runs on another one, sessions are shared: transaction mode.
   In session mode neither can happen.
3. After rfsetup's SETs, on a proxied connection that looked session-like: a SET made in one
   transaction must still be there in the next (``check_settings_kept``). This catches poolers
   that reset a server session between transactions (pgcat's cleanup, ``DISCARD ALL``) where
   the pid check saw the same session.

The URL's host and port (6543, ``*.pooler.supabase.com``, an RDS ``.proxy-`` endpoint, 6432)
never decide anything; they only name the pooler and sharpen the fix.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

import msgspec

from rfsetup.core.errors import RfsetupError, bad_input
from rfsetup.core.redact import mask_url

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection
    from sqlalchemy.engine import URL

PROBE_APPLICATION_NAME = "rfsetup pooler probe"
#: a custom setting (any role may SET one) used only to see whether SETs survive a transaction
_MARKER = "rfsetup.session_check"


class PoolerFacts(msgspec.Struct, frozen=True):
    """What was observed about the path from this client to the server."""

    #: something other than the server answered the connection (its backend key is not the
    #: server process's pid)
    proxied: bool
    #: server sessions are shared between clients between transactions (transaction or
    #: statement pooling): session locks and SETs do not stay with rfsetup's connection
    transaction_mode: bool
    #: what was seen, in words
    evidence: str
    #: what the URL's host and port suggest (e.g. "Supabase's pooler"), or None
    known: str | None = None
    #: the fix, for a transaction-mode pooler (None otherwise)
    hint: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``pooler`` key of ``status --json``."""
        return {"proxied": self.proxied, "transaction_mode": self.transaction_mode,
                "evidence": self.evidence, "known": self.known, "hint": self.hint}

    def warning(self) -> str:
        """One line for status and doctor: what it is and what rfsetup will refuse."""
        what = f" ({self.known})" if self.known else ""
        return (f"a connection pooler in transaction mode{what}: {self.evidence}; migrate "
                "up/down/stamp and backup restore refuse it")


def _backend_pid(conn: PgConnection) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        row = cur.fetchone()
    return int(row[0]) if row else -1


def probe(conn: PgConnection, url: URL, *, last_pid: int | None = None) -> PoolerFacts:
    """Whether ``conn`` (autocommit, opened on ``url``) goes through a pooler, and in which
    mode (see the module docstring). ``last_pid``: ``pg_backend_pid()`` as the connection's
    latest query already returned it (saves the one round trip a direct connection costs).

    Raises the diagnosed connection error when the second client cannot connect.
    """
    from rfsetup.core.connect import connect

    pid = _backend_pid(conn) if last_pid is None else last_pid
    known = known_pooler(url)
    if conn.info.backend_pid == pid:
        return PoolerFacts(False, False, "direct: the server process that runs the queries "
                                         "answered the connection itself", known)
    other = connect(url, autocommit=False, application_name=PROBE_APPLICATION_NAME)
    try:
        theirs = _backend_pid(other)  # in a transaction: it keeps its server session meanwhile
        again = _backend_pid(conn)
    finally:
        other.close()
    if theirs == pid:
        evidence = (f"another client was handed server session {pid}, which this connection "
                    "had just used")
    elif again != pid:
        evidence = (f"this connection's transactions ran on server sessions {pid} and then "
                    f"{again}")
    else:
        return PoolerFacts(True, False, "a pooler in session mode: this connection kept its "
                                        "server session while another client used another",
                           known)
    return PoolerFacts(True, True, evidence, known, fix_hint(url))


def check_settings_kept(conn: PgConnection, url: URL, facts: PoolerFacts) -> PoolerFacts:
    """On a proxied connection that looked session-like: SET a marker in one transaction and
    read it in the next. Gone means the pooler resets (or swaps) server sessions between
    transactions: returned as transaction mode. Two round trips; nothing on a direct
    connection."""
    if not facts.proxied or facts.transaction_mode:
        return facts
    token = secrets.token_hex(8)
    with conn.cursor() as cur:
        cur.execute(f"SET {_MARKER} = '{token}'")  # a hex token: nothing to quote
        cur.execute(f"SELECT current_setting('{_MARKER}', true)")
        row = cur.fetchone()
    if row and row[0] == token:
        return facts
    return PoolerFacts(True, True, "a SET made in one transaction was gone in the next",
                       facts.known, fix_hint(url))


def refusal(facts: PoolerFacts, url: URL, action: str) -> RfsetupError:
    """The error for ``action`` through a transaction-mode pooler: exit 2, nothing done."""
    what = f" ({facts.known})" if facts.known else ""
    return bad_input(
        f"{mask_url(url)} goes through a connection pooler in transaction mode{what}; "
        f"{action} needs one server session for its migration lock and its lock and "
        "statement timeouts; nothing was done",
        cause=facts.evidence, hint=facts.hint or fix_hint(url), kind="transaction_pooler")


def refuse_transaction_pooler(conn: PgConnection, url: URL, action: str) -> PoolerFacts:
    """``probe``, raising ``refusal`` for a transaction-mode pooler (before any lock or SET,
    so nothing is left on a pooled server session)."""
    facts = probe(conn, url)
    if facts.transaction_mode:
        raise refusal(facts, url, action)
    return facts


def _supabase_ref(url: URL) -> str | None:
    """The project ref of a Supabase pooler URL: its user is ``postgres.<ref>``."""
    user = url.username or ""
    head, _, ref = user.partition(".")
    return ref if head and ref else None


def known_pooler(url: URL) -> str | None:
    """What the host and port suggest, or None. Never used to decide, only to name it."""
    host = (url.host or "").lower()
    port = url.port or 5432
    if host.endswith(".pooler.supabase.com"):
        mode = " in transaction mode" if port == 6543 else ""
        return f"Supabase's pooler, Supavisor{mode}, at {host}:{port}"
    if port == 6543:
        return "port 6543, where Supabase's transaction pooler listens"
    if ".proxy-" in host and host.endswith(".rds.amazonaws.com"):
        return f"the RDS Proxy endpoint {host}"
    if port == 6432:
        return "port 6432, PgBouncer's usual port"
    return None


def fix_hint(url: URL) -> str:
    """The fix: the server's own address, or a pooler in session mode."""
    host = (url.host or "").lower()
    port = url.port or 5432
    if host.endswith(".pooler.supabase.com") or port == 6543:
        ref = _supabase_ref(url)
        direct = f"db.{ref}.supabase.co" if ref else "db.<project-ref>.supabase.co"
        session = f" or Supavisor's session mode: port 5432 on {host}" \
            if host.endswith(".pooler.supabase.com") else ""
        return (f"point DATABASE_URL for rfsetup at Supabase's direct connection: port 5432 on "
                f"{direct} (user postgres){session}; the application can keep the pooler")
    if ".proxy-" in host and host.endswith(".rds.amazonaws.com"):
        return ("point DATABASE_URL for rfsetup at the database's own endpoint (the instance or "
                "cluster endpoint, not the proxy's); the application can keep the proxy")
    return ("point DATABASE_URL for rfsetup at the server itself (its own host and port, "
            "usually 5432), or at a pooler in session mode (PgBouncer: pool_mode = session "
            "for this database); the application can keep the transaction pooler")
