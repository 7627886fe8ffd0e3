"""``rfsetup doctor``: the guide's Prerequisites as checks, each with the fix for this OS.

Each check returns a ``CheckResult`` (ok / warn / fail, a one-line detail, a remedy). A check
never raises: whatever goes wrong becomes its result, so the list is always complete.
``run_checks`` hands each result to ``on_result`` as soon as it is known, which is how the TUI
shows them arriving. Nothing here prints; secrets never reach a detail (URLs are masked).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal

from rfsetup.core import pgtools
from rfsetup.core.errors import RfsetupError
from rfsetup.core.remedies import MIN_POSTGRES as MIN_POSTGRES  # doctor's names, kept here
from rfsetup.core.remedies import os_family as os_family
from rfsetup.core.remedies import remedy_for
from rfsetup.core.settings import DEFAULT_REDIS_URL, Settings, mask_url

Status = Literal["ok", "warn", "fail"]
MIN_PYTHON = (3, 11)

#: the distribution rfsetup's requirements are read from (its installed metadata: what
#: pyproject.toml declares, so doctor never checks a copied list)
DISTRIBUTION = "rfsetup"
SANDBOX_EXTRA = "sandbox"
#: other distributions that provide the same import package as a declared one
_ALTERNATIVES: dict[str, tuple[str, ...]] = {"psycopg2-binary": ("psycopg2",)}


@dataclass(frozen=True)
class CheckResult:
    """One prerequisite's verdict."""

    name: str
    status: Status
    detail: str
    remedy: str | None = None
    #: a failure's kind (the RfsetupError's, e.g. ``server_down``), for a UI to tell a server
    #: that must be started from a setting that must be changed
    kind: str | None = None


# -- the checks ------------------------------------------------------------------------------


def run_checks(settings: Settings, on_result: Callable[[CheckResult], None] | None = None,
               *, os_name: str | None = None) -> list[CheckResult]:
    """Run every check in order, reporting each through ``on_result`` as it completes."""
    results: list[CheckResult] = []
    server_version: list[int] = []  # filled by the PostgreSQL check for the pg_dump check

    def emit(result: CheckResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    def tool(name: str) -> Callable[[], CheckResult]:
        return lambda: check_client_tool(name, server_version[0] if server_version else None,
                                         os_name, bin_dir=settings.pg_bindir)

    checks: list[tuple[str, Callable[[], CheckResult]]] = [
        ("python", lambda: check_python(os_name)),
        ("packages", check_packages),
        ("sandbox extras", check_sandbox_extras),
        ("postgresql", lambda: check_postgresql(settings, os_name, server_version)),
        ("pooler", lambda: check_pooler(settings)),
        ("psql", tool("psql")),
        ("pg_dump", tool("pg_dump")),
        ("redis", lambda: check_redis(settings, os_name)),
        (".env", lambda: check_env(settings)),
        ("alembic", lambda: check_alembic(settings)),
    ]
    profile = settings.profile
    if not (profile.uses_redis or settings.redis_url):
        # a project without Redis: nothing to check (REDIS_URL set brings the check back)
        checks = [c for c in checks if c[0] != "redis"]
    for name, check in checks:
        if name == "pooler" and not server_version:
            continue  # PostgreSQL was not reached: nothing to look through
        emit(_guarded(name, check))
    return results


def _guarded(name: str, check: Callable[[], CheckResult]) -> CheckResult:
    """A check that raised becomes a failed result, so doctor always finishes."""
    try:
        return check()
    except RfsetupError as exc:
        return CheckResult(name, "fail", exc.message, exc.hint)
    except Exception as exc:  # a bug or an environment we did not foresee: report, go on
        return CheckResult(name, "fail", f"the check itself failed: {type(exc).__name__}", None)


def check_python(os_name: str | None = None,
                 minimum: tuple[int, int] = MIN_PYTHON) -> CheckResult:
    version = ".".join(str(p) for p in sys.version_info[:3])
    detail = f"Python {version} ({sys.executable})"
    if sys.version_info[:2] < minimum:
        return CheckResult("python", "fail",
                           f"{detail}; {minimum[0]}.{minimum[1]} or newer is needed",
                           remedy_for("python", os_name))
    return CheckResult("python", "ok", detail)


def declared_requirements(extra: str | None = None) -> list[str]:
    """rfsetup's requirements as installed metadata declares them (PEP 508 strings): the base
    ones for this interpreter and platform, or only those ``extra`` adds."""
    from packaging.requirements import Requirement

    chosen = []
    for text in metadata.requires(DISTRIBUTION) or []:
        req = Requirement(text)
        base = req.marker is None or req.marker.evaluate({"extra": ""})
        if extra is None:
            wanted = base
        else:  # a requirement of the extra: its marker holds with it, not without it
            wanted = not base and req.marker is not None and req.marker.evaluate({"extra": extra})
        if wanted:
            chosen.append(text)
    return chosen


def _package_report(requirements: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
    """(found "name version", missing names, "name version, needs spec") for PEP 508 strings."""
    from packaging.requirements import Requirement

    found, missing, old = [], [], []
    for text in requirements:
        req = Requirement(text)
        if req.name == DISTRIBUTION:  # the dev extra's rfsetup[sandbox]: itself
            continue
        version = None
        for dist in (req.name, *_ALTERNATIVES.get(req.name, ())):
            try:
                version = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
        if version is None:
            missing.append(req.name)
            continue
        found.append(f"{req.name} {version}")
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            old.append(f"{req.name} {version} (needs {req.specifier})")
    return found, missing, old


def _install_args(requirements: Sequence[str], names: list[str]) -> str:
    """``'name>=1.2' …`` for the named requirements, shell-quoted, markers dropped."""
    import shlex

    from packaging.requirements import Requirement

    reqs = [Requirement(text) for text in requirements]
    return " ".join(shlex.quote(f"{r.name}{r.specifier}") for r in reqs if r.name in names)


def _declared_or_fail(extra: str | None) -> list[str]:
    try:
        return declared_requirements(extra)
    except metadata.PackageNotFoundError:
        raise RfsetupError(f"{DISTRIBUTION} itself is not installed, so its requirements are "
                           "unknown", hint="pip install -e .  (in the project directory)") from None


def check_packages(requirements: Sequence[str] | None = None) -> CheckResult:
    """The required packages (default: those rfsetup's metadata declares) are installed and
    satisfy their version specifiers (found without importing them)."""
    reqs = _declared_or_fail(None) if requirements is None else requirements
    found, missing, old = _package_report(reqs)
    if missing or old:
        problems = ([f"missing: {', '.join(missing)}"] if missing else []) + (
            [f"too old: {', '.join(old)}"] if old else [])
        return CheckResult("packages", "fail", "; ".join(problems),
                           f"{remedy_for('packages')}\n(or only these: pip install "
                           f"{_install_args(reqs, missing + [o.split()[0] for o in old])})")
    return CheckResult("packages", "ok", ", ".join(found))


def check_sandbox_extras(requirements: Sequence[str] | None = None) -> CheckResult:
    """The ``sandbox`` extra's packages, optional (only --sandbox needs them): a warning when
    one is missing or too old."""
    reqs = _declared_or_fail(SANDBOX_EXTRA) if requirements is None else requirements
    found, missing, old = _package_report(reqs)
    if missing or old:
        what = ", ".join(missing + old)
        return CheckResult("sandbox extras", "warn",
                           f"optional, for --sandbox: {what} not installed" if missing
                           else f"optional, for --sandbox: {what}",
                           remedy_for("sandbox extras"))
    return CheckResult("sandbox extras", "ok", ", ".join(found))


def check_postgresql(settings: Settings, os_name: str | None = None,
                     version_out: list[int] | None = None) -> CheckResult:
    """DATABASE_URL reachable (diagnosed when not) and as new as the profile needs (RaptorFlow:
    PostgreSQL 15 or newer)."""
    from rfsetup.core.connect import connection

    name = "postgresql"
    try:
        url = settings.url()
    except RfsetupError as exc:
        return CheckResult(name, "fail", exc.message,
                           exc.hint or "rfsetup env set DATABASE_URL postgresql://USER@HOST/DB")
    where = f"{mask_url(url)} (from {settings.sources.get('DATABASE_URL', 'settings')})"
    try:
        with connection(url, timeout=3, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("SELECT current_setting('server_version'), "
                        "current_setting('server_version_num')::int")
            version, version_num = cur.fetchone()
    except RfsetupError as exc:
        # the diagnosis carries the fix: a refused port's is this machine's (the sandbox
        # started, an installed server started, installing only when none is here), a
        # timeout's the network's, a password's or a missing database's its own
        remedy = exc.hint
        cause = f" ({exc.cause})" if exc.cause and exc.kind == "connect_failed" else ""
        return CheckResult(name, "fail", f"{exc.message}{cause}; DATABASE_URL {where}", remedy,
                           kind=exc.kind)
    major = int(version_num) // 10000
    if version_out is not None:
        version_out.append(major)
    detail = f"PostgreSQL {str(version).split(' ')[0]} at {where}"
    minimum = settings.profile.min_postgres
    if minimum is not None and major < minimum:
        return CheckResult(name, "fail", f"{detail}; the guide needs {minimum} or newer",
                           remedy_for(name, os_name))
    return CheckResult(name, "ok", detail)


def check_pooler(settings: Settings) -> CheckResult:
    """A connection pooler in transaction mode between rfsetup and the server (observed, see
    rfsetup.core.pooler) is a warning: status works through it, migrations refuse it."""
    from rfsetup.core import pooler
    from rfsetup.core.connect import connection

    url = settings.url()
    with connection(url, timeout=3, autocommit=True) as conn:
        facts = pooler.probe(conn, url)
    if facts.transaction_mode:
        return CheckResult("pooler", "warn", facts.warning(), facts.hint)
    detail = "a pooler in session mode (the migration lock and timeouts hold)" \
        if facts.proxied else "direct connection to the server (no pooler in between)"
    return CheckResult("pooler", "ok", detail)


def _client_dirs(tool: str, bin_dir: Path | None = None) -> list[Path]:
    """Directories holding ``tool``: the one discovery the backups use (``pgtools``)."""
    return pgtools.candidate_bin_dirs(tool, bin_dir)


def tool_version(path: Path) -> str | None:
    """The version ``path --version`` reports (e.g. "16.2"), None if it fails."""
    return pgtools.tool_version(path)


def check_client_tool(tool: str, server_major: int | None,
                      os_name: str | None = None, *, bin_dir: Path | None = None) -> CheckResult:
    """psql / pg_dump: present, their versions, and whether one is new enough for the server.

    pg_dump refuses servers newer than itself, and backups before migrations need it, so a
    pg_dump too old for a reachable server fails; psql is only the guide's manual route (rfsetup
    does not need it), so its problems are warnings.
    """
    found: list[tuple[Path, str, int]] = []
    for directory in _client_dirs(tool, bin_dir):
        path = pgtools.exe(directory, tool)
        version = tool_version(path)
        if version:
            found.append((path, version, pgtools.version_major(version)[0]))
    severity: Status = "fail" if tool == "pg_dump" else "warn"
    remedy = remedy_for(tool, os_name, major=server_major)
    if not found:
        why = "backups before migrations need it" if tool == "pg_dump" else \
            "only needed for the guide's manual steps"
        return CheckResult(tool, severity, f"{tool} not found ({why})", remedy)
    # the same version twice (e.g. /usr/bin's wrapper and the real binary) is listed once
    found = [f for i, f in enumerate(found) if f[1] not in {g[1] for g in found[:i]}]
    listing = ", ".join(f"{v} ({p})" for p, v, _ in found)
    if server_major is None:
        return CheckResult(tool, "warn", f"{listing}; PostgreSQL not reachable, so whether it "
                           "is new enough is unknown", None)
    usable = [f for f in found if f[2] >= server_major]
    if not usable:
        return CheckResult(tool, severity, f"{listing}: all older than the server "
                           f"(PostgreSQL {server_major}); {tool} {server_major}+ is needed", remedy)
    # the same major as the server if present, else the nearest newer (as the backup code picks)
    best = min(usable, key=lambda f: f[2])
    others = ", ".join(f"{v} ({p})" for p, v, _ in found if (p, v) != best[:2])
    return CheckResult(tool, "ok", f"{best[1]} ({best[0]}) can work with PostgreSQL "
                       f"{server_major}" + (f"; also found: {others}" if others else ""))


def check_redis(settings: Settings, os_name: str | None = None) -> CheckResult:
    from rfsetup.core.status import redis_status

    status = redis_status(settings, timeout=2.0)
    source = settings.sources.get("REDIS_URL")
    where = f"{status.url} ({'from ' + source if source else 'REDIS_URL unset: the default'})"
    if status.reachable:
        return CheckResult("redis", "ok", f"Redis {status.version} at {where}")
    refused = status.error_kind == "server_down"
    remedy = remedy_for("redis", os_name) if refused or not settings.redis_url else \
        f"check REDIS_URL (e.g. rfsetup env set REDIS_URL {DEFAULT_REDIS_URL})"
    if refused:
        from rfsetup.core.localpg import is_sandbox_redis

        if is_sandbox_redis(settings.redis_url, settings.sandbox_dir):
            remedy = "this is the project's sandbox, and it is stopped: rfsetup sandbox start"
        else:
            remedy = f"{remedy}\n(or use the embedded one: rfsetup --sandbox)"
    return CheckResult("redis", "fail", f"Redis at {where}: {status.error}", remedy,
                       kind=status.error_kind)


def check_env(settings: Settings) -> CheckResult:
    """The .env exists and every key of the guide is set and valid.

    With ``--sandbox`` missing keys are warnings: the sandbox supplies the database and Redis,
    and nothing rfsetup does needs the others (the RaptorFlow app does).
    """
    from rfsetup.core.envfile import EnvFile, validate_all

    path = settings.env_file
    if settings.profile.env_schema != "raptorflow":
        return _check_generic_env(settings)
    soft: Status = "warn" if settings.sandbox else "fail"
    remedy = remedy_for(".env")
    if not path.is_file():
        return CheckResult(".env", soft, f"no .env at {path}", remedy)
    try:
        values = EnvFile.load(path).values()
    except OSError as exc:
        return CheckResult(".env", "fail", f"cannot read {path}: {exc.strerror}", None)
    supplied = {k for k in ("DATABASE_URL", "REDIS_URL")
                if settings.sources.get(k) in ("environment", "sandbox")}
    required = settings.env_schema.required
    missing = [k for k in required if not values.get(k) and k not in supplied]
    problems = validate_all(values, schema=settings.env_schema)
    errors = [f"{k}: {p.message}" for k, ps in problems.items() for p in ps if p.level == "error"]
    warnings = [f"{k}: {p.message}" for k, ps in problems.items() for p in ps
                if p.level == "warn"]
    parts = [f"{path}: {len(required) - len(missing)} of {len(required)} keys set"]
    if missing:
        parts.append("missing " + ", ".join(missing))
    parts.extend(errors + warnings)
    detail = "; ".join(parts)
    if errors:
        return CheckResult(".env", "fail", detail, remedy)
    if missing:
        return CheckResult(".env", soft, detail, remedy)
    if warnings:
        return CheckResult(".env", "warn", detail, remedy)
    return CheckResult(".env", "ok", detail)


def _check_generic_env(settings: Settings) -> CheckResult:
    """A project with no particular .env keys: the file is optional; DATABASE_URL must come
    from somewhere (the environment, the .env or alembic.ini) and what is set must be valid."""
    from rfsetup.core.envfile import EnvFile, validate

    path = settings.env_file
    source = settings.sources.get("DATABASE_URL")
    values: dict[str, str | None] = {}
    if path.is_file():
        try:
            values = EnvFile.load(path).values()
        except OSError as exc:
            return CheckResult(".env", "fail", f"cannot read {path}: {exc.strerror}", None)
    if not settings.database_url:
        return CheckResult(".env", "fail", "DATABASE_URL is set nowhere (environment, .env, "
                           "alembic.ini)", "rfsetup env set DATABASE_URL "
                           "postgresql+psycopg2://USER@HOST:5432/DB")
    errors = [f"{key}: {p.message}" for key in ("DATABASE_URL", "REDIS_URL")
              if values.get(key) for p in validate(key, str(values[key]), values)
              if p.level == "error"]
    where = f"{path}" if path.is_file() else f"no .env at {path} (optional here)"
    detail = f"{where}; DATABASE_URL from {source}"
    if errors:
        return CheckResult(".env", "fail", "; ".join([detail, *errors]), remedy_for(".env"))
    return CheckResult(".env", "ok", detail)


def check_alembic(settings: Settings) -> CheckResult:
    """The Alembic config loads and its scripts have exactly one head."""
    from rfsetup.core.alembic import load

    try:
        graph = load(settings).graph()
        heads, count = graph.heads, len(graph.parents)
    except RfsetupError as exc:
        detail = f"{exc.message} ({exc.cause})" if exc.cause else exc.message
        return CheckResult("alembic", "fail", detail, exc.hint or remedy_for("alembic"))
    except Exception as exc:  # a revision file that does not import, a broken chain
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return CheckResult("alembic", "fail",
                           f"the migration scripts cannot be read: {type(exc).__name__}: {first}",
                           "fix the revision file named above")
    where = f"{settings.alembic_ini}"
    if not heads:
        return CheckResult("alembic", "warn", f"{where}: no revisions yet",
                           "add revisions under alembic/versions")
    if len(heads) > 1:
        return CheckResult("alembic", "fail",
                           f"{where}: {len(heads)} heads ({', '.join(sorted(heads))}); "
                           "upgrades need one",
                           "merge them: alembic merge heads -m 'merge heads'")
    return CheckResult("alembic", "ok", f"{where}: {count} revisions, head {heads[0]}")


def summary(results: list[CheckResult]) -> dict[str, int]:
    """How many checks are ok, warn and fail."""
    counts = {"ok": 0, "warn": 0, "fail": 0}
    for result in results:
        counts[result.status] += 1
    return counts
