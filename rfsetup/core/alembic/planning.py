"""Targets to plans: which revisions a move runs, resolved before anyone confirms it.

A ``Plan`` names the revisions the database was at when it was made (``from_revisions``), where
it ends (``to_revisions``) and every revision it runs. The runner executes a plan only if, under
the migration lock, the database is still exactly at ``from_revisions`` and the scripts still
give the same steps: what was confirmed is what runs. ``describe_move`` is the one sentence the
CLI and the TUI use for a move; ``move_to`` is what selecting a revision in the TUI means.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from rfsetup.core.errors import RfsetupError, bad_input
from rfsetup.core.revgraph import ancestors
from rfsetup.core.versiontable import describe_revisions

if TYPE_CHECKING:
    from rfsetup.core.alembic.project import AlembicProject

Kind = Literal["up", "down", "stamp"]
_RELATIVE = re.compile(r"^(?P<base>.*?)(?P<sign>[+-])(?P<steps>\d+)$")
_VERB = {"up": ("upgrade", "upgraded"), "down": ("downgrade", "downgraded"),
         "stamp": ("stamp", "stamped")}


def count_text(count: int, noun: str = "revision") -> str:
    """``1 revision``, ``3 revisions``."""
    return f"{count} {noun}{'s' if count != 1 else ''}"


def describe_move(kind: Kind, database: str, frm: Iterable[str], to: Iterable[str],
                  count: int, *, done: bool = False) -> str:
    """``upgrade database D from A to B (2 revisions)``; ``done`` gives the past tense."""
    verb = _VERB[kind][1 if done else 0]
    tail = ("no migration ran" if done else "no migration runs") if kind == "stamp" \
        else count_text(count)
    return (f"{verb} database {database} from {describe_revisions(frm)} to "
            f"{describe_revisions(to)} ({tail})")


class PlannedStep(msgspec.Struct, frozen=True):
    revision: str
    message: str


class Plan(msgspec.Struct, frozen=True):
    """A move resolved against the database's revisions at planning time."""

    kind: Kind
    #: the target as asked (``-1``, ``head``, a revision id)
    target: str
    database: str
    from_revisions: tuple[str, ...]
    to_revisions: tuple[str, ...]
    steps: tuple[PlannedStep, ...]

    @property
    def empty(self) -> bool:
        return not self.steps and set(self.from_revisions) == set(self.to_revisions)

    def describe(self) -> str:
        return describe_move(self.kind, self.database, self.from_revisions, self.to_revisions,
                             len(self.steps))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "database": self.database,
                "from_revisions": list(self.from_revisions),
                "to_revisions": list(self.to_revisions),
                "steps": [{"revision": s.revision, "message": s.message} for s in self.steps]}


def check_target(project: AlembicProject, target: str, kind: Kind) -> None:
    """Refuse a target that cannot name a revision before anything connects or locks (exit 2).

    Relative targets (``-1``, ``+2``, ``head-1``) are resolved against the database later; here
    only their direction and their anchor are checked. An empty target is never a default: a
    script with an unset variable must not act.
    """
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    if not target or not target.strip():
        raise bad_input(f"an empty target was given to {_command(kind)}; nothing was changed",
                        hint="name the revision (rfsetup migrate history), or leave the "
                             "argument out for the default")
    if kind == "up":
        _check_head_target(project, target)
    anchor = target
    match = _RELATIVE.match(target)
    if match:
        # "rev@-1" / "branch@-1": the anchor is what stands before the "@"
        sign, anchor = match["sign"], match["base"].removesuffix("@")
        if kind == "stamp":
            raise bad_input(f"stamp needs a revision, not a relative step ({target!r})",
                            hint="see the revisions with: rfsetup migrate history")
        if not anchor and (sign == "-") != (kind == "down"):
            other = "down" if kind == "up" else "up"
            raise bad_input(f"migrate {kind} cannot go {sign}{match['steps']} revisions",
                            hint=f"use: rfsetup migrate {other} {sign}{match['steps']}")
    if not anchor or anchor in ("base", "heads", "head"):
        return
    try:
        project.script.revision_map.get_revisions(anchor)
    except (CommandError, RevisionError) as exc:
        raise bad_input(f"no revision {target!r} in this project",
                        cause=str(exc).splitlines()[0],
                        hint="see the revisions with: rfsetup migrate history") from None


def _command(kind: Kind) -> str:
    return f"rfsetup migrate {kind}"


def _check_head_target(project: AlembicProject, target: str) -> None:
    """``head`` with several heads is ambiguous: name them and say what to do instead."""
    if target != "head":
        return
    found = project.heads()
    if len(found) > 1:
        names = ", ".join(found)
        raise bad_input(
            f"the project has {len(found)} heads ({names}): 'head' is ambiguous",
            hint=f"upgrade every branch with: rfsetup migrate up heads — or merge them first: "
                 f"alembic merge -m 'merge heads' {' '.join(found)}")


def check_known(project: AlembicProject, current: Sequence[str]) -> None:
    """The database is at a revision these scripts lack: say so (nothing can be planned)."""
    unknown = project.unknown(current)
    if unknown:
        raise unknown_revision_error(unknown, project.database)


def unknown_revision_error(unknown: Sequence[str], database: str | None) -> RfsetupError:
    return RfsetupError(
        f"database {database or '(unknown)'} is at revision {', '.join(unknown)}, which this "
        "project's migration scripts do not contain",
        hint="check that -c points at the right alembic.ini and that the code is up to "
             "date (git pull); after a branch switch, rfsetup migrate recover finds the "
             "branch that has it and the ways out; if you know the schema matches a "
             "revision: rfsetup migrate stamp REV",
        kind="unknown_revision")


def alembic_steps(project: AlembicProject, kind: Kind, target: str,
                  current: tuple[str, ...]) -> list[Any]:
    """Alembic's RevisionSteps from ``current`` to ``target`` (bad targets: exit 2)."""
    from alembic.util import CommandError, to_tuple

    script = project.script
    try:
        if kind == "stamp":
            unknown = project.unknown(current)
            return list(script._stamp_revs(to_tuple(target), () if unknown else current))
        if kind == "down":
            if not current:
                return []
            return list(script._downgrade_revs(target, current))  # type: ignore[arg-type]
        return list(script._upgrade_revs(target, current))  # type: ignore[arg-type]
    except CommandError as exc:
        text = str(exc)
        if "ambiguous" in text.lower() or "multiple" in text.lower():
            hint = (f"the database is at {describe_revisions(current)}; name the revision "
                    "to go to (rfsetup migrate history)")
        else:
            hint = "see the revisions with: rfsetup migrate history"
        verb = {"up": "upgrade", "down": "downgrade", "stamp": "stamp"}[kind]
        raise bad_input(f"cannot {verb} to {target!r}: {text}", hint=hint) from None


def heads_after(project: AlembicProject, kind: Kind, current: Sequence[str],
                steps: Sequence[Any]) -> tuple[str, ...]:
    """Where the version table ends up after ``steps`` (as Alembic's HeadMaintainer does)."""
    parents = project.graph().parents
    result = set(current)
    if kind == "up":
        # each applied revision replaces every head it descends from, so what is left is the
        # current heads and applied revisions that are no applied revision's ancestor: one
        # walk of the graph (a walk per step was quadratic: 0.5 s for 1,010 revisions)
        applied = [step.revision.revision for step in steps]
        below = ancestors(parents, [p for rev in applied for p in parents.get(rev, ())])
        return tuple(sorted((result | set(applied)) - below))
    for step in steps:
        if kind == "stamp":
            result -= set(getattr(step, "from_revisions", ()) or ())
            result |= set(getattr(step, "to_revisions", ()) or ())
            continue
        rev = step.revision.revision  # down
        result.discard(rev)
        for parent in parents.get(rev, ()):
            if not any(parent in ancestors(parents, [h]) for h in result):
                result.add(parent)
    return tuple(sorted(result))


def step_ids(kind: Kind, steps: Sequence[Any]) -> tuple[str, ...]:
    if kind == "stamp":
        return tuple(",".join(getattr(s, "to_revisions", ()) or ()) for s in steps)
    return tuple(s.revision.revision for s in steps)


def make_plan(project: AlembicProject, kind: Kind, target: str, current: tuple[str, ...]
              ) -> tuple[Plan, list[Any]]:
    """The plan from ``current`` to ``target`` and Alembic's steps for it."""
    if kind != "stamp":
        check_known(project, current)
    steps = alembic_steps(project, kind, target, current)
    to = heads_after(project, kind, () if kind == "stamp" and project.unknown(current)
                     else current, steps)
    if kind == "stamp":
        planned = tuple(PlannedStep(rev, "") for rev in step_ids(kind, steps))
    else:
        planned = tuple(PlannedStep(s.revision.revision, (s.revision.doc or "").strip())
                        for s in steps)
    return Plan(kind, target, project.database, tuple(current), to, planned), steps


# -- what selecting a revision means (the TUI) -----------------------------------------------
BASE = "<base>"


class Move(msgspec.Struct, frozen=True):
    """What a key would do: ``kind`` up / down / stamp to ``target`` (an Alembic target)."""

    kind: Kind
    target: str
    label: str

    @property
    def needs_confirmation(self) -> bool:
        return self.kind in ("down", "stamp")


UPGRADE_HEAD = Move("up", "head", "upgrade to head")
DOWN_ONE = Move("down", "-1", "roll back one step (-1)")
DOWN_BASE = Move("down", "base", "roll back everything (to base)")


def move_to(parents: Mapping[str, Sequence[str]], heads: Sequence[str],
            current: Sequence[str], selected: str) -> Move | None:
    """The move from ``current`` to the ``selected`` revision (None: already there)."""
    if selected == BASE:
        return DOWN_BASE if current else None
    if selected in current:
        return None
    if list(heads) == [selected]:
        return UPGRADE_HEAD
    below = ancestors(parents, current) - set(current)
    if selected in below:
        if len(current) == 1 and tuple(parents.get(current[0], ())) == (selected,):
            return DOWN_ONE
        return Move("down", selected, f"roll back to {selected}")
    return Move("up", selected, f"upgrade to {selected}")


def stamp_move(selected: str) -> Move:
    target = "base" if selected == BASE else selected
    return Move("stamp", target, f"stamp {target}")


def one_step_down(parents: Mapping[str, Sequence[str]], current: Sequence[str]) -> str | None:
    """The revision ``-1`` lands on from ``current`` (BASE at the root; None: ambiguous)."""
    if len(current) != 1:
        return None
    below = tuple(parents.get(current[0], ()))
    if not below:
        return BASE
    return below[0] if len(below) == 1 else None
