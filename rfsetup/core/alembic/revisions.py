"""The revision history as people read it: newest first, current, heads, branches, merges.

Built from the revision graph (``rfsetup.core.revgraph``, cached on disk), so a long history is
listed without executing a thousand revision files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rfsetup.core.revgraph import RevisionGraph


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
        doc = asdict(self)
        doc["down_revisions"] = list(self.down_revisions)
        return doc


def newest_first(graph: RevisionGraph) -> list[str]:
    """Every revision after all of its descendants (heads first), deterministically."""
    children: dict[str, list[str]] = {rev: [] for rev in graph.parents}
    for rev, parents in graph.parents.items():
        for parent in parents:
            children.setdefault(parent, []).append(rev)
    waiting = {rev: len(kids) for rev, kids in children.items()}
    order: list[str] = []
    ready = sorted((r for r in graph.heads if waiting.get(r) == 0), reverse=True)
    while ready:
        rev = ready.pop()
        order.append(rev)
        for parent in reversed(graph.parents.get(rev, ())):
            waiting[parent] -= 1
            if waiting[parent] == 0:
                ready.append(parent)
    return order


def history_of(graph: RevisionGraph, current: Sequence[str]) -> list[RevisionInfo]:
    """Every revision, newest first, marked head/current/applied/branch point/merge."""
    heads = set(graph.heads)
    current_set = set(current)
    applied = graph.ancestors(current)
    fanout: dict[str, int] = {}
    for parents in graph.parents.values():
        for parent in parents:
            fanout[parent] = fanout.get(parent, 0) + 1
    return [RevisionInfo(
        revision=rev,
        down_revisions=graph.parents[rev],
        message=graph.messages.get(rev, ""),
        is_head=rev in heads,
        is_current=rev in current_set,
        is_branch_point=fanout.get(rev, 0) > 1,
        is_merge=len(graph.parents[rev]) > 1,
        is_applied=rev in applied,
    ) for rev in newest_first(graph)]
