"""The SQL a move would run, from the database's current revision, without running it.

env.py runs in offline (``--sql``) mode from the current revision, so the text is exactly what
the run would send. A revision that needs a live database to decide what to do
(``op.get_bind().execute(...)``) has no offline SQL: it is named (id, message, the file and
line of the call), its ``upgrade()``/``downgrade()`` source is shown in place of its SQL, and the
revisions after it are rendered by starting offline mode again just past it, so such a move can
still be read, confirmed and run.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import os
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rfsetup.core.alembic import planning
from rfsetup.core.alembic.observe import Observation, Watch, project_env_py, run_env
from rfsetup.core.alembic.project import AlembicProject
from rfsetup.core.errors import RfsetupError
from rfsetup.core.versiontable import describe_revisions

NO_OFFLINE = "has no offline SQL"


@dataclass(frozen=True)
class PreviewStep:
    """What one revision would run: its SQL, or (``offline`` False) its Python source."""

    revision: str
    message: str
    sql: str
    offline: bool = True
    #: why it has no offline SQL, and where (``path:line: code``)
    reason: str | None = None
    location: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class Preview:
    """The SQL from the database's current revision to ``target``; ``sql`` is the whole text."""

    direction: str
    from_revisions: tuple[str, ...]
    #: where the database ends, for people (``r2``, ``a, b`` or ``base``)
    target: str
    steps: list[PreviewStep]
    sql: str
    to_revisions: tuple[str, ...] = ()
    #: each revision is its own transaction (env.py's transaction_per_migration)
    per_migration: bool = True
    version_table: str = "alembic_version"

    @property
    def offline_gaps(self) -> list[PreviewStep]:
        return [s for s in self.steps if not s.offline]

    def to_json(self) -> dict[str, Any]:
        return {"direction": self.direction, "from_revisions": list(self.from_revisions),
                "target": self.target, "to_revisions": list(self.to_revisions),
                "per_migration": self.per_migration,
                "steps": [{"revision": s.revision, "message": s.message, "sql": s.sql,
                           "offline": s.offline, "reason": s.reason, "location": s.location,
                           "source": s.source} for s in self.steps],
                "sql": self.sql}


@dataclass
class _Offline:
    """The work function for one offline run: yields steps, marking where each one's SQL
    starts in the output buffer."""

    steps: Sequence[Any]
    buffer: io.StringIO
    marks: list[int] = field(default_factory=list)
    running: int | None = None

    def __call__(self, _heads: Any, _context: Any) -> Iterator[Any]:
        for index, step in enumerate(self.steps):
            self.running = index
            self.marks.append(self.buffer.tell())
            yield step
        self.running = None


def render(project: AlembicProject, kind: planning.Kind, target: str,
           current: tuple[str, ...], steps: list[Any], *,
           observation: Observation | None = None) -> Preview:
    """The offline SQL of ``steps`` from ``current`` (no database needed), with the version
    table and transaction mode env.py was observed to use online."""
    force = _forced(observation)
    to = planning.heads_after(project, kind, current, steps)
    pieces: list[str] = []
    out: list[PreviewStep] = []
    heads = current
    index = 0
    while index < len(steps):
        chunk = steps[index:]
        text, marks, failed, exc = _run_offline(project, kind, chunk, heads, target, force)
        bounds = [*marks[1:], len(text)]
        done = len(marks) if failed is None else failed
        if marks:
            pieces.append(text[:marks[0]])
        for step, start, end in list(zip(chunk, marks, bounds, strict=False))[:done]:
            out.append(PreviewStep(_rev(step), _doc(step), text[start:end]))
            pieces.append(text[start:end])
        if exc is None:
            if not marks:
                pieces.append(text)
            break
        if failed is None:
            if marks:  # every revision rendered, then env.py failed: not a revision's doing
                raise RfsetupError("generating the SQL failed after the last revision "
                                   "(offline mode of env.py)", cause=_first_line(str(exc)),
                                   kind="preview_failed")
            # env.py's offline mode fails before any revision: show each one's Python
            out += [_gap(project, kind, step, exc) for step in chunk]
            pieces += [gap.sql for gap in out[-len(chunk):]]
            break
        gap = _gap(project, kind, chunk[failed], exc)
        out.append(gap)
        pieces.append(gap.sql)
        heads = planning.heads_after(project, kind, heads, chunk[:failed + 1])
        index += failed + 1
    return Preview(kind, tuple(current), describe_revisions(to), out, "".join(pieces), to,
                   force.get("transaction_per_migration", True),
                   observation.version_table.qualified if observation else "alembic_version")


def _forced(observation: Observation | None) -> dict[str, Any]:
    if observation is None:
        return {}
    return {"version_table": observation.version_table.name,
            "version_table_schema": observation.version_table.schema,
            "transaction_per_migration": observation.transaction_per_migration}


def render_stamp(project: AlembicProject, revision: str, current: tuple[str, ...],
                 observation: Observation) -> Preview:
    """What a stamp writes, as Alembic's offline stamp renders it for env.py's version table.

    Offline mode cannot start from revisions the scripts lack (the purge case), so then the
    replacement is described instead of rendered.
    """
    steps = planning.alembic_steps(project, "stamp", revision, current)
    vt = observation.version_table.qualified
    to = planning.heads_after(project, "stamp", () if project.unknown(current) else current,
                              steps)
    if project.unknown(current):
        text = (f"-- the version table {vt} holds revisions these scripts lack "
                f"({', '.join(project.unknown(current))}):\n-- its rows are deleted and "
                f"{describe_revisions(to)} recorded; no schema change\n")
    elif not steps:
        text = ""
    else:
        text, _marks, _failed, exc = _run_offline(project, "stamp", steps, current, revision,
                                                  _forced(observation))
        if exc is not None:
            raise RfsetupError("generating the stamp SQL failed (offline mode of env.py)",
                               cause=f"{type(exc).__name__}: {_first_line(str(exc))}",
                               kind="preview_failed")
        text = "-- no schema change: only the recorded revision\n" + text
    step = PreviewStep(describe_revisions(to), "stamp", text)
    return Preview("stamp", tuple(current), describe_revisions(to), [step] if text else [],
                   text, to, observation.transaction_per_migration, vt)


def _run_offline(project: AlembicProject, kind: planning.Kind, steps: Sequence[Any],
                 heads: tuple[str, ...], target: str, force: dict[str, Any]
                 ) -> tuple[str, list[int], int | None, BaseException | None]:
    """One offline run: (text, marks, index of the failing step or None, the exception)."""
    buffer = io.StringIO()
    runner = _Offline(steps, buffer)
    project.config.output_buffer = buffer
    try:
        run_env(project, runner, Watch(project_env_py(project)), force=force, as_sql=True,
                starting_rev=list(heads) or None, destination_rev=target)
    except RfsetupError:
        raise
    except Exception as exc:
        return buffer.getvalue(), runner.marks, runner.running, exc
    finally:
        project.config.output_buffer = None
    return buffer.getvalue(), runner.marks, None, None


def _rev(step: Any) -> str:
    return str(step.revision.revision)


def _doc(step: Any) -> str:
    return (step.revision.doc or "").strip()


def _gap(project: AlembicProject, kind: planning.Kind, step: Any, exc: BaseException | None
         ) -> PreviewStep:
    """A revision without offline SQL: where it needs the database, and its Python."""
    sc = step.revision
    fn_name = "downgrade" if kind == "down" else "upgrade"
    reason = f"{type(exc).__name__}: {_first_line(str(exc))}" if exc is not None else \
        "env.py's offline mode failed"
    location = _location(exc, Path(sc.path)) if exc is not None else None
    try:
        source = inspect.getsource(getattr(sc.module, fn_name))
    except (AttributeError, OSError, TypeError):
        source = f"(the source of {fn_name}() cannot be read from {sc.path})"
    lines = [f"-- ==== revision {sc.revision} ({_doc(step)}) {NO_OFFLINE}: it needs a live "
             "database",
             f"--   {reason}"]
    if location:
        lines.append(f"--   at {location}")
    lines.append(f"-- its {fn_name}() runs this Python:")
    lines += [f"--   {line}" if line else "--" for line in source.rstrip().splitlines()]
    lines.append(f"-- ==== end of revision {sc.revision}")
    return PreviewStep(sc.revision, _doc(step), "\n".join(lines) + "\n", offline=False,
                       reason=reason, location=location, source=source)


def _location(exc: BaseException, path: Path) -> str | None:
    """``file:line: code`` of the deepest frame in the revision file."""
    target = os.path.realpath(path)
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        with contextlib.suppress(OSError):
            if os.path.realpath(frame.filename) == target:
                found = frame
    if found is None:
        return None
    try:
        shown = os.path.relpath(found.filename)
    except ValueError:
        shown = found.filename
    return f"{shown}:{found.lineno}: {(found.line or '').strip()}"


def _first_line(text: str) -> str:
    for line in (text or "").strip().splitlines():
        if line.strip():
            return line.strip()
    return ""
