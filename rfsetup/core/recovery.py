"""Recovering a database these scripts cannot plan from: a branch switch, or a half-applied head.

``diagnose`` reads the target (read-only) and says what is wrong:

* **unknown revision** (another branch's, after ``git switch``): which git ref holds it
  (``branchswitch``), the newest revision the database's history and these scripts share (the
  common ancestor), and the two ways out: check that branch out and roll back to the ancestor
  there (its downgrade scripts are on that branch), or stamp the ancestor here (``stamp``, after
  a typed confirmation), which leaves in the schema what the other branch's revisions created;
* **half-applied** (at the head, but the schema is not what the models say): which objects
  differ (``schemadrift``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rfsetup.core.branchswitch import RevisionHome, ScriptRevision, find_revision
from rfsetup.core.revgraph import ancestors
from rfsetup.core.settings import Settings
from rfsetup.core.versiontable import describe_revisions

if TYPE_CHECKING:
    from rfsetup.core.alembic.runner import MigrationResult
    from rfsetup.core.schemadrift import Drift

BASE = "base"


@dataclass(frozen=True)
class Recovery:
    """What is wrong with the target's revision, and the ways out."""

    database: str
    current: tuple[str, ...]
    heads: tuple[str, ...]
    unknown: tuple[str, ...] = ()
    homes: tuple[RevisionHome, ...] = ()
    #: the newest revision(s) both histories share (``("base",)``: none); () when unknown
    ancestor: tuple[str, ...] = ()
    #: the other branch's revisions applied above the ancestor: a stamp leaves their schema
    left_behind: tuple[ScriptRevision, ...] = ()
    drift: Drift | None = None
    #: why the schema was not compared with the models
    drift_note: str | None = None
    pending: int = 0

    @property
    def branch_switch(self) -> bool:
        return bool(self.unknown)

    @property
    def half_applied(self) -> bool:
        return self.drift is not None and bool(self.drift.differences)

    @property
    def problem(self) -> bool:
        return self.branch_switch or self.half_applied

    @property
    def stamp_target(self) -> str | None:
        """What ``stamp`` records: the one common ancestor (or base); None when there are
        several or none is known."""
        return self.ancestor[0] if len(self.ancestor) == 1 else None

    def to_json(self) -> dict[str, Any]:
        return {"database": self.database, "current": list(self.current),
                "heads": list(self.heads), "problem": self.problem,
                "branch_switch": self.branch_switch, "half_applied": self.half_applied,
                "unknown": list(self.unknown), "homes": [h.to_json() for h in self.homes],
                "common_ancestor": list(self.ancestor), "stamp_target": self.stamp_target,
                "left_behind": [r.to_json() for r in self.left_behind],
                "drift": self.drift.to_json() if self.drift else None,
                "drift_note": self.drift_note, "pending": self.pending}


def diagnose(settings: Settings) -> Recovery:
    """Read the target and say what is wrong (nothing is changed; git is only read)."""
    from rfsetup.core.alembic import reading
    from rfsetup.core.alembic.project import AlembicProject

    project = AlembicProject.load(settings)
    graph = project.graph()
    with reading(settings, project) as r:
        current = r.current
        unknown = tuple(rev for rev in current if rev not in graph.parents)
        if unknown:
            locations, _ = project.version_locations()
            homes = tuple(find_revision(locations, rev) for rev in unknown)
            return _branch_switch(project.database, current, graph.heads, graph.parents,
                                  unknown, homes)
        pending = graph.pending(current)
        if pending or not current:
            note = (f"the models describe the head ({describe_revisions(graph.heads)}); the "
                    f"database is at {describe_revisions(current)} with {pending} pending, "
                    "so its schema is not compared with them")
            return Recovery(project.database, current, graph.heads, pending=pending,
                            drift_note=note)
        from rfsetup.core.schemadrift import compare_with_models

        drift = compare_with_models(project, r.conn)
        return Recovery(project.database, current, graph.heads, drift=drift,
                        drift_note=drift.note)


def _branch_switch(database: str, current: tuple[str, ...], heads: tuple[str, ...],
                   ours: dict[str, tuple[str, ...]], unknown: tuple[str, ...],
                   homes: tuple[RevisionHome, ...]) -> Recovery:
    """The common ancestor from the other branch's scripts, and what lies above it there."""
    theirs: dict[str, tuple[str, ...]] = {}
    scripts: dict[str, ScriptRevision] = {}
    for home in homes:
        scripts.update(home.scripts)
    theirs = {rev: s.down for rev, s in scripts.items()}
    if not all(rev in theirs for rev in unknown):
        return Recovery(database, current, heads, unknown, homes)
    known = [rev for rev in current if rev in ours]
    history = ancestors(theirs, unknown) | ancestors(ours, known)
    shared = {rev for rev in history if rev in ours}
    below = set().union(*(ancestors(ours, [s]) - {s} for s in shared)) if shared else set()
    ancestor = tuple(sorted(shared - below)) or (BASE,)
    above = history - ancestors(ours, shared)
    left = tuple(scripts[rev] for rev in _oldest_first(theirs, above) if rev in scripts)
    return Recovery(database, current, heads, unknown, homes, ancestor, left)


def _oldest_first(parents: dict[str, tuple[str, ...]], revisions: set[str]) -> list[str]:
    """``revisions`` with every revision after its parents."""
    done: list[str] = []
    seen: set[str] = set()

    def visit(rev: str) -> None:
        if rev in seen or rev not in revisions:
            return
        seen.add(rev)
        for parent in parents.get(rev, ()):
            visit(parent)
        done.append(rev)

    for rev in sorted(revisions):
        visit(rev)
    return done


def stamp_ancestor(settings: Settings, recovery: Recovery,
                   on_progress: Any = None) -> MigrationResult:
    """Stamp the common ancestor in place of the unknown revision (compare-and-swap: only
    from the revisions the diagnosis read). The caller has the user confirm first."""
    from rfsetup.core import alembic as migrations
    from rfsetup.core.errors import bad_input

    target = recovery.stamp_target
    if not recovery.branch_switch or target is None:
        raise bad_input("there is no unknown revision to replace with a common ancestor"
                        if not recovery.branch_switch else
                        "the common ancestor is not known (or there are several); nothing was "
                        "changed", hint="rfsetup migrate recover says why")
    plan = migrations.plan(settings, target, kind="stamp")
    if set(plan.from_revisions) != set(recovery.current):
        from rfsetup.core.alembic.runner import moved_error

        raise moved_error(recovery.database, recovery.current, plan.from_revisions)
    return migrations.stamp(settings, target, plan=plan, on_progress=on_progress)


def recovery_lines(rec: Recovery, *, stamp_command: str = "rfsetup migrate recover --stamp"
                   ) -> list[str]:
    """The diagnosis and the ways out, as plain lines (the CLI prints them, the TUI too)."""
    if rec.branch_switch:
        return _branch_lines(rec, stamp_command)
    if rec.half_applied:
        assert rec.drift is not None
        lines = [f"database {rec.database} is at {describe_revisions(rec.current)} (head), "
                 f"but its schema is not what the models say: "
                 f"{len(rec.drift.differences)} difference(s) — half-applied, or changed by "
                 "hand:"]
        lines += [f"  {d.text}" for d in rec.drift.differences]
        lines.append("ways out: restore the backup taken before the last upgrade (rfsetup "
                     "backup list), or repair the objects above by hand; `rfsetup migrate "
                     "down --yes` then `up` rebuilds the last revision when its downgrade "
                     "copes with what is there")
        return lines
    where = f"database {rec.database} is at {describe_revisions(rec.current)}"
    if rec.drift is not None and rec.drift.compared:
        return [f"{where} (head) and its schema matches the models: nothing to recover"]
    return [f"{where}, a revision these scripts know: nothing to recover",
            *([f"note: {rec.drift_note}"] if rec.drift_note else [])]


def _branch_lines(rec: Recovery, stamp_command: str) -> list[str]:
    lines = [f"database {rec.database} is at {', '.join(rec.unknown)}, which these migration "
             "scripts do not have (a branch switch?)"]
    for home in rec.homes:
        if home.error:
            lines.append(f"  git: {home.error}")
            continue
        if not home.found:
            lines.append(f"  no branch, tag or commit of {home.repo} has revision "
                         f"{home.revision}: fetch the others' work (git fetch --all) and "
                         "run this again")
            continue
        named = [h for h in home.holders if h.kind != "commit"]
        if named:
            where = ", ".join(f"{h.kind} {h.name}" for h in named)
            lines.append(f"  {home.revision} is on {where} ({home.holders[0].path})")
        elif home.introduced is not None:
            lines.append(f"  {home.revision} is in no branch now; it was added in "
                         f"{home.introduced.describe()}")
        if home.introduced is not None and named:
            lines.append(f"  added in {home.introduced.describe()}")
    if not rec.ancestor:
        lines.append("the history it belongs to could not be read, so no common ancestor is "
                     "known; if you know the schema matches a revision here: rfsetup migrate "
                     "stamp REV")
        return lines
    shared = ", ".join(rec.ancestor)
    lines.append(f"the newest revision both histories share: {shared}")
    source = next((h.source for h in rec.homes if h.source is not None), None)
    back = next((h.checked_out for h in rec.homes if h.checked_out), None)
    lines.append("ways out:")
    if source is not None:
        dirty = " (commit or stash your changes first)" if any(h.dirty for h in rec.homes) \
            else ""
        lines.append(f"  1. roll back on the branch that has it{dirty}:")
        lines.append(f"       {source.switch_command()}")
        lines.append(f"       rfsetup migrate down {shared} --yes")
        if back and not back.startswith("detached"):
            lines.append(f"       git switch {back}")
        lines.append("       rfsetup migrate up")
    target = rec.stamp_target
    if target is not None:
        lines.append(f"  2. or stamp {target} here without running anything: {stamp_command} "
                     "(asks for the database name)")
        if rec.left_behind:
            lines.append("     that leaves in the schema what these revisions created, which "
                         "these scripts know nothing of:")
            for rev in rec.left_behind:
                ops = ", ".join(rev.ops[:6]) + (" …" if len(rev.ops) > 6 else "")
                lines.append(f"       {rev.revision} {rev.message}".rstrip() +
                             (f": {ops}" if ops else ""))
            lines.append("     (drop them by hand, or expect `rfsetup migrate up` to fail "
                         "where this branch creates the same objects)")
    return lines

