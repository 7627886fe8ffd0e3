"""``db create``'s choices around provisioning, shared by the CLI and the TUI's Database step.

``rfsetup.core.provision`` runs the SQL on a server it is handed; this module decides which
server and admin that is (``--admin-url``, the sandbox's superuser, DATABASE_URL's server as
``postgres``, localhost), which password DATABASE_URL will hold for the role, and writes
DATABASE_URL into the .env in the form the app reads. It sits above both ``provision`` and
``sandbox`` (which provisions its own role through ``provision``), so the imports run one way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rfsetup.core import sandbox
from rfsetup.core.errors import bad_input
from rfsetup.core.settings import Settings, normalize_database_url

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

#: the driver RaptorFlow's backend uses (the guide's DATABASE_URL), for a .env written afresh
APP_DRIVER = "postgresql+asyncpg"


def url_for_env(database_url: str, current: str | None = None) -> str:
    """The role's URL as the app's .env should hold it (password included: for the file only).

    The current DATABASE_URL's scheme and query are kept (the app may use asyncpg and
    ``?ssl=require``); without one, the guide's ``postgresql+asyncpg`` is used, with libpq's
    ``sslmode`` carried over as asyncpg's ``ssl``. A socket-only host becomes ``localhost``.
    """
    from sqlalchemy.engine import URL, make_url

    role = make_url(database_url)
    base: URL | None = None
    if current:
        try:
            base = make_url(current)
        except Exception:  # an unparsable old value is simply replaced
            base = None
    if base is not None and base.drivername.startswith("postgres"):
        driver, query = base.drivername, dict(base.query)
    else:
        driver = APP_DRIVER
        query = {"ssl": role.query["sslmode"]} if "sslmode" in role.query else {}
    return URL.create(driver, username=role.username, password=role.password,
                      host=role.host or "localhost", port=role.port or 5432,
                      database=role.database, query=query).render_as_string(hide_password=False)


def local_admin_url() -> URL:
    """``postgres`` on localhost:5432, database ``postgres``, no password: the last default."""
    from sqlalchemy.engine import URL

    return URL.create("postgresql+psycopg2", username="postgres", host="localhost", port=5432,
                      database="postgres")


def parse_admin_url(raw: str, *, name: str = "--admin-url") -> URL:
    """An admin URL as typed (any PostgreSQL scheme), normalised to psycopg2; it may omit the
    database (``postgres`` is used). ``name`` is what error messages call it."""
    from sqlalchemy.engine import make_url

    text = raw.strip()
    try:
        url = make_url(text)
    except Exception:  # normalize_database_url reports it, masked
        return normalize_database_url(raw, name=name)
    if not url.database:
        text = url.set(database="postgres").render_as_string(hide_password=False)
    return normalize_database_url(text, name=name)


def default_admin_url(settings: Settings) -> URL:
    """Where ``db create`` (and the TUI's Database step) connects as admin unless told otherwise.

    The sandbox's superuser (password included) under ``--sandbox``; else DATABASE_URL's server
    (and query, e.g. sslmode) as ``postgres`` on database ``postgres`` with no password: the app's
    password is not the admin's, so libpq falls back to PGPASSWORD or ~/.pgpass; without a
    DATABASE_URL, :func:`local_admin_url`. A malformed DATABASE_URL is bad input.
    """
    from sqlalchemy.engine import URL

    if settings.sandbox:
        return normalize_database_url(sandbox.admin_url(settings))
    if not settings.database_url:
        return local_admin_url()
    base = settings.url()
    # built afresh: URL.set(password=None) would keep the app's password
    return URL.create(base.drivername, username="postgres", host=base.host, port=base.port,
                      database="postgres", query=base.query)


def reusable_password(settings: Settings, owner: str) -> str | None:
    """The role's password from the current DATABASE_URL, when that URL is ``owner``'s.

    What lets DATABASE_URL be pointed at an existing role without asking for its password again
    (and without resetting it).
    """
    from sqlalchemy.engine import make_url

    if not settings.database_url:
        return None
    try:
        url = make_url(settings.database_url)
    except Exception:  # a malformed value holds no usable password
        return None
    return str(url.password) if url.username == owner and url.password else None


def password_for_env(settings: Settings, owner: str, password: str | None, *,
                     hint: str) -> str:
    """The role's password DATABASE_URL will hold: ``password`` when given, else the one the
    current DATABASE_URL holds for ``owner``; bad input (``hint`` says how to give it, in the
    caller's terms) otherwise. Called before anything is changed."""
    found = password or reusable_password(settings, owner)
    if found is None:
        raise bad_input(f"pointing DATABASE_URL at role {owner!r} needs its password", hint=hint)
    return found


def point_env_at(settings: Settings, role: str | URL
                 ) -> list[tuple[str, str | None, str | None]]:
    """Set DATABASE_URL in ``settings.env_file`` to ``role`` (the role's URL with its password),
    in the form the app reads: :func:`url_for_env` keeps the current DATABASE_URL's driver and
    query (e.g. the guide's ``postgresql+asyncpg``), except the sandbox's, which is rfsetup's.

    Locked, atomic save (owner and mode kept, the previous file kept as .env.bak). Returns the
    changes, masked (``envfile.changes``); empty when DATABASE_URL already pointed there
    (nothing written).
    """
    from rfsetup.core.envfile import changes, update

    text = role if isinstance(role, str) else role.render_as_string(hide_password=False)
    current = settings.database_url if settings.sources.get("DATABASE_URL") != "sandbox" \
        else None
    value = url_for_env(text, current)
    # under the writer lock, on the file as it is then: a concurrent edit of another key stays
    done = update(settings.env_file, lambda doc: doc.set("DATABASE_URL", value))
    return changes(done.before, done.after) if done.written else []
