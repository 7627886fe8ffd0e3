"""``rfsetup setup``: the whole guided flow headless, idempotent (Rails' ``bin/setup``).

Six phases, each the core function the TUI's step calls, each saying whether it changed
anything: the doctor (stops on what setup cannot fix: Python, packages, the Alembic scripts,
pg_dump when a backup is to be taken), the .env's keys (SECRET_KEY generated when missing or a
placeholder, never rotated when valid; on the sandbox its DATABASE_URL and REDIS_URL when the
.env has none), the database and role (``dbcreate.create_database`` when the target's database
or role is missing, or there is no target yet; the sandbox brings its own), migrate up (a
backup first), the seed, and verify; then the doctor again and ``core.ready``'s summary. A
second run finds everything in place, changes nothing and says so.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from rfsetup.core.errors import ExitCode, RfsetupError, bad_input
from rfsetup.core.settings import Settings, reload_settings

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from rfsetup.core.dbcreate import AskAdmin
    from rfsetup.core.prereqs import CheckResult
    from rfsetup.core.ready import Ready

PhaseStatus = Literal["changed", "unchanged", "skipped", "failed"]
PHASES = ("doctor", "env", "database", "migrate", "seed", "verify")
#: doctor checks whose failure setup cannot repair: it stops before changing anything
BLOCKING = ("python", "packages", "alembic")
#: what connecting to the target can say that creating the role and database repairs
_CREATABLE = ("database_missing", "role_missing")


@dataclass
class Phase:
    """One phase's verdict: ``changed`` (it did something), ``unchanged`` (nothing to do),
    ``skipped`` (not this project's) or ``failed``."""

    name: str
    status: PhaseStatus
    lines: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "details": list(self.lines)}


@dataclass
class SetupOptions:
    """What the command line can say; every field has the guided flow's default."""

    admin_url: URL | None = None
    #: the new role's password (None: generated, and written to the .env)
    password: str | None = None
    name: str | None = None
    owner: str | None = None
    backup: bool = True
    ask_admin_password: AskAdmin | None = None
    admin_error: Callable[[RfsetupError, URL], RfsetupError] | None = None
    cancel: threading.Event | None = None


@dataclass
class SetupResult:
    phases: list[Phase] = field(default_factory=list)
    ready: Ready | None = None
    error: RfsetupError | None = None
    #: doctor's last run (after every phase)
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(p.status == "changed" for p in self.phases)

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return int(self.error.exit_code)
        return int(ExitCode.OK if self.ready is not None and self.ready.ready
                   else ExitCode.FAILED)

    def to_json(self) -> dict[str, Any]:
        return {"ready": self.ready.ready if self.ready else False, "changed": self.changed,
                "phases": [p.to_json() for p in self.phases],
                "summary": self.ready.to_json() if self.ready else None,
                "checks": [{"name": c.name, "status": c.status, "detail": c.detail}
                           for c in self.checks],
                "error": self.error.to_dict() if self.error else None}


def run_setup(settings: Settings, options: SetupOptions | None = None, *,
              on_phase: Callable[[Phase], None] | None = None,
              on_progress: Callable[[str], None] | None = None,
              on_start: Callable[[str], None] | None = None) -> SetupResult:
    """Run every phase in order; a phase that fails ends the run (``result.error``, nothing
    after it attempted). ``on_start`` hears a phase's name as it begins, ``on_progress`` its
    output (the migration's lines), ``on_phase`` its verdict."""
    options = options or SetupOptions()
    result = SetupResult()
    progress = on_progress or (lambda _line: None)

    def record(phase: Phase) -> None:
        result.phases.append(phase)
        if on_phase is not None:
            on_phase(phase)

    steps: list[Callable[[Settings], tuple[Phase, Settings]]] = [
        lambda s: (_doctor(s, options), s),
        lambda s: _env_keys(s),
        lambda s: _database(s, options, progress),
        lambda s: (_migrate(s, options, progress), s),
        lambda s: (_seed(s), s),
        lambda s: (_verify(s), s),
    ]
    for name, step in zip(PHASES, steps, strict=True):
        if on_start is not None:
            on_start(name)
        try:
            phase, settings = step(settings)
        except RfsetupError as exc:
            record(Phase(name, "failed", [exc.message]))
            result.error = exc
            return result
        record(phase)
        if phase.status == "failed":
            result.error = RfsetupError(f"{name}: {phase.lines[0]}",
                                        hint="\n".join(phase.lines[1:]) or None)
            return result
    result.ready, result.checks = _final(settings)
    return result


# -- the phases ------------------------------------------------------------------------------

def _doctor(settings: Settings, options: SetupOptions) -> Phase:
    from rfsetup.core.prereqs import run_checks, summary

    results = run_checks(settings)
    blocking = set(BLOCKING) | ({"pg_dump"} if options.backup else set())
    stops = [r for r in results if r.status == "fail" and r.name in blocking]
    counts = summary(results)
    line = f"{counts['ok']} ok, {counts['warn']} warn, {counts['fail']} fail"
    if stops:
        return Phase("doctor", "failed", [
            f"{', '.join(r.name for r in stops)} failed: setup cannot fix that",
            *(f"{r.name}: {r.detail}" + (f" (fix: {r.remedy.splitlines()[0]})" if r.remedy
                                         else "") for r in stops)])
    later = [r.name for r in results if r.status == "fail"]
    if later:
        line += f" (set up next: {', '.join(later)})"
    return Phase("doctor", "unchanged", [line])


def _env_keys(settings: Settings) -> tuple[Phase, Settings]:
    """SECRET_KEY when it is missing or not a secret (never a valid one); the sandbox's URLs
    when the .env names none. Other keys the app needs cannot be made up: listed."""
    from rfsetup.core.dbcreate import env_form, point_env_at, sandbox_redis_url
    from rfsetup.core.envfile import EnvFile, changes, new_secret, update, validate

    path = settings.env_file
    if not path.parent.is_dir():
        raise bad_input(f"{path.parent} does not exist; nothing was written",
                        hint="check --env-file, or create the directory first")
    schema = settings.env_schema
    lines: list[str] = []
    generated: list[bool] = []
    if "SECRET_KEY" in schema.required:

        def secret(doc: EnvFile) -> EnvFile:
            existing = doc.get("SECRET_KEY")
            if existing and not any(p.level == "error" for p in
                                    validate("SECRET_KEY", existing, schema=schema)):
                return doc  # a valid secret is never rotated (it would log every user out)
            generated.append(True)
            return doc.set("SECRET_KEY", new_secret())

        update(path, secret)
        if generated:
            lines.append("SECRET_KEY generated (64 hex characters, not shown)")
    written: list[tuple[str, str | None, str | None]] = []
    if settings.sources.get("DATABASE_URL") == "sandbox" and settings.database_url:
        # the guided sandbox path: a plain `rfsetup doctor` afterwards finds the sandbox too;
        # a DATABASE_URL the .env already has is the user's and stays
        current = EnvFile.load(path)
        redis = sandbox_redis_url(settings)
        if not current.get("DATABASE_URL"):
            written = point_env_at(settings, settings.database_url, redis_url=redis)
        else:
            if current.get("DATABASE_URL") != env_form(settings, settings.database_url):
                lines.append(f"DATABASE_URL in {path} is left as it is (this run uses the "
                             "sandbox; that URL is what the app and a plain rfsetup use)")
            if redis and not current.get("REDIS_URL"):
                done = update(path, lambda doc: doc.set("REDIS_URL", redis))
                written = changes(done.before, done.after) if done.written else []
    lines.extend(f"{key} written (the sandbox's: {new})" for key, _old, new in written)
    values = EnvFile.load(path).values()
    missing = [k for k in schema.required if k != "DATABASE_URL" and not values.get(k)
               and settings.sources.get(k) not in ("environment", "sandbox")]
    if missing:
        lines.append(f"still to set by you: {', '.join(missing)} (rfsetup env set KEY -)")
    changed = bool(generated) or bool(written)
    if not lines:
        lines.append(f"{path}: the keys setup can set are there")
    return Phase("env", "changed" if changed else "unchanged", lines), \
        reload_settings(settings)


def _database(settings: Settings, options: SetupOptions, progress: Callable[[str], None]
              ) -> tuple[Phase, Settings]:
    """The target reachable as it is, or its role and database created by an admin."""
    from rfsetup.core.connect import connection

    if settings.sources.get("DATABASE_URL") == "sandbox":
        with connection(settings.url(), autocommit=True):
            pass
        return Phase("database", "unchanged", [
            f"the sandbox's database {settings.url().database} (made when it started)"]), \
            settings
    if settings.database_url:
        url = settings.url()
        if options.name not in (None, url.database) or options.owner not in (None,
                                                                               url.username):
            raise bad_input(f"DATABASE_URL already names database {url.database} of role "
                            f"{url.username}; --name and --owner apply only when it is unset")
        try:
            with connection(url, autocommit=True):
                pass
            return Phase("database", "unchanged", [
                f"database {url.database} reachable as {url.username}: nothing to create"]), \
                settings
        except RfsetupError as exc:
            if exc.kind == "password_rejected":
                # the server says the same for a role that does not exist: ask the admin
                if _role_exists(settings, options, str(url.database), str(url.username)):
                    raise
            elif exc.kind not in _CREATABLE:
                raise
            progress(f"{exc.message}: creating it")
        return _create(settings, options, progress, str(url.database), str(url.username),
                       _url_password(settings, url))
    name = options.name or settings.profile.default_database
    owner = options.owner or settings.profile.default_role
    return _create(settings, options, progress, name, owner, options.password)


def _role_exists(settings: Settings, options: SetupOptions, name: str, owner: str) -> bool:
    from rfsetup.core.dbcreate import default_admin_url, inspect_as_admin

    admin = options.admin_url or default_admin_url(settings)
    state, options.admin_url = inspect_as_admin(admin, name, owner, options.ask_admin_password,
                                                options.admin_error)
    return state.role_exists


def _url_password(settings: Settings, url: URL) -> str | None:
    """The role's password the target URL holds; a URL from the environment without one
    cannot be completed (the .env is not what the app reads then)."""
    from rfsetup.core.settings import url_password

    password = url_password(url)
    if password is None and settings.sources.get("DATABASE_URL") == "environment":
        raise bad_input("DATABASE_URL (from the environment) names no password for the role "
                        "to create", hint="add the password to it, or set DATABASE_URL in the "
                        ".env instead (setup then generates one)")
    return password


def _create(settings: Settings, options: SetupOptions, progress: Callable[[str], None],
            name: str, owner: str, password: str | None) -> tuple[Phase, Settings]:
    from rfsetup.core.dbcreate import create_database, default_admin_url

    admin = options.admin_url or default_admin_url(settings)
    # the role's password goes into DATABASE_URL: given, the URL's, else a new random one
    write_env = settings.sources.get("DATABASE_URL") != "environment"
    outcome = create_database(
        settings, admin, name, owner, password, write_env=write_env,
        password_hint="give it with --password-stdin", ask_admin_password=options.
        ask_admin_password, ask_role_password=lambda _owner: secrets.token_urlsafe(24),
        admin_error=options.admin_error, on_progress=progress)
    lines = [f"created {item}" for item in outcome.result.created]
    lines += [f"exists  {item}" for item in outcome.result.existing]
    lines += [f"changed {item}" for item in outcome.result.changed]
    lines += [f"warning: {item}" for item in [*outcome.notes, *outcome.result.warnings]]
    if outcome.env_written:
        lines.append(f"DATABASE_URL written to {settings.env_file}: {outcome.database_url}")
    status: PhaseStatus = "changed" if outcome.changed else "unchanged"
    return Phase("database", status, lines), reload_settings(settings)


def _migrate(settings: Settings, options: SetupOptions, progress: Callable[[str], None]
             ) -> Phase:
    from rfsetup.core import alembic as migrations

    result = migrations.upgrade(settings, "head", backup=options.backup, on_progress=progress,
                                cancel=options.cancel)
    if result.cancelled:
        raise RfsetupError("migrate: interrupted; the database is at "
                           f"{migrations.describe_revisions(result.to_revisions)}",
                           hint="run rfsetup setup again to go on",
                           exit_code=ExitCode.INTERRUPTED, kind="interrupted")
    if not result.applied:
        return Phase("migrate", "unchanged", [
            f"already at head ({migrations.describe_revisions(result.to_revisions)})"])
    lines = [f"{migrations.describe_revisions(result.from_revisions)} → "
             f"{migrations.describe_revisions(result.to_revisions)} "
             f"({len(result.applied)} revision(s))"]
    if result.backup is not None:
        lines.append(f"backup first: {result.backup.path}")
    elif not options.backup:
        lines.append("no backup taken (--no-backup)")
    return Phase("migrate", "changed", lines)


def _seed(settings: Settings) -> Phase:
    from rfsetup.core.seeding import seed

    if not settings.profile.has_seeds:
        return Phase("seed", "skipped", ["this project has no seed"])
    report = seed(settings)
    parts = [f"{verb} {', '.join(ids)}" for verb, ids in (
        ("inserted", report.inserted), ("updated", report.updated),
        ("unchanged", report.unchanged)) if ids]
    return Phase("seed", "changed" if report.changed else "unchanged", ["; ".join(parts)])


def _verify(settings: Settings) -> Phase:
    from rfsetup.core.inspect import list_tables
    from rfsetup.core.seeding import is_seeded

    expected = settings.profile.expected_tables()
    present = {t.name for t in list_tables(settings)}
    missing = [name for name in expected if name not in present]
    if missing:
        return Phase("verify", "failed", [f"tables missing after the migration: "
                                          f"{', '.join(missing)}"])
    seeded = is_seeded(settings)
    if seeded is False:
        return Phase("verify", "failed", ["the plans are not as the seed file has them"])
    what = f"{len(expected)} of {len(expected)} tables" if expected else \
        f"{len(present)} tables"
    return Phase("verify", "unchanged", [what + ("; the plans seeded" if seeded else "")])


def _final(settings: Settings) -> tuple[Ready, list[CheckResult]]:
    """The doctor once more, and the summary; a failing check is a problem in it."""
    from dataclasses import replace

    from rfsetup.core.prereqs import run_checks
    from rfsetup.core.ready import readiness

    checks = run_checks(settings)
    ready = readiness(settings)
    failed = [f"doctor: {c.name}: {c.detail}" for c in checks if c.status == "fail"]
    warned = [f"{c.name}: {c.detail}" for c in checks if c.status == "warn"]
    return replace(ready, problems=(*ready.problems, *failed), notes=tuple(warned)), checks
