"""heads_after for an upgrade in one walk of the graph says what the per-step rule says (each
applied revision replaces every head it descends from), on any branched history."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from rfsetup.core.alembic.planning import heads_after
from rfsetup.core.revgraph import ancestors


@st.composite
def histories(draw: st.DrawFn) -> tuple[dict[str, tuple[str, ...]], list[str], list[str]]:
    """A DAG of revisions (each with 0-2 parents among the earlier ones), the current heads
    (maximal elements of a random applied set) and the steps up to some targets."""
    n = draw(st.integers(1, 40))
    parents: dict[str, tuple[str, ...]] = {}
    for i in range(n):
        earlier = [f"r{j}" for j in range(i)]
        chosen = draw(st.lists(st.sampled_from(earlier), max_size=2, unique=True)) \
            if earlier else []
        parents[f"r{i}"] = tuple(chosen)
    names = list(parents)
    applied = ancestors(parents, draw(st.lists(st.sampled_from(names), max_size=3)))
    below = ancestors(parents, [p for r in applied for p in parents[r]])
    current = sorted(applied - below)
    targets = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3))
    wanted = ancestors(parents, targets) - applied
    steps = [r for r in names if r in wanted]  # r0, r1, ... is a topological order
    return parents, current, steps


def _per_step(parents: dict[str, tuple[str, ...]], current: list[str], steps: list[str]
              ) -> tuple[str, ...]:
    result = set(current)
    for rev in steps:
        result -= ancestors(parents, [rev]) - {rev}
        result.add(rev)
    return tuple(sorted(result))


@settings(max_examples=300, deadline=None)
@given(histories())
def test_one_walk_agrees_with_the_per_step_rule(history) -> None:
    parents, current, steps = history
    project = SimpleNamespace(graph=lambda: SimpleNamespace(parents=parents))
    alembic_steps = [SimpleNamespace(revision=SimpleNamespace(revision=r)) for r in steps]
    assert heads_after(project, "up", current, alembic_steps) == \
        _per_step(parents, current, steps)  # type: ignore[arg-type]
