"""Past-tense facts the workers post back to the UI thread, as typed dataclass messages.

A worker calls one core function and posts one of these; only message handlers change widgets.
Every message carries real core objects (StatusReport, CheckResult, Preview, ...), imported
here for the type checker only, so that importing this module never imports alembic,
sqlalchemy or a driver. ``StatusChanged`` marks the facts after which the live panel and the
step list must be brought up to date: the app handles them all in one place.

``eq=False``: a message is one event, compared by identity; ``repr=False``: Textual's own repr,
so a field holding a URL or a whole report stays out of debug logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.message import Message

from rfsetup.core.errors import RfsetupError

if TYPE_CHECKING:
    from rfsetup.core.alembic import LintFinding, MigrationResult, Preview, RevisionInfo
    from rfsetup.core.alembic.impact import Impact
    from rfsetup.core.backupfiles import BackupInfo
    from rfsetup.core.dbcreate import CreateOutcome
    from rfsetup.core.envfile import EnvFile
    from rfsetup.core.envmerge import DiskState
    from rfsetup.core.inspect import TableDescription, TableSummary
    from rfsetup.core.prereqs import CheckResult
    from rfsetup.core.provision import ProvisionResult
    from rfsetup.core.ready import Ready
    from rfsetup.core.recovery import Recovery
    from rfsetup.core.rehearsereport import RehearsalReport
    from rfsetup.core.restore import RestoreResult
    from rfsetup.core.restoreplan import RestorePlan
    from rfsetup.core.seeding import SeedReport
    from rfsetup.core.settings import Settings
    from rfsetup.core.status import StatusReport
    from rfsetup.tui.widgets.lines import DisplayLines


@dataclass(eq=False, repr=False)
class StatusChanged(Message):
    """A fact after which the step list is recomputed; ``refresh`` also re-reads the status
    now (the panel shows what the operation did), ``settings_changed`` the .env first."""

    #: re-read the live status right away
    refresh = False
    #: the .env changed: re-read the settings before the status
    settings_changed = False


@dataclass(eq=False, repr=False)
class StatusRefreshed(Message):
    """A fresh StatusReport was read (the live panel and the step list follow it)."""

    report: StatusReport
    #: the settings it was read with, when they were re-read (the .env changed)
    settings: Settings | None = field(default=None, kw_only=True)


@dataclass(eq=False, repr=False)
class OperationFailed(Message):
    """A core call raised; ``error`` is always an RfsetupError (never a traceback)."""

    operation: str
    error: RfsetupError
    #: shown in place (e.g. a status line) instead of an error modal
    silent: bool = field(default=False, kw_only=True)


# -- Prerequisites ---------------------------------------------------------------------------
@dataclass(eq=False, repr=False)
class CheckCompleted(Message):
    """One doctor check finished (they stream in as they complete)."""

    result: CheckResult


@dataclass(eq=False, repr=False)
class ChecksCompleted(StatusChanged):
    """The whole doctor run finished."""

    results: list[CheckResult]


# -- Environment -----------------------------------------------------------------------------
@dataclass(eq=False, repr=False)
class EnvLoaded(StatusChanged):
    """The .env file was read (``exists`` False when it is new)."""

    path: Path
    document: EnvFile
    exists: bool
    #: the file as it was read (stat and SHA-256): what later checks compare against
    state: DiskState | None = field(default=None, kw_only=True)


@dataclass(eq=False, repr=False)
class EnvSaved(StatusChanged):
    """The .env file was written atomically; ``changed`` lists (key, old, new), masked."""

    path: Path
    document: EnvFile
    changed: list[tuple[str, str, str]]
    #: the file as read back after the write (what later checks compare against)
    state: DiskState | None = field(default=None, kw_only=True)

    refresh = True
    settings_changed = True


# -- Database & role -------------------------------------------------------------------------
@dataclass(eq=False, repr=False)
class DatabaseProvisioned(StatusChanged):
    """provision() ran; ``env_written`` is the .env when DATABASE_URL was pointed there."""

    result: ProvisionResult
    env_written: Path | None
    #: the whole of what dbcreate.create_database did (DATABASE_URL as written, masked)
    outcome: CreateOutcome | None = field(default=None, kw_only=True)

    refresh = True

    @property
    def settings_changed(self) -> bool:  # type: ignore[override]
        return self.env_written is not None


# -- Migrations ------------------------------------------------------------------------------
@dataclass(eq=False, repr=False)
class HistoryLoaded(Message):
    """The revision history (newest first) was read."""

    revisions: list[RevisionInfo]
    current: tuple[str, ...]
    #: False: the database could not be read (``current`` is then not base, just unknown)
    known: bool = field(default=True, kw_only=True)


@dataclass(eq=False, repr=False)
class PreviewReady(Message):
    """The SQL for a move was rendered."""

    #: None when it could not be rendered; then ``error`` says why
    preview: Preview | None
    label: str
    #: the SQL already highlighted by the worker (widgets.sql_view.render_sql), if it did
    lines: DisplayLines | None = None
    error: RfsetupError | None = field(default=None, kw_only=True)
    #: what the move drops, with row estimates (None: not read, e.g. a stamp)
    impact: Impact | None = field(default=None, kw_only=True)


@dataclass(eq=False, repr=False)
class LintFinished(Message):
    """squawk looked at the previewed SQL."""

    preview: Preview
    findings: list[LintFinding]
    error: RfsetupError | None = None
    #: the SQL with the findings marked, highlighted by the worker, if it did
    lines: DisplayLines | None = None


@dataclass(eq=False, repr=False)
class MigrationProgressed(Message):
    """A line of Alembic's (or rfsetup's) output while a migration runs."""

    line: str


@dataclass(eq=False, repr=False)
class MigrationTicked(Message):
    """An elapsed-time update of a running tool (core.backups.ProgressTick): only the newest
    one matters, so a newer one replaces one still queued."""

    line: str

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, MigrationTicked)


@dataclass(eq=False, repr=False)
class MigrationApplied(StatusChanged):
    """An upgrade, downgrade or stamp finished."""

    operation: str
    result: MigrationResult

    refresh = True


@dataclass(eq=False, repr=False)
class MigrationFailed(StatusChanged):
    """A migration stopped with an error; ``current`` is where the database was left."""

    operation: str
    error: RfsetupError
    current: tuple[str, ...] | None

    refresh = True


# -- Seed ------------------------------------------------------------------------------------
@dataclass(eq=False, repr=False)
class SeedPlanned(StatusChanged):
    """What seeding would do (a SeedReport from a dry run) and the plans it would write."""

    report: SeedReport
    plans: list[dict[str, Any]]


@dataclass(eq=False, repr=False)
class SeedApplied(StatusChanged):
    """Seeding ran."""

    report: SeedReport

    refresh = True


# -- Verify ----------------------------------------------------------------------------------
@dataclass(eq=False, repr=False)
class TablesListed(StatusChanged):
    """``\\dt``: the tables, and the table names the models define (may be empty)."""

    tables: list[TableSummary]
    expected: list[str]
    #: the seed as the profile expects it (core.seeding.is_seeded; None: no seeds, or unknown)
    seeded: bool | None = field(default=None, kw_only=True)


@dataclass(eq=False, repr=False)
class TableDescribed(Message):
    """``\\d NAME``: one table's description."""

    description: TableDescription


# -- issue 12: support bundle, dev fixtures ----------------------------------------------------
@dataclass(eq=False, repr=False)
class SupportBundleWritten(Message):
    """The support bundle was written (rfsetup.core.bundle), to ``path``."""

    path: Path


@dataclass(eq=False, repr=False)
class DevSeedApplied(StatusChanged):
    """The dev fixtures were added (a rfsetup.core.devseed.DevSeedReport)."""

    report: Any

    refresh = True


# -- The incident path: progress, backups in the TUI (quit: see screens.migrations) ----------
@dataclass(eq=False, repr=False)
class MigrationStepped(Message):
    """Revision ``index`` of ``total`` started (run_in_child's ``on_step``)."""

    index: int
    total: int
    revision: str

    def can_replace(self, message: Message) -> bool:
        # hundreds a second on a long run: only the newest one still queued matters
        return isinstance(message, MigrationStepped)


@dataclass(eq=False, repr=False)
class BackupsListed(Message):
    """The backups folder was read (newest first)."""

    backups: list[BackupInfo]
    error: RfsetupError | None = None


@dataclass(eq=False, repr=False)
class BackupChecked(Message):
    """One backup's file was checked against its sidecar: ``verified`` True (SHA-256 matches),
    None (no sidecar or checksum: unverified), False (changed or unreadable)."""

    path: Path
    verified: bool | None
    detail: str


@dataclass(eq=False, repr=False)
class RestorePlanned(Message):
    """What restoring ``path`` would replace; ``error`` what the core refuses, and why."""

    path: Path
    plan: RestorePlan | None
    error: RfsetupError | None = None


@dataclass(eq=False, repr=False)
class RestoreProgressed(Message):
    """A line of a running restore; ``tick`` an elapsed-time update of the previous one."""

    line: str
    tick: bool = False

    def can_replace(self, message: Message) -> bool:
        return self.tick and isinstance(message, RestoreProgressed) and message.tick


@dataclass(eq=False, repr=False)
class BackupRestored(StatusChanged):
    """A restore ended: ``result`` when it was done, ``error`` when it was refused or failed."""

    path: Path
    result: RestoreResult | None
    error: RfsetupError | None = None

    refresh = True


@dataclass(eq=False, repr=False)
class TargetsRead(Message):
    """``rfsetup status --all``'s text (every environment beside the .env) was read."""

    text: str


# -- Rehearse and recover (modals of their own, opened from Migrations) ------------------------
@dataclass(eq=False, repr=False)
class RehearsalProgressed(Message):
    """A line of a running rehearsal's progress (copying, each revision, dropping)."""

    line: str


@dataclass(eq=False, repr=False)
class RehearsalFinished(Message):
    """The rehearsal ended with its report (the copy dropped)."""

    report: RehearsalReport


@dataclass(eq=False, repr=False)
class RehearsalFailed(Message):
    """The rehearsal could not run, or was interrupted (the copy dropped)."""

    error: RfsetupError


@dataclass(eq=False, repr=False)
class RecoveryDiagnosed(Message):
    """What migrate recover found: the unknown revision's branch and the ways out, or a
    half-applied head (``recovery`` None when it could not be read: ``error``)."""

    recovery: Recovery | None
    error: RfsetupError | None = None


# -- Environment: the file changed on disk (the newcomer's .env safety net) -----------------------
@dataclass(eq=False, repr=False)
class EnvChangedOnDisk(Message):
    """The .env on disk is no longer what the form loaded (another editor, `rfsetup env set`,
    step 3 writing DATABASE_URL). ``saving``: found while saving, which waits for the merge."""

    path: Path
    document: EnvFile
    state: DiskState
    saving: bool = False


@dataclass(eq=False, repr=False)
class EnvSaveChecked(Message):
    """Before the list of changes is shown: the .env as it is on disk right now."""

    path: Path
    document: EnvFile
    state: DiskState


# -- the end of the guided setup -----------------------------------------------------------------
@dataclass(eq=False, repr=False)
class ReadyRead(Message):
    """Every step is done: what the setup has (core.ready.readiness), for the ready summary."""

    ready: Ready


@dataclass(eq=False, repr=False)
class BackupsPruned(Message):
    """Old backups were removed (``removed``), or ``error`` says why not."""

    removed: list[BackupInfo]
    error: RfsetupError | None = None
