"""Alembic, in-process: history, preview, upgrade, downgrade and stamp, safely.

Everything goes through Alembic's Python API (Config, ScriptDirectory, EnvironmentContext running
the project's own env.py) on a connection rfsetup opens itself, so that:

* the migration lock (``rfsetup.core.locking``) is held on that connection for the whole run;
* ``lock_timeout`` and ``statement_timeout`` are set on it at connect time;
* a ``pg_dump`` backup is taken after the lock is held and before the first change;
* progress lines stream to ``on_progress`` as revisions run, and ``cancel`` is honoured between
  revisions (each revision is its own transaction: env.py sets transaction_per_migration);
* a failing revision is named together with the revision the database was left at.

It works for any Alembic project (``-c ALEMBIC_INI``) whose env.py uses the connection passed
in ``config.attributes["connection"]``, as the Alembic cookbook recommends; ``config.attributes
["rfsetup"]`` tells env.py not to configure logging (stderr would corrupt the TUI).

Preview runs the same env.py in offline (``--sql``) mode from the database's *current*
revision, so it prints exactly the SQL ``upgrade``/``downgrade`` would execute.

alembic and sqlalchemy are imported inside functions: ``rfsetup --help`` should not pay for them.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rfsetup.core import locking
from rfsetup.core.backups import BackupInfo, dump_database, read_revision, revision_label
from rfsetup.core.errors import RfsetupError, bad_input
from rfsetup.core.settings import Settings, libpq_params

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import Script, ScriptDirectory
    from psycopg2.extensions import connection as PgConnection
    from sqlalchemy.engine import URL

Progress = Callable[[str], None]
Direction = Literal["up", "down"]
DEFAULT_VERSION_TABLE = "alembic_version"

# Alembic installs the running environment into the module-level proxies ``alembic.context``
# and ``alembic.op``: two env.py runs at once in one process would trample each other. Runs in
# different processes are serialised by the advisory lock instead.
_ALEMBIC_LOCK = threading.RLock()
_SCRIPTS_LOCK = threading.Lock()
_SCRIPTS: dict[tuple[str, ...], tuple[tuple[Any, ...], ScriptDirectory]] = {}


# -- results ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RevisionInfo:
    """One revision of the project as ``migrate history`` shows it."""

    revision: str
    down_revisions: tuple[str, ...]
    message: str
    is_head: bool
    is_current: bool
    is_branch_point: bool
    is_merge: bool
    #: the database has this revision applied (it is the current one or below it)
    is_applied: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "down_revisions": list(self.down_revisions),
            "message": self.message,
            "is_head": self.is_head,
            "is_current": self.is_current,
            "is_branch_point": self.is_branch_point,
            "is_merge": self.is_merge,
            "is_applied": self.is_applied,
        }


@dataclass(frozen=True)
class PreviewStep:
    """The SQL one revision would run (its own BEGIN ... COMMIT)."""

    revision: str
    message: str
    sql: str


@dataclass(frozen=True)
class Preview:
    """The SQL from the database's current revision to ``target``; ``sql`` is the whole text."""

    direction: Direction
    from_revisions: tuple[str, ...]
    target: str
    steps: list[PreviewStep]
    sql: str

    def to_json(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "from_revisions": list(self.from_revisions),
            "target": self.target,
            "steps": [{"revision": s.revision, "message": s.message, "sql": s.sql}
                      for s in self.steps],
            "sql": self.sql,
        }


@dataclass(frozen=True)
class LintFinding:
    """One squawk finding, attributed to the revision whose SQL it is in (line is 1-based)."""

    revision: str | None
    rule: str
    message: str
    level: str
    line: int | None
    help: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"revision": self.revision, "rule": self.rule, "message": self.message,
                "level": self.level, "line": self.line, "help": self.help}


@dataclass(frozen=True)
class MigrationResult:
    """What an upgrade, downgrade or stamp did."""

    direction: str
    from_revisions: tuple[str, ...]
    to_revisions: tuple[str, ...]
    applied: list[str]
    backup: BackupInfo | None
    log: str
    #: stopped at a revision boundary because ``cancel`` was set
    cancelled: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "from_revisions": list(self.from_revisions),
            "to_revisions": list(self.to_revisions),
            "applied": list(self.applied),
            "backup": self.backup.to_json() if self.backup else None,
            "cancelled": self.cancelled,
        }


# -- configuration and scripts ----------------------------------------------------------------
def load_config(settings: Settings, *, output_buffer: io.StringIO | None = None) -> Config:
    """The project's Alembic Config, its stdout captured and rfsetup's attributes set."""
    ini = Path(settings.alembic_ini)
    if not ini.is_file():
        raise bad_input(f"no Alembic config at {ini}",
                        hint="run rfsetup in the project directory or pass -c path/to/alembic.ini")
    from alembic.config import Config

    cfg = Config(str(ini), stdout=io.StringIO(), output_buffer=output_buffer)
    cfg.attributes["rfsetup"] = True
    with contextlib.suppress(RfsetupError):  # no URL is fine for history of the scripts alone
        cfg.attributes["database_url"] = settings.url().render_as_string(hide_password=False)
    return cfg


def script_directory(cfg: Config) -> ScriptDirectory:
    """The project's ScriptDirectory with its revisions loaded, reused while files are unchanged.

    Loading imports every revision file (a second for a thousand revisions), so the TUI's
    repeated calls hit a cache keyed by the config and invalidated by any change on disk.
    """
    script = _unloaded_script_directory(cfg)
    locations = [Path(p) for p in getattr(script, "_version_locations", [])]
    key = (str(Path(str(cfg.config_file_name)).resolve()), str(script.dir),
           *map(str, locations))
    fingerprint = _fingerprint(locations, bool(script.recursive_version_locations))
    with _SCRIPTS_LOCK:
        cached = _SCRIPTS.get(key)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
    try:
        _ = script.revision_map.heads  # loads and links every revision now
    except Exception as exc:
        raise RfsetupError(
            f"the migration scripts in {', '.join(map(str, locations))} cannot be loaded",
            cause=f"{type(exc).__name__}: {exc}",
            hint="fix the revision file named above (rfsetup changed nothing)",
            kind="scripts_broken",
        ) from None
    with _SCRIPTS_LOCK:
        _SCRIPTS[key] = (fingerprint, script)
    return script


def _unloaded_script_directory(cfg: Config) -> ScriptDirectory:
    """ScriptDirectory.from_config: cheap, as no revision file is read until revision_map is."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        return ScriptDirectory.from_config(cfg)
    except CommandError as exc:
        raise bad_input(f"the Alembic config {cfg.config_file_name} is unusable",
                        cause=str(exc), hint="check script_location in alembic.ini") from None
    except Exception as exc:  # configparser errors and the like
        raise bad_input(f"cannot read the Alembic config {cfg.config_file_name}",
                        cause=f"{type(exc).__name__}: {exc}") from None


def _fingerprint(locations: Sequence[Path], recursive: bool) -> tuple[Any, ...]:
    entries: list[tuple[str, int, int]] = []
    for loc in locations:
        walker = os.walk(loc) if recursive else [(str(loc), [], None)]
        for folder, _dirs, _files in walker:
            with contextlib.suppress(OSError), os.scandir(folder) as it:
                for entry in it:
                    if entry.name.endswith((".py", ".pyc")) and entry.is_file():
                        st = entry.stat()
                        entries.append((entry.path, st.st_mtime_ns, st.st_size))
    return tuple(sorted(entries))


def version_files(cfg: Config) -> tuple[list[Path], list[list[Any]]]:
    """The version locations and a fingerprint of their files (name, mtime, size), without
    loading any revision: what a cache of anything derived from the scripts is keyed by."""
    script = _unloaded_script_directory(cfg)
    locations = [Path(p) for p in getattr(script, "_version_locations", [])]
    fingerprint = _fingerprint(locations, bool(script.recursive_version_locations))
    return locations, [list(e) for e in fingerprint]


def version_table(cfg: Config) -> str:
    """The version table, ``[schema.]table``; alembic.ini may name it (``version_table``)."""
    table = cfg.get_main_option("version_table") or DEFAULT_VERSION_TABLE
    schema = cfg.get_main_option("version_table_schema")
    return f"{schema}.{table}" if schema else table


def heads(settings: Settings) -> list[str]:
    """The head revisions of the project's scripts (several when branches are unmerged)."""
    return list(script_directory(load_config(settings)).get_heads())


def current_revisions(settings: Settings, cfg: Config | None = None) -> tuple[str, ...]:
    """The revisions the database is at (empty at base); raises the diagnosed error (exit 3)."""
    from rfsetup.core.connect import connection

    cfg = cfg or load_config(settings)
    with connection(settings.url(), autocommit=True) as conn:
        return read_revision(conn, version_table(cfg))


# -- history ---------------------------------------------------------------------------------
def history(settings: Settings, current: Sequence[str] | None = None) -> list[RevisionInfo]:
    """Every revision, newest first, marked head/current/applied/branch point/merge.

    With ``current=None`` the database's current revision is read (errors are raised, diagnosed).
    """
    cfg = load_config(settings)
    script = script_directory(cfg)
    if current is None:
        current = current_revisions(settings, cfg)
    return history_of(script, tuple(current))


def history_of(script: ScriptDirectory, current: Sequence[str]) -> list[RevisionInfo]:
    """``history`` for an already loaded ScriptDirectory."""
    heads_ = set(script.get_heads())
    current_set = set(current)
    applied = _ancestors(script, [r for r in current if _known(script, r)])
    out: list[RevisionInfo] = []
    for sc in script.walk_revisions():
        out.append(RevisionInfo(
            revision=sc.revision,
            down_revisions=_down(sc),
            message=(sc.doc or "").strip(),
            is_head=sc.revision in heads_,
            is_current=sc.revision in current_set,
            is_branch_point=bool(sc.is_branch_point),
            is_merge=bool(sc.is_merge_point),
            is_applied=sc.revision in applied,
        ))
    return out


def unknown_revisions(script: ScriptDirectory, current: Sequence[str]) -> list[str]:
    """Revisions in the database's version table that this project does not have."""
    return [r for r in current if not _known(script, r)]


def _down(sc: Script) -> tuple[str, ...]:
    down = sc.down_revision
    if down is None:
        return ()
    return (down,) if isinstance(down, str) else tuple(down)


def _known(script: ScriptDirectory, rev: str) -> bool:
    from alembic.script.revision import RevisionError

    try:
        found = script.revision_map.get_revision(rev)
    except RevisionError:
        return False
    return found is not None and found.revision == rev


def _ancestors(script: ScriptDirectory, revs: Sequence[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(revs)
    while todo:
        rev = todo.pop()
        if rev in seen:
            continue
        seen.add(rev)
        sc = script.revision_map.get_revision(rev)
        if sc is not None:
            todo.extend(_down(sc))
    return seen


def _heads_after(script: ScriptDirectory, current: Sequence[str], steps: Sequence[Any],
                 direction: Direction) -> tuple[str, ...]:
    """Where the version table ends up after ``steps`` (as Alembic's HeadMaintainer does)."""
    result = set(current)
    for step in steps:
        rev = step.revision.revision
        if direction == "up":
            result -= set(_down(step.revision))
            result -= _ancestors(script, [rev]) - {rev}
            result.add(rev)
        else:
            result.discard(rev)
            for parent in _down(step.revision):
                if not any(parent in _ancestors(script, [h]) for h in result):
                    result.add(parent)
    return tuple(sorted(result))


# -- planning ----------------------------------------------------------------------------------
def _check_head_target(script: ScriptDirectory, target: str) -> None:
    """``head`` with several heads is ambiguous: name them and say what to do instead."""
    if target != "head":
        return
    found = script.get_heads()
    if len(found) > 1:
        names = ", ".join(found)
        raise bad_input(
            f"the project has {len(found)} heads ({names}): 'head' is ambiguous",
            hint=f"upgrade every branch with: rfsetup migrate up heads — or merge them first: "
                 f"alembic merge -m 'merge heads' {' '.join(found)}",
        )


_RELATIVE = re.compile(r"^(?P<base>.*?)(?P<sign>[+-])(?P<steps>\d+)$")


def check_target(script: ScriptDirectory, target: str, direction: Direction | Literal["stamp"]
                 ) -> None:
    """Refuse a target that cannot name a revision before anything connects or locks (exit 2).

    Relative targets (``-1``, ``+2``, ``head-1``) are resolved against the database later; here
    only their direction and their anchor are checked.
    """
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    anchor = target
    match = _RELATIVE.match(target)
    if match:
        sign, anchor = match["sign"], match["base"]
        if direction == "stamp":
            raise bad_input(f"stamp needs a revision, not a relative step ({target!r})",
                            hint="see the revisions with: rfsetup migrate history")
        if not anchor and (sign == "-") != (direction == "down"):
            other = "down" if direction == "up" else "up"
            raise bad_input(f"migrate {direction} cannot go {sign}{match['steps']} revisions",
                            hint=f"use: rfsetup migrate {other} {sign}{match['steps']}")
    if not anchor or anchor in ("base", "heads", "head"):
        return
    try:
        script.revision_map.get_revisions(anchor)
    except (CommandError, RevisionError) as exc:
        raise bad_input(f"no revision {target!r} in this project",
                        cause=str(exc).splitlines()[0],
                        hint="see the revisions with: rfsetup migrate history") from None


def _check_known(script: ScriptDirectory, current: Sequence[str], database: str) -> None:
    unknown = unknown_revisions(script, current)
    if unknown:
        raise RfsetupError(
            f"database {database} is at revision {', '.join(unknown)}, which this project's "
            "migration scripts do not contain",
            hint="check that -c points at the right alembic.ini and that the code is up to "
                 "date (git pull); if you know the schema matches a revision: "
                 "rfsetup migrate stamp REV",
            kind="unknown_revision",
        )


def _plan(script: ScriptDirectory, target: str, current: tuple[str, ...],
          direction: Direction) -> list[Any]:
    """The RevisionSteps from ``current`` to ``target``; bad targets are bad input (exit 2)."""
    from alembic.util import CommandError

    try:
        if direction == "down":
            if not current:
                return []
            return list(script._downgrade_revs(target, current))  # type: ignore[arg-type]
        return list(script._upgrade_revs(target, current))  # type: ignore[arg-type]
    except CommandError as exc:
        text = str(exc)
        if "ambiguous" in text.lower() or "multiple" in text.lower():
            hint = (f"the database is at {', '.join(current) or 'base'}; name the revision "
                    "to go to (rfsetup migrate history)")
        else:
            hint = "see the revisions with: rfsetup migrate history"
        raise bad_input(f"cannot {'downgrade' if direction == 'down' else 'upgrade'} to "
                        f"{target!r}: {text}", hint=hint) from None


def describe_revisions(revs: Sequence[str]) -> str:
    """Revisions for people: ``a, b``, or ``base`` when there are none."""
    return ", ".join(revs) if revs else "base"


# -- running env.py ------------------------------------------------------------------------------
@dataclass
class _Runner:
    """The work function handed to env.py: yields the planned steps one at a time.

    Alembic commits each revision's transaction before asking for the next step, so resuming
    the generator is the moment a revision is known to be applied, and the place to stop
    cleanly on ``cancel``. In offline mode it records where each revision's SQL starts.
    """

    script: ScriptDirectory
    target: str
    direction: Direction
    planned: list[Any]
    planned_from: tuple[str, ...]
    progress: Progress
    cancel: threading.Event | None = None
    buffer: io.StringIO | None = None
    applied: list[str] = field(default_factory=list)
    marks: list[int] = field(default_factory=list)
    running: Any = None
    cancelled: bool = False

    def __call__(self, rev: Any, context: Any) -> Iterator[Any]:
        heads = tuple(sorted(rev or ()))
        steps = self.planned
        if heads != tuple(sorted(self.planned_from)):  # env.py reads another version table
            steps = _plan(self.script, self.target, heads, self.direction)
        return self._iterate(steps)

    def _iterate(self, steps: list[Any]) -> Iterator[Any]:
        for step in steps:
            self._finish()
            if self.cancel is not None and self.cancel.is_set():
                self.cancelled = True
                self.progress("cancelled: stopping before the next revision")
                return
            self.running = step
            if self.buffer is not None:
                self.marks.append(self.buffer.tell())
            self.progress(f"Running {step}")
            yield step
        self._finish()

    def _finish(self) -> None:
        if self.running is not None:
            self.applied.append(self.running.revision.revision)
            self.running = None


def _run_env(cfg: Config, script: ScriptDirectory, fn: Callable[..., Any], **kw: Any) -> None:
    from alembic.runtime.environment import EnvironmentContext

    with _ALEMBIC_LOCK, EnvironmentContext(cfg, script, fn=fn, **kw):
        script.run_env()


# -- preview and lint ------------------------------------------------------------------------
def preview(settings: Settings, target: str | None = None, *, down: bool = False) -> Preview:
    """Exactly the SQL an upgrade (or ``down``grade) to ``target`` would run from the database's
    current revision. Reads the current revision; changes nothing."""
    direction: Direction = "down" if down else "up"
    target = target or ("-1" if down else "head")
    cfg = load_config(settings)
    script = script_directory(cfg)
    if not down:
        _check_head_target(script, target)
    current = current_revisions(settings, cfg)
    _check_known(script, current, str(settings.url().database))
    steps = _plan(script, target, current, direction)
    return preview_from(cfg, script, current, target, direction, steps)


def plan(settings: Settings, target: str | None = None, *, down: bool = False) -> Preview:
    """What an upgrade/downgrade to ``target`` would run, by revision, without the SQL.

    Cheaper than ``preview`` (env.py is not run); used to describe an operation before
    asking for confirmation.
    """
    direction: Direction = "down" if down else "up"
    target = target or ("-1" if down else "head")
    cfg = load_config(settings)
    script = script_directory(cfg)
    if not down:
        _check_head_target(script, target)
    current = current_revisions(settings, cfg)
    _check_known(script, current, str(settings.url().database))
    steps = _plan(script, target, current, direction)
    resolved = describe_revisions(_heads_after(script, current, steps, direction))
    return Preview(direction, current, resolved,
                   [PreviewStep(s.revision.revision, (s.revision.doc or "").strip(), "")
                    for s in steps], "")


def preview_from(cfg: Config, script: ScriptDirectory, current: tuple[str, ...], target: str,
                 direction: Direction, steps: list[Any] | None = None) -> Preview:
    """The offline SQL from ``current`` (no database needed) to ``target``."""
    if steps is None:
        steps = _plan(script, target, current, direction)
    resolved = describe_revisions(_heads_after(script, current, steps, direction))
    if not steps:
        return Preview(direction, current, resolved, [], "")
    buffer = io.StringIO()
    cfg.output_buffer = buffer
    runner = _Runner(script, target, direction, steps, current, lambda _line: None,
                     buffer=buffer)
    try:
        _run_env(cfg, script, runner, as_sql=True, starting_rev=list(current) or None,
                 destination_rev=target)
    except RfsetupError:
        raise
    except Exception as exc:
        raise RfsetupError("generating the SQL failed (offline mode of env.py)",
                           cause=f"{type(exc).__name__}: {_first_line(str(exc))}",
                           hint="does env.py support offline (--sql) mode?",
                           kind="preview_failed") from None
    finally:
        cfg.output_buffer = None
    text = buffer.getvalue()
    bounds = [*runner.marks[1:], len(text)]
    out = [PreviewStep(step.revision.revision, (step.revision.doc or "").strip(),
                       text[start:end])
           for step, start, end in zip(steps, runner.marks, bounds, strict=False)]
    return Preview(direction, current, resolved, out, text)


def find_squawk() -> Path | None:
    """squawk (squawk-cli) next to this Python, else on PATH."""
    name = "squawk.exe" if os.name == "nt" else "squawk"
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return beside
    found = shutil.which("squawk")
    return Path(found) if found else None


def lint(preview: Preview, *, version_table_name: str = DEFAULT_VERSION_TABLE,
         pg_version: str | None = None) -> list[LintFinding]:
    """squawk's findings on each revision's SQL (rfsetup's own version-table SQL excluded)."""
    if not preview.steps:
        return []
    exe = find_squawk()
    if exe is None:
        raise RfsetupError("squawk is not installed, so the SQL cannot be linted",
                           hint="pip install squawk-cli (a dependency of rfsetup: reinstall it)",
                           kind="squawk_missing")
    table = version_table_name.rsplit(".", 1)[-1]
    with tempfile.TemporaryDirectory(prefix="rfsetup-lint-") as tmp:
        files: dict[str, PreviewStep] = {}
        for index, step in enumerate(preview.steps):
            path = Path(tmp) / f"{index:05d}_{step.revision}.sql"
            path.write_text(step.sql)
            files[str(path)] = step
        argv = [str(exe), "--reporter", "json"]
        if pg_version:
            argv.append(f"--pg-version={pg_version}")
        try:
            proc = subprocess.run([*argv, *files], capture_output=True, text=True,
                                  timeout=300, check=False, cwd=tmp)
        except (OSError, subprocess.SubprocessError) as exc:
            raise RfsetupError("squawk could not run", cause=str(exc),
                               kind="squawk_failed") from None
    try:
        import json

        raw = json.loads(proc.stdout or "[]")
    except ValueError:
        raw = None
    if proc.returncode not in (0, 1) or not isinstance(raw, list):
        raise RfsetupError(f"squawk failed (exit {proc.returncode})",
                           cause=_first_line(proc.stderr or proc.stdout), kind="squawk_failed")
    findings: list[LintFinding] = []
    for item in raw:
        step = files.get(str(item.get("file")))
        line = item.get("line")
        line_no = int(line) + 1 if isinstance(line, int) else None  # squawk counts from 0
        if step is not None and line_no is not None and table in _statement_at(step.sql, line_no):
            continue  # Alembic's bookkeeping (the version table), not the revision's DDL
        findings.append(LintFinding(
            revision=step.revision if step else None,
            rule=str(item.get("rule_name") or "?"),
            message=str(item.get("message") or ""),
            level=str(item.get("level") or "warning").lower(),
            line=line_no,
            help=item.get("help"),
        ))
    return findings


def _statement_at(sql: str, line_no: int) -> str:
    """The text of the ';'-terminated statement that covers 1-based ``line_no``."""
    lines = sql.splitlines()
    start = line_no - 1
    while start > 0 and not lines[start - 1].rstrip().endswith(";"):
        start -= 1
    end = line_no - 1
    while end < len(lines) - 1 and not lines[end].rstrip().endswith(";"):
        end += 1
    return "\n".join(lines[start:end + 1])


# -- upgrade / downgrade / stamp ------------------------------------------------------------------
@dataclass
class _Log:
    on_progress: Progress | None
    lines: list[str] = field(default_factory=list)

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        if self.on_progress is not None:
            self.on_progress(line)

    def text(self, cfg: Config | None = None) -> str:
        extra = cfg.stdout.getvalue() if cfg is not None and isinstance(cfg.stdout,
                                                                         io.StringIO) else ""
        return "\n".join(self.lines) + ("\n" + extra if extra else "")


def _open_locked(settings: Settings, log: _Log, action: str) -> tuple[URL, PgConnection]:
    """Connect (timeouts set at connect time), then wait for the migration lock."""
    from rfsetup.core.connect import connect

    url = settings.url()
    timeouts = locking.session_timeouts()
    wait = locking.lock_wait_seconds()
    existing = libpq_params(url).get("options")
    conn = connect(url, autocommit=True, application_name=locking.application_name(action),
                   options=locking.libpq_options(timeouts, str(existing) if existing else None))
    try:
        locking.acquire(conn, wait=wait, on_progress=log)
    except BaseException:
        conn.close()
        raise
    return url, conn


def upgrade(
    settings: Settings,
    target: str = "head",
    *,
    backup: bool = True,
    on_progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> MigrationResult:
    """Upgrade to ``target`` (default head) under the migration lock, backing up first."""
    return _migrate(settings, "up", target or "head", backup=backup, on_progress=on_progress,
                    cancel=cancel)


def downgrade(
    settings: Settings,
    target: str = "-1",
    *,
    backup: bool = True,
    on_progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> MigrationResult:
    """Downgrade to ``target`` (default one step) under the migration lock, backing up first."""
    return _migrate(settings, "down", target or "-1", backup=backup, on_progress=on_progress,
                    cancel=cancel)


def _migrate(settings: Settings, direction: Direction, target: str, *, backup: bool,
             on_progress: Progress | None, cancel: threading.Event | None) -> MigrationResult:
    log = _Log(on_progress)
    cfg = load_config(settings)
    script = script_directory(cfg)
    if direction == "up":
        _check_head_target(script, target)
    check_target(script, target, direction)
    vt = version_table(cfg)
    url, conn = _open_locked(settings, log, "migrate")
    database = str(url.database)
    try:
        current = _read_before(conn, vt, database)
        _check_known(script, current, database)
        steps = _plan(script, target, current, direction)
        if not steps:
            log(f"nothing to do: database {database} is already at {describe_revisions(current)}")
            return MigrationResult(direction, current, current, [], None, log.text())
        info: BackupInfo | None = None
        if backup:
            info = dump_database(url, settings.backups_dir,
                                 server_version_num=int(conn.server_version),
                                 revision=revision_label(current))
            log(f"backup written to {info.path}")
        else:
            log("no backup taken (--no-backup)")
        runner = _Runner(script, target, direction, steps, current, log, cancel=cancel)
        after = _run_online(cfg, script, url, conn, runner, target, vt, database)
        if runner.cancelled:
            log(f"database {database} is at {describe_revisions(after)}")
        else:
            verb = "upgraded" if direction == "up" else "downgraded"
            count = len(runner.applied)
            log(f"{verb} database {database} from {describe_revisions(current)} to "
                f"{describe_revisions(after)} ({count} revision{'s' if count != 1 else ''})")
        return MigrationResult(direction, current, after, runner.applied, info, log.text(cfg),
                               cancelled=runner.cancelled)
    finally:
        conn.close()  # no-op when Alembic's wrapper closed it; releases the lock either way


@contextlib.contextmanager
def _alembic_connection(cfg: Config, url: URL, conn: PgConnection) -> Iterator[Any]:
    """Our locked psycopg2 connection wrapped for SQLAlchemy and handed to env.py.

    Closing it at the end closes ``conn`` too, which releases the session-level lock.
    """
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    conn.autocommit = False  # Alembic manages one transaction per revision on it
    engine = create_engine(url, poolclass=NullPool, creator=lambda: conn)
    sa_conn = engine.connect()
    cfg.attributes["connection"] = sa_conn
    try:
        yield sa_conn
    finally:
        cfg.attributes.pop("connection", None)
        with contextlib.suppress(Exception):
            sa_conn.close()


def _read_before(conn: PgConnection, vt: str, database: str) -> tuple[str, ...]:
    """The version table before any change; a database error here is one clear line."""
    import psycopg2

    try:
        return read_revision(conn, vt)
    except psycopg2.Error as exc:
        cause = _db_error_text(exc)
        raise RfsetupError(f"cannot read the revision of database {database} ({vt}); "
                           "nothing was changed", cause=cause, hint=_failure_hint(cause),
                           kind="version_unreadable") from None


def _read_after(conn: PgConnection, vt: str) -> tuple[str, ...]:
    """The version table once Alembic is done (its transaction already ended)."""
    conn.rollback()
    conn.autocommit = True
    return read_revision(conn, vt)


def _run_online(cfg: Config, script: ScriptDirectory, url: URL, conn: PgConnection,
                runner: _Runner, target: str, vt: str, database: str) -> tuple[str, ...]:
    """Run env.py on our locked connection; the revisions after, or a precise error."""
    with _alembic_connection(cfg, url, conn) as sa_conn:
        try:
            _run_env(cfg, script, runner, destination_rev=target)
            if sa_conn.in_transaction():
                sa_conn.rollback()  # what Alembic's own CLI does with uncommitted leftovers
        except (Exception, KeyboardInterrupt) as exc:  # Ctrl-C mid-revision: say where we are
            with contextlib.suppress(Exception):
                sa_conn.rollback()
            raise _failure(exc, runner, conn, vt, database) from None
        return _read_after(conn, vt)


def _failure(exc: BaseException, runner: _Runner, conn: PgConnection, vt: str,
             database: str) -> RfsetupError:
    """"revision X failed; the database is at Y": both named, the cause in one line."""
    if isinstance(exc, RfsetupError):
        return exc
    try:
        conn.rollback()
        conn.autocommit = True
        now = describe_revisions(read_revision(conn, vt))
    except Exception:
        now = "unknown (the connection was lost; run rfsetup status)"
    interrupted = isinstance(exc, KeyboardInterrupt) or "due to user request" in str(exc)
    cause = "interrupted (Ctrl-C)" if isinstance(exc, KeyboardInterrupt) else _db_error_text(exc)
    hint = ("run rfsetup migrate up again to continue" if interrupted
            else _failure_hint(cause))
    step = runner.running
    if step is None:
        return RfsetupError(f"env.py failed before any revision ran; database {database} is at "
                            f"{now}", cause=cause, hint=hint, kind="migration_failed")
    rev = step.revision.revision
    doc = (step.revision.doc or "").strip()
    verb = "upgrade" if runner.direction == "up" else "downgrade"
    what = "was interrupted" if interrupted else f"failed to {verb}"
    return RfsetupError(
        f"revision {rev}{f' ({doc})' if doc else ''} {what}; it was rolled back and "
        f"database {database} is at {now}",
        cause=cause, hint=hint, kind="interrupted" if interrupted else "migration_failed")


def _db_error_text(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = _first_line(str(orig)) or type(orig).__name__
    code = getattr(orig, "pgcode", None)
    return f"{type(orig).__name__}: {text}" + (f" (SQLSTATE {code})" if code else "")


def _failure_hint(cause: str) -> str:
    if "lock timeout" in cause:
        return (f"another session holds a lock on a table this revision changes; retry when it "
                f"is quieter or raise {locking.ENV_LOCK_TIMEOUT} (e.g. 30s)")
    if "statement timeout" in cause:
        return f"a statement ran too long; raise {locking.ENV_STATEMENT_TIMEOUT} (e.g. 2h)"
    return ("fix the revision and run rfsetup migrate up again; the backup taken before the run "
            "is listed by: rfsetup backup list")


def _first_line(text: str) -> str:
    for line in (text or "").strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def stamp(settings: Settings, revision: str) -> MigrationResult:
    """Record ``revision`` as current without running any migration (under the lock).

    When the version table holds revisions this project does not know, they are replaced
    (Alembic's purge): that is the situation stamp exists to repair.
    """
    from alembic.util import CommandError, to_tuple

    log = _Log(None)
    cfg = load_config(settings)
    script = script_directory(cfg)
    for rev in to_tuple(revision):
        check_target(script, rev, "stamp")
    vt = version_table(cfg)
    url, conn = _open_locked(settings, log, "stamp")
    database = str(url.database)
    try:
        current = _read_before(conn, vt, database)
        unknown = unknown_revisions(script, current)
        dest = to_tuple(revision)
        try:
            planned = script._stamp_revs(dest, () if unknown else current)
        except CommandError as exc:
            raise bad_input(f"cannot stamp {revision!r}: {exc}",
                            hint="see the revisions with: rfsetup migrate history") from None
        if not planned and not unknown:
            log(f"nothing to do: database {database} is already at {describe_revisions(current)}")
            return MigrationResult("stamp", current, current, [], None, log.text())
        if unknown:
            log(f"replacing unknown revision(s) {', '.join(unknown)} in {vt}")

        def do_stamp(rev: Any, context: Any) -> list[Any]:
            return list(script._stamp_revs(dest, rev))

        with _alembic_connection(cfg, url, conn) as sa_conn:
            try:
                _run_env(cfg, script, do_stamp, destination_rev=dest, purge=bool(unknown))
            except Exception as exc:
                with contextlib.suppress(Exception):
                    sa_conn.rollback()
                raise RfsetupError(f"stamping {revision} failed; database {database} is "
                                   "unchanged", cause=_db_error_text(exc),
                                   kind="stamp_failed") from None
            after = _read_after(conn, vt)
        log(f"stamped database {database}: {describe_revisions(current)} -> "
            f"{describe_revisions(after)} (no migration ran)")
        return MigrationResult("stamp", current, after, [], None, log.text(cfg))
    finally:
        conn.close()
