"""``db create``'s choices around provisioning, shared by the CLI and the TUI's Database step.

``rfsetup.core.provision`` runs the SQL on a server it is handed; this module decides which
server and admin that is (``--admin-url``, the sandbox's superuser, DATABASE_URL's server as
``postgres``, localhost), which password DATABASE_URL will hold for the role, and writes
DATABASE_URL into the .env in the form the app reads. It sits above both ``provision`` and
``sandbox`` (which provisions its own role through ``provision``), so the imports run one way.

``create_database`` is the one ``db create`` sequence (admin checked, the role's password for
DATABASE_URL found before anything changes, provision, the .env pointed at the role) that the
CLI, the TUI's Database step and ``rfsetup setup`` all call; they differ only in how they ask
for a missing password and how they word an admin failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rfsetup.core import sandbox
from rfsetup.core.errors import ExitCode, RfsetupError, bad_input
from rfsetup.core.provision import (
    ProvisionResult,
    ServerState,
    check_identifier,
    inspect_server,
    provision,
    role_url,
)
from rfsetup.core.settings import Settings, mask_url, normalize_database_url

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

#: the kinds of connection failure after which asking for the admin's password can help
_ASKABLE = ("password_missing", "password_rejected")
#: the guide's minimum server version (db create says so for an older one)
_GUIDE_MIN_VERSION = 150000

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


def env_form(settings: Settings, role: str | URL) -> str:
    """DATABASE_URL for ``role`` exactly as :func:`point_env_at` writes it (password
    included: mask it before showing it)."""
    text = role if isinstance(role, str) else role.render_as_string(hide_password=False)
    current = settings.database_url if settings.sources.get("DATABASE_URL") != "sandbox" \
        else None
    return url_for_env(text, current)


def sandbox_redis_url(settings: Settings) -> str | None:
    """The sandbox's Redis when the settings point at the sandbox (what the guided sandbox
    path writes as REDIS_URL, so that a plain ``rfsetup doctor`` finds it afterwards)."""
    return settings.redis_url if settings.sources.get("REDIS_URL") == "sandbox" else None


def point_env_at(settings: Settings, role: str | URL, *, redis_url: str | None = None
                 ) -> list[tuple[str, str | None, str | None]]:
    """Set DATABASE_URL in ``settings.env_file`` to ``role`` (the role's URL with its password),
    in the form the app reads: :func:`url_for_env` keeps the current DATABASE_URL's driver and
    query (e.g. the guide's ``postgresql+asyncpg``), except the sandbox's, which is rfsetup's.
    ``redis_url`` is written as REDIS_URL too when the file sets none (never replacing one).

    Locked, atomic save (owner and mode kept, the previous file kept as .env.bak). Returns the
    changes, masked (``envfile.changes``); empty when DATABASE_URL already pointed there
    (nothing written).
    """
    from rfsetup.core.envfile import EnvFile, changes, update

    value = env_form(settings, role)

    def edit(doc: EnvFile) -> EnvFile:
        doc = doc.set("DATABASE_URL", value)
        if redis_url and not doc.get("REDIS_URL"):
            doc = doc.set("REDIS_URL", redis_url)
        return doc

    # under the writer lock, on the file as it is then: a concurrent edit of another key stays
    done = update(settings.env_file, edit)
    return changes(done.before, done.after) if done.written else []


# -- the one db create sequence ----------------------------------------------------------------

#: asks for the admin's password after ``error`` (None: give up with that error)
AskAdmin = Callable[["URL", RfsetupError], "str | None"]


@dataclass
class CreateOutcome:
    """What :func:`create_database` did."""

    #: the server as the admin found it, before anything was changed
    state: ServerState
    result: ProvisionResult
    #: DATABASE_URL for the role in the app's form, password masked: the string the .env
    #: holds after ``write_env`` (the same for the CLI, the TUI and ``rfsetup setup``)
    database_url: str
    #: the .env's changes, masked; None when the .env was not to be written, [] when it
    #: already pointed there
    env_changes: list[tuple[str, str | None, str | None]] | None = None
    env_file: Path | None = None
    #: an existing role whose password was left as it was
    keeps_password: bool = False
    #: things worth saying that stop nothing (an old server version)
    notes: list[str] = field(default_factory=list)

    @property
    def env_written(self) -> bool:
        return bool(self.env_changes)

    @property
    def changed(self) -> bool:
        """Whether anything was created, changed or written."""
        return bool(self.result.created or self.result.changed or self.env_changes)


def create_database(settings: Settings, admin: URL, name: str, owner: str,
                    password: str | None = None, *, write_env: bool = False,
                    password_hint: str = "give the role a password",
                    ask_admin_password: AskAdmin | None = None,
                    ask_role_password: Callable[[str], str] | None = None,
                    admin_error: Callable[[RfsetupError, URL], RfsetupError] | None = None,
                    on_progress: Callable[[str], None] | None = None) -> CreateOutcome:
    """``db create [--write-env]``: the role and database ``name`` owned by ``owner`` on the
    admin's server, and (``write_env``) DATABASE_URL in the .env pointed at them.

    Everything that can refuse is decided before anything changes: the names, the admin
    connection (``ask_admin_password`` is asked once when the server wants a password it
    lacks; a failure goes through ``admin_error``, which words it for the caller), a new
    role's password (``ask_role_password``, else bad input with ``password_hint``) and the
    password DATABASE_URL will hold. Idempotent: a second run creates nothing and writes
    nothing. Under the sandbox, REDIS_URL is written too when the .env has none.
    """
    check_identifier(name, "database")
    check_identifier(owner, "role")
    state, admin = inspect_as_admin(admin, name, owner, ask_admin_password, admin_error)
    notes = []
    if state.server_version < _GUIDE_MIN_VERSION:
        notes.append(f"PostgreSQL {state.server_version // 10000} is older than the guide's "
                     f"{_GUIDE_MIN_VERSION // 10000}")
    keeps_password = state.role_exists and password is None
    if password is None and not state.role_exists:
        if ask_role_password is None:
            raise bad_input(f"role {owner!r} does not exist and needs a password",
                            hint=password_hint)
        password = ask_role_password(owner)
    # before anything is changed: pointing DATABASE_URL at the role needs its password
    env_password = password_for_env(settings, owner, password, hint=password_hint) \
        if write_env else None
    try:
        result = provision(admin, name, owner, password, on_progress=on_progress)
    except RfsetupError as exc:
        # provision connects as the admin too: a connection failure there is the admin's
        if admin_error is None or exc.exit_code != ExitCode.CONNECT:
            raise
        raise admin_error(exc, admin) from None
    role = role_url(admin, owner, env_password or password, name)
    outcome = CreateOutcome(state, result, mask_url(env_form(settings, role)),
                            keeps_password=keeps_password, notes=notes)
    if write_env:
        sandbox_redis = sandbox_redis_url(settings)
        outcome.env_changes = point_env_at(settings, role, redis_url=sandbox_redis)
        outcome.env_file = settings.env_file
        if sandbox_redis:
            note = _redis_kept_note(settings, sandbox_redis, outcome.env_changes)
            if note:
                notes.append(note)
    return outcome


def _redis_kept_note(settings: Settings, sandbox_redis: str,
                     env_changes: list[tuple[str, str | None, str | None]]) -> str | None:
    """Said when the .env keeps a REDIS_URL of its own (never replaced) other than the
    sandbox's: without --sandbox, the app and ``rfsetup doctor`` use that one."""
    from rfsetup.core.envfile import EnvFile

    if any(key == "REDIS_URL" for key, _, _ in env_changes):
        return None
    try:
        kept = EnvFile.load(settings.env_file).get("REDIS_URL")
    except (OSError, RfsetupError):
        return None
    if not kept or kept == sandbox_redis:
        return None
    theirs = mask_url(sandbox_redis)
    return (f"REDIS_URL kept as the .env has it ({mask_url(kept)}), not the sandbox's "
            f"({theirs}): without --sandbox the app and rfsetup doctor use the .env's; to "
            f"use the sandbox's: rfsetup env set REDIS_URL {theirs}")


def inspect_as_admin(admin: URL, name: str, owner: str, ask: AskAdmin | None,
                      admin_error: Callable[[RfsetupError, URL], RfsetupError] | None
                      ) -> tuple[ServerState, URL]:
    """The server as the admin sees it (read-only); asked once for a password the server
    wants, a failure worded by ``admin_error``."""
    try:
        try:
            return inspect_server(admin, name, owner), admin
        except RfsetupError as exc:
            # a rejected password that was given is not asked again: it was the answer
            if ask is None or exc.kind not in _ASKABLE or (
                    exc.kind == "password_rejected" and admin.password is not None):
                raise
            password = ask(admin, exc)
            if password is None:
                raise
            admin = admin.set(password=password)
            return inspect_server(admin, name, owner), admin
    except RfsetupError as exc:
        raise (admin_error(exc, admin) if admin_error is not None else exc) from None
