"""The cached revision graph agrees with Alembic's revision map; a changed file rebuilds it."""

from __future__ import annotations

import json
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from rfsetup.core import revgraph
from rfsetup.core.alembic import load
from rfsetup.core.settings import load_settings
from tests.helpers.alembic_project import Revision, make_project, rev_id


def _alembic_pending(ini: Path, current: tuple[str, ...]) -> int:
    script = ScriptDirectory.from_config(Config(str(ini)))
    return sum(1 for _ in script.iterate_revisions("heads", current or "base"))


def test_graph_matches_alembic_and_counts_pending(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", 60, branch_every=7, open_heads=2)
    cfg = load(load_settings(alembic_ini=project.ini, cwd=tmp_path))
    graph = revgraph.load_graph(cfg, tmp_path / "cache")
    script = ScriptDirectory.from_config(Config(str(project.ini)))
    assert set(graph.heads) == set(script.get_heads()) and len(graph.heads) == 2
    assert set(graph.parents) == {sc.revision for sc in script.walk_revisions()}
    for current in [(), (project.ids[10],), (project.ids[30], project.ids[5]), tuple(graph.heads)]:
        expected = _alembic_pending(project.ini, tuple(r for r in current
                                                       if r not in {project.ids[5]}))
        if current == (project.ids[30], project.ids[5]):
            # an ancestor listed beside its descendant adds nothing
            assert graph.pending(current) == graph.pending((project.ids[30],))
            continue
        assert graph.pending(current) == expected
    assert graph.pending(("not-a-revision",)) == len(graph.parents)


def test_cache_is_used_until_a_file_changes(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", 5)
    cfg = load(load_settings(alembic_ini=project.ini, cwd=tmp_path))
    cache = tmp_path / "cache"
    first = revgraph.load_graph(cfg, cache)
    files = list(cache.glob("project-*.json"))
    assert len(files) == 1
    # a hit does not load the scripts: poison the cache's content, same fingerprint
    doc = json.loads(files[0].read_text())
    doc["graph"]["heads"] = ["cachedhead"]
    files[0].write_text(json.dumps(doc))
    assert revgraph.load_graph(cfg, cache).heads == ("cachedhead",)
    # adding a revision changes the fingerprint: the graph is rebuilt from the files
    new = project.add(Revision(id=rev_id(99), down=(first.heads[0],), message="create t_0099",
                               table="t_0099"))
    rebuilt = revgraph.load_graph(cfg, cache)
    assert rebuilt.heads == (new.id,)
    assert rebuilt.parents[new.id] == (first.heads[0],)


def test_unwritable_cache_only_costs_speed(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", 3)
    cfg = load(load_settings(alembic_ini=project.ini, cwd=tmp_path))
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache directory should be")
    graph = revgraph.load_graph(cfg, blocker)
    assert graph.heads == (project.ids[-1],)


def test_the_cache_keeps_the_latest_observations_only(tmp_path: Path) -> None:
    """One observation per target database: a CI making a fresh database per run must not
    grow the document every run reads; the targets used last are the ones kept."""
    from rfsetup.core import projectcache as cache

    path = tmp_path / "project-x.json"
    cache.update(path, graph={"heads": ["a"]})
    for n in range(cache.KEEP_OBSERVATIONS + 5):
        cache.update(path, observations={f"target-{n}": {"observation": n}})
    cache.update(path, observations={"target-2": {"observation": "again"}})
    doc = cache.read(path)
    kept = list(doc["observations"])
    assert len(kept) == cache.KEEP_OBSERVATIONS
    assert kept[-1] == "target-2" and doc["observations"]["target-2"] == {"observation": "again"}
    assert "target-5" not in kept and f"target-{cache.KEEP_OBSERVATIONS + 4}" in kept
    assert doc["graph"] == {"heads": ["a"]}  # the rest of the document untouched
