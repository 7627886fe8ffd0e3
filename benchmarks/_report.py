"""One figure per goal of issue 11, and the table (or JSON) both benchmarks print.

A figure is either a ratio (rfsetup against the other tool, the median of per-round ratios of
paired runs) or an absolute time in milliseconds; it has a goal, maybe a stretch goal, and is
met when its value is at or under the goal.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO


def median_ratio(ours: Sequence[float], theirs: Sequence[float]) -> float:
    """The median of per-round ratios of paired runs (robust against drift between rounds)."""
    return statistics.median(a / b for a, b in zip(ours, theirs, strict=True))


@dataclass
class Figure:
    """One measured figure; ``value`` is what the goal is judged on."""

    #: what is compared, e.g. "status --json vs alembic current"
    what: str
    #: on what: "RaptorFlow", "1,010 revisions", ...
    where: str
    #: "ratio" (value = median per-round ratio) or "ms" (value = the judged statistic, in ms)
    kind: str
    value: float
    goal: float
    stretch: float | None = None
    #: "warm cache", "cold cache", or "" when the cache does not apply
    cache: str = ""
    #: the medians shown beside the ratio: rfsetup's and the other tool's (seconds), or the
    #: statistic's name for an absolute figure ("median", "worst")
    ours: float | None = None
    theirs: float | None = None
    stat: str = ""
    #: anything else worth printing (peak RSS, sample counts, the method's resolution)
    notes: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)
    #: False for a figure shown beside a goal that does not apply to it (a cold cache falls
    #: back to the full path): its verdict reads "info", and it never fails --check
    judged: bool = True

    @property
    def met(self) -> bool:
        return self.value <= self.goal

    @property
    def stretch_met(self) -> bool | None:
        return None if self.stretch is None else self.value <= self.stretch

    @property
    def ok(self) -> bool:
        """Met, or not judged."""
        return self.met or not self.judged

    def verdict(self) -> str:
        if not self.judged:
            return f"info ({'under' if self.met else 'over'} goal)"
        if not self.met:
            return "NOT MET"
        return "met, stretch met" if self.stretch_met else "met"


def _value(f: Figure) -> str:
    return f"{f.value:.2f}x" if f.kind == "ratio" else f"{f.value:.0f} ms"


def _goal(f: Figure) -> str:
    unit = "x" if f.kind == "ratio" else " ms"
    goal = f"<= {f.goal:g}{unit}"
    return goal + (f" ({f.stretch:g}{unit})" if f.stretch is not None else "")


def _sides(f: Figure) -> str:
    if f.kind == "ratio" and f.ours is not None and f.theirs is not None:
        return f"{f.ours:.3f} s / {f.theirs:.3f} s"
    return f.stat


def print_table(title: str, figures: Sequence[Figure], footer: Sequence[str] = (),
                file: TextIO | None = None) -> None:
    """The figures as a fixed-width table (on stdout by default): figure, sides, value, goal,
    verdict, notes."""
    out = file or sys.stdout
    rows = [(f"{f.what} [{f.where}{', ' + f.cache if f.cache else ''}]", _sides(f), _value(f),
             _goal(f), f.verdict(), f.notes) for f in figures]
    head = ("figure", "rfsetup / other", "value", "goal (stretch)", "verdict", "notes")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
    print(f"\n{title}", file=out)
    for row in [head, *rows]:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row[:5], widths, strict=True))
              + (f"  {row[5]}" if row[5] else ""), file=out)
    for line in footer:
        print(f"  {line}", file=out)


def machine() -> dict[str, Any]:
    """What the figures were measured on: the commit, the machine, the tools' versions."""
    from importlib.metadata import PackageNotFoundError, version

    repo = Path(__file__).resolve().parent.parent
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--", "rfsetup"],
                           capture_output=True, text=True, check=False).stdout.strip()
    # the commit that last changed what is measured (benchmark-only commits change nothing)
    code = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%h", "--", "rfsetup"],
                          capture_output=True, text=True, check=False).stdout.strip()
    versions = {}
    for dist in ("rfsetup", "alembic", "sqlalchemy", "textual", "lazyalembic", "psycopg2-binary"):
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            versions[dist] = None
    return {"commit": commit, "rfsetup_code": code + ("+uncommitted" if dirty else ""),
            "load_average": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(),
            "python": platform.python_version(), "platform": platform.platform(),
            "versions": versions}


def measured_on() -> str:
    """One line for a table's footer: the code measured and how busy the machine was."""
    m = machine()
    load = ", ".join(f"{x:g}" for x in m["load_average"])
    return (f"rfsetup code of {m['rfsetup_code']} (HEAD {m['commit']}), {m['cpus']} cores, "
            f"load average now {load}")


def dump_json(benchmark: str, figures: Sequence[Figure], extra: dict[str, Any] | None = None
              ) -> None:
    """The figures as one JSON document on stdout (samples included), for machines."""
    doc = {"benchmark": benchmark, "machine": machine(), **(extra or {}),
           "figures": [{**asdict(f), "met": f.met, "stretch_met": f.stretch_met}
                       for f in figures]}
    json.dump(doc, sys.stdout, indent=2)
    print()
