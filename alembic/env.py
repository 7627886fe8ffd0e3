"""Alembic environment for RaptorFlow.

DATABASE_URL comes from the process environment first, then the .env file (./.env, else
./backend/.env); every form people write (postgresql://, postgres://, postgresql+asyncpg://,
postgresql+psycopg2://, %-escaped passwords) is normalised to psycopg2. The URL is never put
through configparser, whose interpolation would choke on a '%40' in a password.

When rfsetup runs Alembic in-process it hands over its own connection (with the advisory lock
and timeouts already set) in ``config.attributes["connection"]`` and sets
``config.attributes["rfsetup"]`` so logging is left alone (stderr would corrupt the TUI).
Other tools hand over an Engine there (pytest-alembic), which is used as well.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from alembic.util import CommandError

from rfsetup.core.errors import RfsetupError
from rfsetup.core.settings import find_env_file, normalize_database_url, read_env_values
from rfsetup.schema import metadata as target_metadata

config = context.config

if config.config_file_name is not None and not config.attributes.get("rfsetup"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

COMMON_OPTIONS = {
    "target_metadata": target_metadata,
    "compare_type": True,
    "compare_server_default": True,
    # one transaction per revision: a failure leaves the database at the last good revision
    "transaction_per_migration": True,
}


def _command_error(exc: RfsetupError) -> CommandError:
    # the plain alembic CLI prints a CommandError as one "FAILED:" line, with no traceback
    # the cause too: it is what names the wrong value (e.g. 'invalid sslmode value: "bogus"')
    return CommandError(exc.message + (f"\n  cause: {exc.cause}" if exc.cause else "")
                        + (f"\n  hint: {exc.hint}" if exc.hint else ""))


def _raw_url() -> str | None:
    explicit = config.attributes.get("database_url")
    if explicit:
        return str(explicit)
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    from_file = read_env_values(find_env_file()).get("DATABASE_URL")
    if from_file:
        return from_file
    # an URL set in alembic.ini by hand is honoured too (read raw: no % interpolation)
    return config.get_main_option("sqlalchemy.url") or None


def _url():  # -> sqlalchemy.engine.URL
    raw = _raw_url()
    try:
        return normalize_database_url(raw or "")
    except RfsetupError as exc:
        raise _command_error(exc) from None


def run_migrations_offline() -> None:
    """Emit SQL to the script output (alembic --sql); a URL is optional here."""
    raw = _raw_url()
    url = _url() if raw else "postgresql+psycopg2://"
    context.configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"},
                      **COMMON_OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection) -> None:  # connection: sqlalchemy.engine.Connection
    context.configure(connection=connection, **COMMON_OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against a live database: a connection or engine handed over, or one opened here.

    Tools hand over a Connection (rfsetup, with the lock and timeouts set; a test harness,
    possibly inside its own transaction, which Alembic then leaves to the caller) or an Engine
    (pytest-alembic): both are used as given.
    """
    from sqlalchemy.engine import Connection, Engine

    handed = config.attributes.get("connection")
    if isinstance(handed, Connection):
        _run_on(handed)
        return
    if isinstance(handed, Engine):
        with handed.connect() as conn:
            _run_on(conn)
        return

    from rfsetup.core.connect import make_engine

    url = _url()
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _run_on(conn)
    except RfsetupError as exc:
        raise _command_error(exc) from None
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
