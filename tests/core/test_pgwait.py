"""The wait callback the long commands install: statements run through it, and a
KeyboardInterrupt while one waits on the server cancels that statement there."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import pytest
from sqlalchemy.engine import make_url

from rfsetup.core.pgwait import wait_cancellable
from tests.conftest import PgTestServer


@pytest.fixture
def waiting(pg: PgTestServer, fresh_db: str) -> Iterator[psycopg2.extensions.connection]:
    previous = psycopg2.extensions.get_wait_callback()
    psycopg2.extensions.set_wait_callback(wait_cancellable)
    conn = pg.admin_connect(make_url(fresh_db).database)
    conn.autocommit = False
    try:
        yield conn
    finally:
        conn.close()
        psycopg2.extensions.set_wait_callback(previous)


def test_statements_run_through_it(waiting: psycopg2.extensions.connection) -> None:
    with waiting.cursor() as cur:
        cur.execute("CREATE TABLE t (n int)")
        cur.execute("INSERT INTO t SELECT generate_series(1, 1000)")
        cur.execute("SELECT sum(n) FROM t")
        assert cur.fetchone() == (500500,)
    waiting.commit()


def test_an_interrupt_while_waiting_cancels_the_statement_on_the_server(
        waiting: psycopg2.extensions.connection, pg: PgTestServer) -> None:
    with waiting.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        (pid,) = cur.fetchone()
    waiting.commit()
    main = threading.main_thread().ident
    assert main is not None
    # Python's own SIGINT handler, installed here (the CLI installs its own the same way):
    # what an earlier test or a C library left in place is not assumed
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    sent: list[float] = []

    def interrupt_once_it_waits() -> None:
        # only while the statement runs on the server is the main thread inside the callback
        # (a KeyboardInterrupt anywhere else would stop pytest itself)
        watcher = pg.admin_connect()
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with watcher.cursor() as cur:
                    cur.execute("SELECT state = 'active' AND query LIKE 'SELECT pg_sleep%%' "
                                "FROM pg_stat_activity WHERE pid = %s", (pid,))
                    row = cur.fetchone()
                if row and row[0]:
                    # a SIGINT to the main thread, waiting in select(): a second Ctrl-C
                    signal.pthread_kill(main, signal.SIGINT)
                    sent.append(round(time.monotonic() - started, 3))
                    return
                time.sleep(0.05)
        finally:
            watcher.close()

    thread = threading.Thread(target=interrupt_once_it_waits)
    started = time.monotonic()
    thread.start()
    try:
        with waiting.cursor() as cur:
            cur.execute("SELECT pg_sleep(30)")
    except psycopg2.errors.QueryCanceled:
        pass
    else:  # what happened is said: the SIGINT never sent, or sent and not acted on
        thread.join()
        pytest.fail(f"pg_sleep(30) ran to its end ({time.monotonic() - started:.1f}s); the "
                    f"SIGINT was {f'sent at +{sent[0]}s' if sent else 'never sent'}")
    finally:
        thread.join()
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - started < 10  # cancelled, not slept out
    waiting.rollback()
    with waiting.cursor() as cur:  # the same session goes on: only the statement was stopped
        cur.execute("SELECT pg_backend_pid()")
        assert cur.fetchone() == (pid,)
