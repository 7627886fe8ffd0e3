"""The revision graph (each revision's parents, message, and the heads), cached on disk.

Loading a ScriptDirectory executes every revision file: most of the cost of `rfsetup status`
(and of `alembic current`) on a long history. Status, planning and the TUI's history only need
the graph, so it is kept in the project's cache document (``rfsetup.core.projectcache``),
valid while no config or version file changed; any change rebuilds it from Alembic's own loader.
``ancestors`` is the one ancestor walk everything uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from rfsetup.core.alembic.project import AlembicProject


def ancestors(parents: Mapping[str, Sequence[str]], revisions: Iterable[str]) -> set[str]:
    """The given revisions and all their ancestors (ids the graph lacks are ignored)."""
    seen: set[str] = set()
    todo = [r for r in revisions if r in parents]
    while todo:
        rev = todo.pop()
        if rev not in seen:
            seen.add(rev)
            todo.extend(parents.get(rev, ()))
    return seen


class RevisionGraph(msgspec.Struct, frozen=True):
    """Parents of every revision and the heads, as Alembic's revision map has them."""

    parents: dict[str, tuple[str, ...]]
    heads: tuple[str, ...]
    messages: dict[str, str] = msgspec.field(default_factory=dict)

    def ancestors(self, revisions: Iterable[str]) -> set[str]:
        """The given revisions and all their ancestors (unknown ids are ignored)."""
        return ancestors(self.parents, revisions)

    def pending(self, current: Iterable[str]) -> int:
        """How many revisions the heads need that the current revisions do not include."""
        return len(self.ancestors(self.heads) - self.ancestors(current))

    def to_json(self) -> dict[str, Any]:
        return {"heads": list(self.heads), "messages": self.messages,
                "parents": {k: list(v) for k, v in self.parents.items()}}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> RevisionGraph:
        return cls(parents={k: tuple(v) for k, v in doc["parents"].items()},
                   heads=tuple(doc["heads"]), messages=dict(doc.get("messages") or {}))


def build_graph(project: AlembicProject) -> RevisionGraph:
    """The graph from Alembic's loaded revision map (a linear walk from the heads)."""
    script = project.script
    heads = tuple(script.get_heads())
    parents: dict[str, tuple[str, ...]] = {}
    messages: dict[str, str] = {}
    todo = list(heads)
    while todo:  # every revision is an ancestor of some head
        rev = todo.pop()
        if rev in parents:
            continue
        sc = script.revision_map.get_revision(rev)
        down = sc.down_revision
        parents[rev] = () if down is None else (down,) if isinstance(down, str) else tuple(down)
        messages[rev] = (sc.doc or "").strip()
        todo.extend(parents[rev])
    return RevisionGraph(parents=parents, heads=heads, messages=messages)


def load_graph(project: AlembicProject, cache_dir: Path | None) -> RevisionGraph:
    """The project's revision graph, from the cache when no config or version file changed."""
    from rfsetup.core import projectcache as cache

    fingerprint = project.fingerprint()
    path = cache.cache_file(cache_dir, project.ini_path) if cache_dir is not None else None
    if path is not None:
        doc = cache.read(path)
        graph = doc.get("graph")
        if graph and doc.get("fingerprint") == fingerprint:
            return RevisionGraph.from_json(graph)
    graph_ = build_graph(project)
    if path is not None:
        doc = cache.read(path)
        if doc.get("fingerprint", {}).get("config") != fingerprint["config"]:
            doc.pop("observations", None)  # env.py or the ini changed: observe it again
        cache.write(path, {**doc, "fingerprint": fingerprint, "graph": graph_.to_json()})
    return graph_
