"""Past-tense facts the workers post back to the UI thread.

A worker calls one core function and posts one of these; only message handlers change widgets.
Every message carries real core objects (StatusReport, CheckResult, Preview, ...), typed loosely
here so that importing this module never imports alembic, sqlalchemy or a driver.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.message import Message

from rfsetup.core.errors import RfsetupError


class StatusRefreshed(Message):
    """A fresh StatusReport was read (the live panel and the step list follow it)."""

    def __init__(self, report: Any, *, settings: Any | None = None) -> None:
        super().__init__()
        self.report = report
        #: the settings it was read with, when they were re-read (the .env changed)
        self.settings = settings


class OperationFailed(Message):
    """A core call raised; ``error`` is always an RfsetupError (never a traceback)."""

    def __init__(self, operation: str, error: RfsetupError, *, silent: bool = False) -> None:
        super().__init__()
        self.operation = operation
        self.error = error
        #: shown in place (e.g. a status line) instead of an error modal
        self.silent = silent


# -- Prerequisites ---------------------------------------------------------------------------
class CheckCompleted(Message):
    """One doctor check finished (they stream in as they complete)."""

    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result


class ChecksCompleted(Message):
    """The whole doctor run finished."""

    def __init__(self, results: list[Any]) -> None:
        super().__init__()
        self.results = results


# -- Environment -----------------------------------------------------------------------------
class EnvLoaded(Message):
    """The .env file was read (``document`` is an envfile.EnvFile; ``exists`` False when new)."""

    def __init__(self, path: Path, document: Any, exists: bool) -> None:
        super().__init__()
        self.path = path
        self.document = document
        self.exists = exists


class EnvSaved(Message):
    """The .env file was written atomically; ``changed`` lists (key, old, new), masked."""

    def __init__(self, path: Path, document: Any, changed: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.path = path
        self.document = document
        self.changed = changed


# -- Database & role -------------------------------------------------------------------------
class DatabaseProvisioned(Message):
    """provision() ran: ``result`` is a ProvisionResult; ``env_written`` when .env was updated."""

    def __init__(self, result: Any, env_written: Path | None) -> None:
        super().__init__()
        self.result = result
        self.env_written = env_written


# -- Migrations ------------------------------------------------------------------------------
class HistoryLoaded(Message):
    """The revision history (list[RevisionInfo], newest first) was read."""

    def __init__(self, revisions: list[Any], current: tuple[str, ...]) -> None:
        super().__init__()
        self.revisions = revisions
        self.current = current


class PreviewReady(Message):
    """The SQL for a move was rendered (``preview`` is a migrations.Preview)."""

    def __init__(self, preview: Any, label: str, lines: list[Any] | None = None, *,
                 error: RfsetupError | None = None) -> None:
        super().__init__()
        #: None when it could not be rendered; then ``error`` says why
        self.preview = preview
        self.error = error
        self.label = label
        #: the SQL already highlighted by the worker (widgets.sql_view.render_sql), if it did
        self.lines = lines


class LintFinished(Message):
    """squawk looked at the previewed SQL (``findings`` is list[LintFinding])."""

    def __init__(self, preview: Any, findings: list[Any], error: RfsetupError | None = None,
                 lines: list[Any] | None = None) -> None:
        super().__init__()
        self.preview = preview
        self.findings = findings
        self.error = error
        #: the SQL with the findings marked, highlighted by the worker, if it did
        self.lines = lines


class MigrationProgressed(Message):
    """A line of Alembic's (or rfsetup's) output while a migration runs."""

    def __init__(self, line: str) -> None:
        super().__init__()
        self.line = line


class MigrationApplied(Message):
    """An upgrade, downgrade or stamp finished (``result`` is a MigrationResult)."""

    def __init__(self, operation: str, result: Any) -> None:
        super().__init__()
        self.operation = operation
        self.result = result


class MigrationFailed(Message):
    """A migration stopped with an error; ``current`` is where the database was left."""

    def __init__(self, operation: str, error: RfsetupError, current: tuple[str, ...] | None
                 ) -> None:
        super().__init__()
        self.operation = operation
        self.error = error
        self.current = current


# -- Seed ------------------------------------------------------------------------------------
class SeedPlanned(Message):
    """What seeding would do (a SeedReport from a dry run) and the plans it would write."""

    def __init__(self, report: Any, plans: list[dict[str, Any]]) -> None:
        super().__init__()
        self.report = report
        self.plans = plans


class SeedApplied(Message):
    """Seeding ran (a SeedReport)."""

    def __init__(self, report: Any) -> None:
        super().__init__()
        self.report = report


# -- Verify ----------------------------------------------------------------------------------
class TablesListed(Message):
    """``\\dt``: list[TableSummary], and the table names the models define (may be empty)."""

    def __init__(self, tables: list[Any], expected: list[str]) -> None:
        super().__init__()
        self.tables = tables
        self.expected = expected


class TableDescribed(Message):
    """``\\d NAME``: a TableDescription."""

    def __init__(self, description: Any) -> None:
        super().__init__()
        self.description = description
