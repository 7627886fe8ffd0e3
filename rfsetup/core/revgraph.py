"""The revision graph (each revision's parents, and the heads), cached on disk between runs.

Loading a ScriptDirectory executes every revision file: most of the cost of `rfsetup status`
(and of `alembic current`) on a long history. Status only needs the graph, so it is kept in
``.rfsetup/cache/`` keyed by the name, size and mtime of every file in the version locations;
any change to a revision file rebuilds it from Alembic's own loader.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rfsetup import __version__

if TYPE_CHECKING:
    from alembic.config import Config

_FORMAT = 1


@dataclass(frozen=True)
class RevisionGraph:
    """Parents of every revision and the heads, as Alembic's revision map has them."""

    parents: dict[str, tuple[str, ...]]
    heads: tuple[str, ...]

    def ancestors(self, revisions: Iterable[str]) -> set[str]:
        """The given revisions and all their ancestors (unknown ids are ignored)."""
        seen: set[str] = set()
        todo = [r for r in revisions if r in self.parents]
        while todo:
            rev = todo.pop()
            if rev not in seen:
                seen.add(rev)
                todo.extend(self.parents.get(rev, ()))
        return seen

    def pending(self, current: Iterable[str]) -> int:
        """How many revisions the heads need that the current revisions do not include."""
        return len(self.ancestors(self.heads) - self.ancestors(current))


def load_graph(cfg: Config, cache_dir: Path | None) -> RevisionGraph:
    """The project's revision graph, from the cache when no version file changed."""
    from rfsetup.core.migrations import script_directory, version_files

    locations, fingerprint = version_files(cfg)
    cache_file = None
    if cache_dir is not None:
        key = hashlib.sha256(json.dumps([__version__, *map(str, locations)]).encode()).hexdigest()
        cache_file = cache_dir / f"revisions-{key[:16]}.json"
        cached = _read(cache_file, fingerprint)
        if cached is not None:
            return cached
    script = script_directory(cfg)
    heads = tuple(script.get_heads())
    parents: dict[str, tuple[str, ...]] = {}
    todo = list(heads)
    while todo:  # a linear walk: every revision is an ancestor of some head
        rev = todo.pop()
        if rev not in parents:
            parents[rev] = _down(script.revision_map.get_revision(rev).down_revision)
            todo.extend(parents[rev])
    graph = RevisionGraph(parents=parents, heads=heads)
    if cache_file is not None:
        _write(cache_file, fingerprint, graph)
    return graph


def _down(down: str | Iterable[str] | None) -> tuple[str, ...]:
    if down is None:
        return ()
    return (down,) if isinstance(down, str) else tuple(down)


def _read(path: Path, fingerprint: list[list[object]]) -> RevisionGraph | None:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if doc.get("format") != _FORMAT or doc.get("fingerprint") != fingerprint:
        return None
    return RevisionGraph(parents={k: tuple(v) for k, v in doc["parents"].items()},
                         heads=tuple(doc["heads"]))


def _write(path: Path, fingerprint: list[list[object]], graph: RevisionGraph) -> None:
    """Best effort and atomic: a cache that cannot be written only costs speed."""
    doc = {"format": _FORMAT, "fingerprint": fingerprint, "heads": list(graph.heads),
           "parents": {k: list(v) for k, v in graph.parents.items()}}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".revisions-")
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh)
        os.replace(tmp, path)
    except OSError:
        return
