"""Alembic, in-process, observed rather than assumed: history, preview, upgrade, downgrade, stamp.

Everything goes through Alembic's Python API on an ``AlembicProject`` (``project``), and what
the project's env.py really does — which connection it migrates on, which version table it
uses, whether each revision is its own transaction — is learned by running it under
instrumentation (``observe``), never read off alembic.ini. Moves are planned before anyone
confirms them (``planning``) and run compare-and-swap under the migration lock (``runner``);
previews are Alembic's offline SQL from the current revision (``sqlpreview``), linted by
squawk (``squawk``); the history's rows are ``revisions``. Those three are loaded when first
used (the names here that come from them too): an upgrade needs none of them.

The functions here take a Settings object, like Alembic's own ``command`` module takes a Config.
Alembic and SQLAlchemy are imported inside functions: ``rfsetup --help`` does not pay for them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import msgspec

from rfsetup.core.alembic import planning
from rfsetup.core.alembic.observe import Observation, cached_observation, identify, observed
from rfsetup.core.alembic.planning import Move, Plan, check_target, describe_move
from rfsetup.core.alembic.project import AlembicProject
from rfsetup.core.alembic.runner import MigrationResult, run
from rfsetup.core.errors import RfsetupError
from rfsetup.core.settings import Settings
from rfsetup.core.versiontable import (
    DEFAULT_VERSION_TABLE,
    VersionTable,
    describe_revisions,
    read_revision,
)

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection

    from rfsetup.core.alembic.revisions import RevisionInfo, history_of
    from rfsetup.core.alembic.sqlpreview import Preview, PreviewStep
    from rfsetup.core.alembic.squawk import LintFinding

__all__ = [
    "AlembicProject", "LintFinding", "MigrationResult", "Move", "Observation", "Plan", "Preview",
    "PreviewStep", "RevisionInfo", "check_target", "current_revisions", "describe_move",
    "describe_revisions", "downgrade", "heads", "history", "history_of", "lint", "load",
    "parse_revisions", "plan", "preview", "reading", "stamp", "stamp_preview", "upgrade",
    "version_table",
]

Progress = Callable[[str], None]

#: loaded when first used: an upgrade needs neither the preview, the linter nor the history
#: (their modules and dataclasses are a tenth of what rfsetup adds to ``alembic upgrade``)
_LAZY = {"RevisionInfo": "revisions", "history_of": "revisions", "Preview": "sqlpreview",
         "PreviewStep": "sqlpreview", "LintFinding": "squawk"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def lint(preview: Preview, **kwargs: Any) -> list[LintFinding]:
    """squawk's findings on a preview's SQL (``rfsetup.core.alembic.squawk.lint``)."""
    from rfsetup.core.alembic.squawk import lint as run_squawk

    return run_squawk(preview, **kwargs)


def load(settings: Settings) -> AlembicProject:
    """The project of ``settings.alembic_ini`` (bad input, exit 2, when it cannot be read)."""
    return AlembicProject.load(settings)


def heads(settings: Settings) -> list[str]:
    """The head revisions of the project's scripts (several when branches are unmerged)."""
    return list(load(settings).graph().heads)


class Reading(msgspec.Struct):
    """A read-only look at the target: the project, a connection, env.py's observation and
    the revisions its version table holds."""

    project: AlembicProject
    conn: PgConnection
    observation: Observation
    current: tuple[str, ...]


@contextlib.contextmanager
def reading(settings: Settings, project: AlembicProject | None = None) -> Iterator[Reading]:
    """Connect (diagnosed failures, exit 3), observe env.py (cached), read the revision."""
    from rfsetup.core.connect import connection

    project = project or load(settings)
    url = settings.url()
    with connection(url, autocommit=True) as conn:
        seen = observed(project, url, conn, identify(conn))
        yield Reading(project, conn, seen, read_revision(conn, seen.version_table))


def current_revisions(settings: Settings, project: AlembicProject | None = None
                      ) -> tuple[str, ...]:
    """The revisions the database is at (empty at base), from the version table env.py uses."""
    with reading(settings, project) as r:
        return r.current


def version_table(settings: Settings) -> VersionTable:
    """The version table env.py uses: observed when possible, else the last observation,
    else Alembic's default (also when there is no usable project: backups of a database
    outside one are labelled from the default table)."""
    try:
        project = load(settings)
    except RfsetupError:
        return VersionTable(DEFAULT_VERSION_TABLE)
    with contextlib.suppress(RfsetupError), reading(settings, project) as r:
        return r.observation.version_table
    seen = cached_observation(project)
    return seen.version_table if seen else VersionTable(DEFAULT_VERSION_TABLE)


def history(settings: Settings, current: tuple[str, ...] | None = None) -> list[RevisionInfo]:
    """Every revision, newest first, marked; ``current=None`` reads the database's (raises the
    diagnosed error when it cannot)."""
    from rfsetup.core.alembic.revisions import history_of

    project = load(settings)
    if current is None:
        current = current_revisions(settings, project)
    return history_of(project.graph(), current)


def plan(settings: Settings, target: str | None = None, *, down: bool = False,
         kind: planning.Kind | None = None) -> Plan:
    """The move to ``target`` resolved against the database now: from and to revisions and the
    steps. What a confirmation shows, and what ``upgrade``/``downgrade``/``stamp`` take as
    ``plan=`` to run exactly that."""
    kind = kind or ("down" if down else "up")
    target = _default_target(kind, target)
    project = load(settings)
    check_target(project, target, kind)
    with reading(settings, project) as r:
        return planning.make_plan(project, kind, target, r.current)[0]


def preview(settings: Settings, target: str | None = None, *, down: bool = False) -> Preview:
    """Exactly the SQL an upgrade (or ``down``grade) to ``target`` would run from the database's
    current revision. Reads the current revision; changes nothing."""
    from rfsetup.core.alembic.sqlpreview import render

    kind: planning.Kind = "down" if down else "up"
    target = _default_target(kind, target)
    project = load(settings)
    check_target(project, target, kind)
    with reading(settings, project) as r:
        current, seen = r.current, r.observation
    _, steps = planning.make_plan(project, kind, target, current)
    return render(project, kind, target, current, steps, observation=seen)


def stamp_preview(settings: Settings, revision: str) -> Preview:
    """The SQL a stamp writes to the version table, from Alembic's own offline stamp."""
    from rfsetup.core.alembic.sqlpreview import render_stamp

    project = load(settings)
    check_target(project, revision, "stamp")
    with reading(settings, project) as r:
        return render_stamp(project, revision, r.current, r.observation)


def _default_target(kind: planning.Kind, target: str | None) -> str:
    if target is None:
        return {"up": "head", "down": "-1"}.get(kind, "")
    return target


def upgrade(settings: Settings, target: str = "head", *, backup: bool = True,
            on_progress: Progress | None = None, cancel: threading.Event | None = None,
            plan: Plan | None = None, expect_from: tuple[str, ...] | None = None,
            confirmed_from: tuple[str, ...] | None = None,
            on_step: Callable[[int, int, str], None] | None = None) -> MigrationResult:
    """Upgrade to ``target`` (default head) under the migration lock, backing up first."""
    return run(settings, "up", target, plan=plan, expect_from=expect_from,
               confirmed_from=confirmed_from, backup=backup, on_progress=on_progress,
               cancel=cancel, on_step=on_step)


def downgrade(settings: Settings, target: str = "-1", *, backup: bool = True,
              on_progress: Progress | None = None, cancel: threading.Event | None = None,
              plan: Plan | None = None, expect_from: tuple[str, ...] | None = None,
              confirmed_from: tuple[str, ...] | None = None,
              on_step: Callable[[int, int, str], None] | None = None) -> MigrationResult:
    """Downgrade to ``target`` (default one step) under the migration lock, backing up first."""
    return run(settings, "down", target, plan=plan, expect_from=expect_from,
               confirmed_from=confirmed_from, backup=backup, on_progress=on_progress,
               cancel=cancel, on_step=on_step)


def stamp(settings: Settings, revision: str, *, plan: Plan | None = None,
          expect_from: tuple[str, ...] | None = None,
          confirmed_from: tuple[str, ...] | None = None,
          on_progress: Progress | None = None,
          cancel: threading.Event | None = None) -> MigrationResult:
    """Record ``revision`` as current without running any migration (under the lock); a
    ``cancel`` set before the version table is written stops it (``cancelled``).

    When the version table holds revisions this project does not know, they are replaced
    (Alembic's purge): that is the situation stamp exists to repair.
    """
    return run(settings, "stamp", revision, plan=plan, expect_from=expect_from,
               confirmed_from=confirmed_from, backup=False, on_progress=on_progress,
               cancel=cancel)


def parse_revisions(text: str) -> tuple[str, ...]:
    """``--from`` as given: ``base`` (or empty) is no revision, ``a,b`` two heads."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    return () if parts in ([], ["base"]) else tuple(sorted(parts))
