"""Where values come from, and what a database URL means.

Precedence: explicit flags > process environment > the .env file > defaults. The .env file is
``--env-file`` when given, else ``./.env``, else ``./backend/.env`` (where the guide keeps it).

Every URL people write for RaptorFlow (``postgresql://``, ``postgres://``, the guide's own
``postgresql+asyncpg://``, ``postgresql+psycopg://``, ``postgresql+psycopg2://``) is normalised to
psycopg2, the one driver this project ships: SQLAlchemy 2.1 maps a bare ``postgresql://`` to
psycopg 3, which is not installed.
"""

from __future__ import annotations

import configparser
import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rfsetup.core import files, guard, redact
from rfsetup.core.errors import RfsetupError, bad_input

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from rfsetup.profiles.base import Profile
    from rfsetup.profiles.envschema import EnvSchema

DEFAULT_ENV_FILES = (Path(".env"), Path("backend/.env"))
DEFAULT_ALEMBIC_INI = Path("alembic.ini")
#: where rfsetup keeps its own state (backups, sandbox data), relative to the working directory
STATE_DIR = Path(".rfsetup")
DEFAULT_REDIS_URL = "redis://localhost:6379/0"
#: how many backups of a database to keep after each new one (0 = all)
ENV_BACKUP_KEEP = "RFSETUP_BACKUP_KEEP"
DEFAULT_BACKUP_KEEP = 20
#: the one directory to take pg_dump, pg_restore and psql from
ENV_PG_BINDIR = "RFSETUP_PG_BINDIR"
#: the terminal app's keys: "binding-id=key,…" (wins over the config file's [keys])
ENV_KEYMAP = "RFSETUP_KEYMAP"
#: unexpected errors re-raised with their traceback
ENV_DEBUG = "RFSETUP_DEBUG"
#: rfsetup's own config file (default: the user's config folder, rfsetup/config.toml)
ENV_CONFIG = "RFSETUP_CONFIG"
_OFF = ("", "0", "false", "no", "off")
#: seconds a second runner waits for the migration lock (0 = try once)
ENV_LOCK_WAIT = "RFSETUP_LOCK_WAIT"
DEFAULT_LOCK_WAIT = 5.0
# A DDL statement queued behind a long query blocks every later query on that table, which is
# how migrations cause outages: give up on a table lock quickly. Statements themselves (a
# backfill) may legitimately run for a while, but not forever.
ENV_LOCK_TIMEOUT = "RFSETUP_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = "10s"
ENV_STATEMENT_TIMEOUT = "RFSETUP_STATEMENT_TIMEOUT"
DEFAULT_STATEMENT_TIMEOUT = "30min"
_DURATION = re.compile(r"^\d+(\.\d+)?(us|ms|s|min|h|d)?$")

_POSTGRES_SCHEMES = {
    "postgresql",
    "postgres",
    "postgresql+asyncpg",
    "postgresql+psycopg",
    "postgresql+psycopg2",
    "postgresql+psycopg2cffi",
    "postgresql+pg8000",
}
# query parameters that belong to asyncpg and that libpq would reject
_ASYNCPG_QUERY_RENAMES = {"ssl": "sslmode", "prepared_statement_cache_size": None}


def find_env_file(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Path:
    """The .env file to read and write: the explicit one, else ./.env, else ./backend/.env.

    When neither default exists the first (./.env) is returned so that writes create it there.
    """
    if explicit is not None:
        return Path(explicit)
    base = cwd or Path.cwd()
    for candidate in DEFAULT_ENV_FILES:
        if (base / candidate).is_file():
            return base / candidate
    return base / DEFAULT_ENV_FILES[0]


def read_env_values(path: Path) -> dict[str, str]:
    """The key/value pairs of a .env file with python-dotenv's semantics ({} when absent).

    Read through ``rfsetup.core.files``: anything but a regular file (a FIFO, a device, a
    directory) or more than 1 MiB is bad input, never read; a byte that is not UTF-8 stays in
    its value (as a ``surrogateescape`` surrogate) and the rest of the file works.
    """
    text = files.read_text(path, what="a .env file")
    if text is None:
        return {}
    import io

    from dotenv import dotenv_values

    # as dotenv reads a file: universal newlines, a leading BOM dropped
    normalized = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    values = dotenv_values(stream=io.StringIO(normalized), interpolate=False)
    return {k: v for k, v in values.items() if v is not None}


def normalize_database_url(raw: str, *, name: str = "DATABASE_URL") -> URL:
    """Parse any PostgreSQL URL form and return it with the psycopg2 driver.

    Raises a bad-input error (exit 2) for an empty, malformed or non-PostgreSQL URL; ``name``
    is what the messages call the URL (e.g. ``--admin-url``).
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    text = (raw or "").strip()
    if not text:
        raise bad_input(
            f"{name} is not set",
            hint="set it in .env (rfsetup env set DATABASE_URL postgresql://user@host:5432/db) "
            "or export it, or use --sandbox" if name == "DATABASE_URL" else None,
        )
    try:
        url = make_url(text)
    except (ArgumentError, ValueError) as exc:
        if _unescaped_at(text):
            raise _unescaped_at_error(name, text) from None
        # SQLAlchemy's own words ("invalid literal for int()…") help nobody; say which part
        bad_port = isinstance(exc, ValueError) and "int()" in str(exc)
        raise bad_input(
            f"{name} {'has an invalid port' if bad_port else 'is not a valid URL'}: "
            f"{mask_url(text)}",
            hint="expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE (PORT a number, "
                 "e.g. 5432; an IPv6 host in brackets: [::1])" if bad_port else
                 "expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE",
        ) from None
    # the database test reads the decoded name, so it also needs two literal @ in the text: a
    # name written %40… is not a password's @ (hypothesis: postgres://:@host:1/%40%2F)
    if (url.host and "@" in url.host) or (url.database and _HOST_IN_DATABASE.search(
            url.database) and text.split("?", 1)[0].count("@") > 1):
        # SQLAlchemy splits user:password@host at the FIRST @, so an unescaped @ in the
        # password pushes the rest of it into the host name (or, with a / in it, into the
        # database), where every message would show it
        raise _unescaped_at_error(name, text)
    if url.drivername not in _POSTGRES_SCHEMES:
        raise bad_input(
            f"{name} is not a PostgreSQL URL (scheme {url.drivername!r})",
            hint="expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE",
        )
    query = dict(url.query)
    if url.drivername == "postgresql+asyncpg":
        for old, new in _ASYNCPG_QUERY_RENAMES.items():
            if old in query:
                value = query.pop(old)
                if new and new not in query:
                    query[new] = _asyncpg_ssl_to_libpq(value)
    try:
        port = url.port
    except ValueError:
        raise bad_input(f"{name} has an invalid port: {mask_url(text)}") from None
    if port is not None and not 0 < port < 65536:
        raise bad_input(f"{name} has an invalid port: {port}")
    if not url.database:
        raise bad_input(
            f"{name} names no database: {mask_url(text)}",
            hint="add the database name at the end, e.g. …:5432/raptorflow",
        )
    return url.set(drivername="postgresql+psycopg2", query=query)


#: "x@127.0.0.1:5432/raptorflow" as a database name: a password's @ and / left unescaped
_HOST_IN_DATABASE = re.compile(r"@[\w.\[\]:-]*(:\d+)?/")


def _unescaped_at(text: str) -> bool:
    """An @ before the one that starts ``host[:port]/``: the password (or the user name) holds
    an unescaped @ (a query's ``options=a@b`` is after the host, so it does not count)."""
    rest = text.split("://", 1)[1] if "://" in text else ""
    hosts = list(_HOST_IN_DATABASE.finditer(rest))
    return bool(hosts) and "@" in rest[:hosts[-1].start()]


def _unescaped_at_error(name: str, text: str) -> RfsetupError:
    return bad_input(
        f"{name}'s password contains an unescaped @: {mask_url(text)}",
        hint="URL-escape it in the password: @ as %40; likewise : / % ? # as %3A %2F %25 %3F "
             "%23",
    )


def _asyncpg_ssl_to_libpq(value: str | tuple[str, ...]) -> str:
    text = value if isinstance(value, str) else value[0]
    return {"true": "require", "false": "disable"}.get(text.lower(), text)


def mask_url(url: str | URL) -> str:
    """The URL with its secrets (the password, in the userinfo or as ``?password=``) replaced
    by ``***``; never raises (``rfsetup.core.redact.mask_url``)."""
    return redact.mask_url(url)


def url_password(url: URL) -> str | None:
    """The password libpq uses for ``url``: a ``?password=`` in the query (libpq reads the
    query after the userinfo, so it wins), else the userinfo's; None when there is none."""
    value = url.query.get("password")
    if value is not None:
        return value if isinstance(value, str) else value[-1]
    return None if url.password is None else str(url.password)


def libpq_params(url: URL) -> dict[str, str | int]:
    """psycopg2.connect keyword arguments for a normalised URL (the password stays out of argv).

    ``password`` is ``url_password(url)``, from the userinfo or ``?password=``: what a pg tool
    needs as PGPASSWORD.
    """
    params: dict[str, str | int] = {}
    if url.host:
        params["host"] = url.host
    if url.port:
        params["port"] = url.port
    if url.username:
        params["user"] = url.username
    if url.database:
        params["dbname"] = url.database
    for key, value in url.query.items():
        params[key] = value if isinstance(value, str) else value[-1]
    password = url_password(url)
    if password is not None:
        params["password"] = password
    return params


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know about where it points. Build with ``load_settings``."""

    env_file: Path
    alembic_ini: Path
    database_url: str | None = None
    redis_url: str | None = None
    sandbox: bool = False
    #: where the values came from, for display: e.g. {"DATABASE_URL": "environment"}
    sources: Mapping[str, str] = field(default_factory=dict)
    state_dir: Path = STATE_DIR
    backup_keep: int = DEFAULT_BACKUP_KEEP
    #: RFSETUP_PG_BINDIR: the only directory the pg tools are taken from (None: discovered)
    pg_bindir: Path | None = None
    #: RFSETUP_KEYMAP parsed: {binding id: keys}, over the config file's [keys]
    keymap: Mapping[str, str] = field(default_factory=dict)
    #: RFSETUP_DEBUG: an unexpected error shows its traceback
    debug: bool = False
    #: PGPASSWORD: libpq's default password, offered for the TUI's admin connection
    pgpassword: str | None = field(default=None, repr=False)
    #: the user's config file (keys, theme); None: none is read or written (tests, scripts)
    config_file: Path | None = None
    #: RFSETUP_LOCK_WAIT, RFSETUP_LOCK_TIMEOUT, RFSETUP_STATEMENT_TIMEOUT (validated on load)
    lock_wait: float = DEFAULT_LOCK_WAIT
    lock_timeout: str = DEFAULT_LOCK_TIMEOUT
    statement_timeout: str = DEFAULT_STATEMENT_TIMEOUT
    #: RFSETUP_ENV as set (``production`` makes every target production: rfsetup.core.guard)
    rfsetup_env: str | None = None
    #: why this target is production (rfsetup.core.guard.detect), or None when it is not
    production: str | None = None

    def url(self) -> URL:
        """The normalised (psycopg2) database URL; raises a bad-input error when unset."""
        return normalize_database_url(self.database_url or "")

    @functools.cached_property
    def profile(self) -> Profile:
        """The project's profile (RaptorFlow's when alembic.ini names it, else generic)."""
        from rfsetup.core.profile import profile_for

        return profile_for(self.alembic_ini)

    @property
    def env_schema(self) -> EnvSchema:
        """The .env keys, groups and checks of the project's profile."""
        return self.profile.env()

    @property
    def backups_dir(self) -> Path:
        return self.state_dir / "backups"

    @property
    def sandbox_dir(self) -> Path:
        return self.state_dir / "sandbox"

    def with_urls(self, database_url: str | None, redis_url: str | None, source: str) -> Settings:
        sources = dict(self.sources)
        sources.update({"DATABASE_URL": source, "REDIS_URL": source})
        production = self.production
        if source == "sandbox":  # a throwaway local server: only RFSETUP_ENV can say otherwise
            production = (self.production if guard.declared_by_environment(self.rfsetup_env)
                          else None)
        return replace(self, database_url=database_url, redis_url=redis_url, sources=sources,
                       production=production)


def backup_keep_from(environ: Mapping[str, str]) -> int:
    """RFSETUP_BACKUP_KEEP: a whole number >= 0 (default 20; 0 keeps every backup)."""
    raw = environ.get(ENV_BACKUP_KEEP, "").strip()
    if not raw:
        return DEFAULT_BACKUP_KEEP
    if not raw.isdigit():
        raise bad_input(f"{ENV_BACKUP_KEEP}={raw!r} is not a whole number",
                        hint=f"e.g. {ENV_BACKUP_KEEP}=20 (0 keeps every backup)")
    return int(raw)


def pg_bindir_from(environ: Mapping[str, str]) -> Path | None:
    """RFSETUP_PG_BINDIR: a directory (``~`` expanded), or None when unset."""
    raw = environ.get(ENV_PG_BINDIR, "").strip()
    return Path(raw).expanduser() if raw else None


def process_pg_bindir() -> Path | None:
    """RFSETUP_PG_BINDIR of this process, for the pg tool functions called without Settings
    (scripts, tests); every command passes ``Settings.pg_bindir`` instead."""
    return pg_bindir_from(os.environ)


def debug_from(environ: Mapping[str, str]) -> bool:
    """RFSETUP_DEBUG: on unless unset, empty, 0, false, no or off."""
    return environ.get(ENV_DEBUG, "").strip().lower() not in _OFF


def parse_keymap(text: str, *, name: str = ENV_KEYMAP) -> dict[str, str]:
    """``"migrate-down-one=ctrl+d,quit=ctrl+x"`` (or ``;``-separated) -> {binding id: keys}.

    An item that is not ``id=key`` is bad input (exit 2), named; whether the ids exist and
    the keys are free is for the terminal app to say, which knows its bindings.
    """
    keymap: dict[str, str] = {}
    for item in text.split(";" if ";" in text else ","):
        if not item.strip():
            continue
        binding_id, sep, keys = item.partition("=")
        if not (sep and binding_id.strip() and keys.strip()):
            raise bad_input(f"{name}: {item.strip()!r} is not binding-id=key",
                            hint=f'e.g. {name}="migrate-down-one=ctrl+d,quit=ctrl+x" (the ids '
                                 "are in the README's key table)")
        keymap[binding_id.strip()] = keys.strip()
    return keymap


def config_file_from(environ: Mapping[str, str]) -> Path:
    """RFSETUP_CONFIG, else $XDG_CONFIG_HOME/rfsetup/config.toml, else the platform's user
    config folder (platformdirs: ~/.config on Linux, ~/Library/Application Support on macOS,
    %APPDATA% on Windows) + rfsetup/config.toml."""
    explicit = environ.get(ENV_CONFIG, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = environ.get("XDG_CONFIG_HOME", "").strip()
    if xdg:
        return Path(xdg).expanduser() / "rfsetup" / "config.toml"
    from platformdirs import user_config_path

    return user_config_path("rfsetup", appauthor=False) / "config.toml"
def lock_wait_from(environ: Mapping[str, str]) -> float:
    """RFSETUP_LOCK_WAIT: seconds to wait for the migration lock (default 5; 0 = try once)."""
    raw = environ.get(ENV_LOCK_WAIT, "").strip()
    if not raw:
        return DEFAULT_LOCK_WAIT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 86400:  # also refuses nan and inf
        raise bad_input(f"{ENV_LOCK_WAIT}={raw!r} is not a number of seconds",
                        hint=f"e.g. {ENV_LOCK_WAIT}=30")
    return value


def duration_from(environ: Mapping[str, str], env: str, default: str) -> str:
    """A PostgreSQL duration from ``env`` (``500ms``, ``10s``, ``30min``; a bare number is ms;
    0 = none), else ``default``; anything else is bad input."""
    raw = environ.get(env, "").strip()
    value = "".join(raw.split()) if raw else default
    if not _DURATION.match(value):
        raise bad_input(f"{env}={raw!r} is not a PostgreSQL duration",
                        hint=f"e.g. {env}={default} (units: ms, s, min, h; 0 disables it)")
    return value


def load_settings(
    env_file: str | os.PathLike[str] | None = None,
    alembic_ini: str | os.PathLike[str] | None = None,
    *,
    sandbox: bool = False,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Resolve settings: flags > process environment > .env file > defaults.

    Every environment variable rfsetup reads is read here, once (the README's table lists
    them); ``environ`` stands for the process environment (tests pass their own).
    """
    environ = os.environ if environ is None else environ
    base = cwd or Path.cwd()
    path = find_env_file(env_file, base)
    file_values = read_env_values(path)
    values: dict[str, str | None] = {}
    sources: dict[str, str] = {}
    for key in ("DATABASE_URL", "REDIS_URL"):
        if environ.get(key):
            values[key], sources[key] = environ[key], "environment"
        elif file_values.get(key):
            values[key], sources[key] = file_values[key], str(path)
        else:
            values[key] = None
    ini = Path(alembic_ini) if alembic_ini is not None else base / DEFAULT_ALEMBIC_INI
    if alembic_ini is not None:
        sources["ALEMBIC_INI"] = "--config"
    if values["DATABASE_URL"] is None:
        # like the alembic CLI, an URL written in alembic.ini is the target when nothing
        # else names one
        from_ini = ini_database_url(ini)
        if from_ini:
            values["DATABASE_URL"], sources["DATABASE_URL"] = from_ini, str(ini)
    return Settings(
        env_file=path,
        alembic_ini=ini,
        database_url=values["DATABASE_URL"],
        redis_url=values["REDIS_URL"],
        sandbox=sandbox,
        sources=sources,
        state_dir=base / STATE_DIR,
        backup_keep=backup_keep_from(environ),
        pg_bindir=pg_bindir_from(environ),
        keymap=parse_keymap(environ.get(ENV_KEYMAP, "")),
        debug=debug_from(environ),
        pgpassword=environ.get("PGPASSWORD") or None,
        config_file=config_file_from(environ),
        lock_wait=lock_wait_from(environ),
        lock_timeout=duration_from(environ, ENV_LOCK_TIMEOUT, DEFAULT_LOCK_TIMEOUT),
        statement_timeout=duration_from(environ, ENV_STATEMENT_TIMEOUT,
                                        DEFAULT_STATEMENT_TIMEOUT),
        rfsetup_env=environ.get(guard.ENV_RFSETUP_ENV) or None,
        production=guard.detect(path, file_values, environ.get(guard.ENV_RFSETUP_ENV)),
    )


def ini_database_url(ini: Path) -> str | None:
    """``sqlalchemy.url`` from an alembic.ini (``%(here)s`` and ``%%`` resolved), unless it is
    missing or the template's placeholder (``driver://user:pass@localhost/dbname``)."""
    parser = configparser.ConfigParser(defaults={"here": str(ini.parent.resolve())})
    try:
        parser.read(ini, encoding="utf-8")
        raw = parser.get("alembic", "sqlalchemy.url", fallback=None)
    except (configparser.Error, OSError, UnicodeDecodeError):
        return None
    raw = (raw or "").strip()
    if not raw or raw.startswith("driver://"):
        return None
    return raw


def reload_settings(settings: Settings) -> Settings:
    """Re-read the .env after it changed, keeping the sandbox's URLs when they came from it."""
    fresh = load_settings(settings.env_file, settings.alembic_ini, sandbox=settings.sandbox,
                          cwd=settings.state_dir.parent)
    if settings.sources.get("DATABASE_URL") == "sandbox":
        return fresh.with_urls(settings.database_url, settings.redis_url, "sandbox")
    return fresh
