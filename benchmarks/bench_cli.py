"""rfsetup's CLI against Alembic's own, side by side in one run: every CLI goal of issue 11.

    python benchmarks/bench_cli.py [--rounds 7] [--history 1010] [--json] [--quick] [--check]

Starts its own embedded PostgreSQL and Redis in a temporary directory, generates a history of
``--history`` revisions (a branch point and an empty merge every 10 revisions: 919 + 91 =
1,010), migrates a database to head on each project, then times whole processes, each pair
in random order within a round (and the pairs in random order too), so drift hits both alike:

==========================================================  ==================  ===============
rfsetup                          vs alembic                  on                  goal (stretch)
==========================================================  ==================  ===============
``status --json``                ``current``                 RaptorFlow, 1,010   <= 0.5x (0.25x)
``migrate history``              ``history``                 1,010 revisions     <= 0.9x
``migrate history --json``       ``history``                 1,010 revisions     <= 0.9x
``migrate up --no-backup``       ``upgrade head``            RaptorFlow, 1,010   <= 1.05x
(peak RSS of the same runs)                                                      <= 1.1x
==========================================================  ==================  ===============

Each rfsetup command is measured twice: with a **warm cache** (``.rfsetup/cache`` as the
previous run of the same command left it: the usual case; each case runs in a folder of its
own) and with a **cold cache** (removed before each run: the
first run after a revision file, env.py or alembic.ini changed). Alembic has no such cache; its
runs are the same in both rows. Bytecode caching is on for both tools in both rows, as on a
user's machine. Every upgrade gets a fresh empty database. The goals are judged on the warm
rows (a cold cache falls back to the full path, by design); cold rows read "info".

A figure is the median of the per-round ratios rfsetup / alembic of wall time; beside it, the
same ratio of CPU time (user + system of the process itself, from its rusage: steadier than
wall time when other work shares the machine, blind to the server's share) and the peak RSS.
Each command is forked by a small spawner process (benchmarks/_spawn.py), so that its peak
RSS is its own and not the benchmark's memory at fork time.
``--instructions`` adds, for each upgrade, the user-space instructions of each tool under
valgrind's cachegrind (when valgrind is installed), one run in each of three heap layouts
(``LAYOUTS``): a count that does not move with the machine's load, where the wall and CPU
times of the same command on a shared 2-core machine vary by up to 2x. It is information beside
the judged wall-time figure, not a replacement for it: it leaves out the kernel's and the
server's share. It costs several minutes (a run under valgrind is ~30x slower).
The table goes to stdout (``--json``: a JSON document there instead, the table to stderr),
progress to stderr. Exit 0 when all ran (``--check``: 1 when a goal is not met).
``--quick`` is a smoke run: 2 rounds on a 110-revision history.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# first: puts the repo on sys.path for the imports below
from _common import REPO, bench_env, create_db, drop_db, make_history, revision_label, servers
from _report import Figure, dump_json, measured_on, median_ratio, print_table
from _spawn import Spawner, spawner

from rfsetup.core.embedded import EmbeddedPostgres

BIN = Path(sys.executable).parent
WARM, COLD = "warm cache", "cold cache"


@dataclass
class Case:
    """One comparison: rfsetup's argv against alembic's, with the goal of their ratio."""

    what: str
    where: str
    cache: str
    ours: list[str]
    theirs: list[str]
    goal: float
    stretch: float | None = None
    #: each run gets a fresh empty database (upgrades); otherwise the project's migrated one
    fresh_db: bool = False
    #: where both tools run: a folder of the case's own, so its .rfsetup/cache is touched by
    #: nothing else (a cold case wiping a shared one made the warm rows cold)
    cwd: Path = Path()
    #: goal of the peak-RSS ratio, when memory is a goal too
    rss_goal: float | None = None
    seconds: tuple[list[float], list[float]] = field(default_factory=lambda: ([], []))
    rss: tuple[list[int], list[int]] = field(default_factory=lambda: ([], []))
    #: user + system CPU seconds of the process itself (not the server's): steadier than wall
    #: time when other work shares the machine
    cpu: tuple[list[float], list[float]] = field(default_factory=lambda: ([], []))


def _env(url: str, redis_url: str) -> dict[str, str]:
    return bench_env(Path(tempfile.gettempdir()), DATABASE_URL=url, REDIS_URL=redis_url)


def project_cases(where: str, ini: Path, *, history: bool) -> list[Case]:
    """The cases of one project, warm and cold: status, (history,) upgrade."""
    rf, al = [str(BIN / "rfsetup"), "-c", str(ini)], [str(BIN / "alembic"), "-c", str(ini)]
    cases: list[Case] = []
    for cache in (WARM, COLD):
        cases.append(Case("status --json vs alembic current", where, cache,
                          [*rf, "status", "--json"], [*al, "current"], 0.5, 0.25))
        if history:
            cases.append(Case("migrate history vs alembic history", where, cache,
                              [*rf, "migrate", "history"], [*al, "history"], 0.9))
            cases.append(Case("migrate history --json vs alembic history", where, cache,
                              [*rf, "migrate", "history", "--json"], [*al, "history"], 0.9))
        cases.append(Case("migrate up --no-backup vs alembic upgrade head", where, cache,
                          [*rf, "migrate", "up", "--no-backup"], [*al, "upgrade", "head"], 1.05,
                          fresh_db=True, rss_goal=1.1))
    return cases


def run_rounds(spawn: Spawner, cases: Sequence[Case], migrated: dict[str, str],
               server: EmbeddedPostgres, redis_url: str, rounds: int,
               log: Callable[[str], None]) -> None:
    """``rounds`` rounds of every case, in random order; rfsetup and alembic paired."""
    for n in range(rounds):
        started = time.perf_counter()
        for case in random.sample(list(cases), len(cases)):
            fresh = {w: create_db(server, "up") for w in (0, 1)} if case.fresh_db else {}
            for which in random.sample([0, 1], 2):
                url = fresh[which] if case.fresh_db else migrated[case.where]
                if which == 0 and case.cache == COLD:
                    shutil.rmtree(case.cwd / ".rfsetup" / "cache", ignore_errors=True)
                run = spawn.run(case.ours if which == 0 else case.theirs,
                                _env(url, redis_url), case.cwd)
                case.seconds[which].append(run.seconds)
                case.rss[which].append(run.rss_kib)
                case.cpu[which].append(run.cpu)
            for url in fresh.values():
                drop_db(server, url)
        log(f"round {n + 1}/{rounds} done ({time.perf_counter() - started:.0f} s)")


#: heap layouts each tool is counted under: this many small objects are allocated first, by a
#: sitecustomize, so that later objects (interned names, types) land elsewhere. CPython 3.11's
#: method cache is indexed by a name's address, so one layout's collisions can move a count by
#: 1-2% either way (measured), where repeating one layout moves it well under 1%.
LAYOUTS = (0, 401, 1601)
_PAD_SITE = """import os
_PAD = [bytes(8 + (i % 13) * 8) for i in range(int(os.environ.get("RFSETUP_BENCH_PAD", "0")))]
"""


def count_instructions(spawn: Spawner, cases: Sequence[Case], server: EmbeddedPostgres,
                       redis_url: str, log: Callable[[str], None]) -> list[Figure]:
    """Each tool's warm upgrades under cachegrind, one run per heap layout (``LAYOUTS``): the
    ratio of the totals."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        log("--instructions: valgrind is not installed; no instruction counts")
        return []
    site = Path(tempfile.mkdtemp(prefix="rfsetup-bench-site-"))
    (site / "sitecustomize.py").write_text(_PAD_SITE)
    figures = []
    try:
        for case in cases:
            if not case.fresh_db or case.cache != WARM:
                continue
            counts: list[list[int]] = [[], []]
            for pad in LAYOUTS:
                for which, argv in enumerate((case.ours, case.theirs)):
                    url = create_db(server, "ir")
                    env = {**_env(url, redis_url), "PYTHONPATH": str(site),
                           "RFSETUP_BENCH_PAD": str(pad)}
                    spawn.run([valgrind, "--tool=cachegrind", "--cache-sim=no",
                               "--cachegrind-out-file=/dev/null", *argv], env, case.cwd)
                    drop_db(server, url)
                    found = re.search(r"I\s+refs:\s+([\d,]+)",
                                      spawn.err.read_text(errors="replace"))
                    if found is None:
                        raise SystemExit("cachegrind printed no instruction count")
                    counts[which].append(int(found.group(1).replace(",", "")))
            log(f"{case.where}: instructions counted")
            ours, theirs = sum(counts[0]), sum(counts[1])
            each = [a / b for a, b in zip(*counts, strict=True)]
            figures.append(Figure(
                case.what.replace(" vs ", ", instructions vs "), case.where, "ratio",
                ours / theirs, case.goal, cache=case.cache,
                stat=f"{ours / len(LAYOUTS) / 1e9:.2f} / {theirs / len(LAYOUTS) / 1e9:.2f} G",
                notes=f"{ours / theirs:.3f}x: user-space instructions (cachegrind), {len(LAYOUTS)} "
                      f"heap layouts, per layout {min(each):.3f}x-{max(each):.3f}x",
                samples={"rfsetup_instructions": counts[0], "alembic_instructions": counts[1]},
                judged=False))
    finally:
        shutil.rmtree(site, ignore_errors=True)
    return figures


def figures_of(cases: Sequence[Case]) -> list[Figure]:
    figures: list[Figure] = []
    for c in cases:
        ours, theirs = c.seconds
        rss_ours, rss_theirs = (statistics.median(r) / 1024 for r in c.rss)
        rss_ratio = median_ratio(*c.rss)
        figures.append(Figure(
            c.what, c.where, "ratio", median_ratio(ours, theirs), c.goal, c.stretch, c.cache,
            statistics.median(ours), statistics.median(theirs),
            notes=f"CPU {median_ratio(*c.cpu):.2f}x; "
                  f"peak RSS {rss_ours:.0f} / {rss_theirs:.0f} MiB ({rss_ratio:.2f}x)",
            samples={"rfsetup_s": ours, "alembic_s": theirs,
                     "rfsetup_cpu_s": c.cpu[0], "alembic_cpu_s": c.cpu[1],
                     "rfsetup_rss_kib": list(c.rss[0]), "alembic_rss_kib": list(c.rss[1])},
            judged=c.cache == WARM))
        if c.rss_goal is not None:
            figures.append(Figure(
                c.what.replace(" vs ", ", peak RSS vs "), c.where, "ratio", rss_ratio,
                c.rss_goal, cache=c.cache, stat=f"{rss_ours:.0f} / {rss_theirs:.0f} MiB",
                judged=c.cache == WARM))
    # grouped by goal, then project, warm before cold
    order = ("status", "migrate history vs", "migrate history --json", "migrate up --no-backup vs",
             "migrate up --no-backup, peak")
    wheres = list(dict.fromkeys(f.where for f in figures))
    return sorted(figures, key=lambda f: (
        next(i for i, o in enumerate(order) if f.what.startswith(o)), wheres.index(f.where),
        f.cache != WARM))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--history", type=int, default=1010,
                        help="revisions in the generated history (default 1,010)")
    parser.add_argument("--only", choices=("raptorflow", "generated"),
                        help="benchmark one project only")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 rounds, a 110-revision history")
    parser.add_argument("--json", action="store_true", help="a JSON document on stdout")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is not met")
    parser.add_argument("--instructions", action="store_true",
                        help="also count each upgrade's instructions under valgrind (info)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.history = min(args.rounds, 2), min(args.history, 110)

    def log(line: str) -> None:
        print(f"  {line}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="rfsetup-bench-") as tmp:
        root = Path(tmp)
        with servers(root, max_connections="40") as (server, redis), spawner() as spawn:
            projects: list[tuple[str, Path, bool]] = []
            if args.only in (None, "raptorflow"):
                projects.append(("RaptorFlow", REPO / "alembic.ini", False))
            if args.only in (None, "generated"):
                generated = make_history(root / "generated", args.history)
                projects.append((revision_label(generated), generated.ini, True))
            cases: list[Case] = []
            migrated: dict[str, str] = {}
            for where, ini, history in projects:
                migrated[where] = create_db(server, "b")
                env = _env(migrated[where], redis.url())
                spawn.run([str(BIN / "alembic"), "-c", str(ini), "upgrade", "head"], env, root)
                ours = project_cases(where, ini, history=history)
                for case in ours:
                    case.cwd = root / f"case-{len(cases)}"
                    case.cwd.mkdir()
                    cases.append(case)
                    # warm the page cache, the bytecode caches and the case's rfsetup cache,
                    # untimed (an upgrade's: the graph, from a status; its targets are new)
                    if case.cache == WARM:
                        spawn.run(case.ours if not case.fresh_db else
                                  [str(BIN / "rfsetup"), "-c", str(ini), "status", "--json"],
                                  env, case.cwd)
                        if not case.fresh_db:
                            spawn.run(case.theirs, env, case.cwd)
                log(f"{where}: migrated, caches warm")
            run_rounds(spawn, cases, migrated, server, redis.url(), args.rounds, log)
            counted = count_instructions(spawn, cases, server, redis.url(), log) \
                if args.instructions else []

    figures = figures_of(cases) + counted
    footer = [f"median of {args.rounds} paired rounds, random order; value = median of per-round "
              "ratios rfsetup/alembic of wall time, whole processes; CPU (user + system of the "
              "process, not the server's) and peak RSS from each child's rusage",
              "warm cache: .rfsetup/cache as the previous run of the same command left it; cold "
              "cache: removed before each rfsetup run (alembic has none); bytecode caches on "
              "for both",
              measured_on()]
    print_table(f"rfsetup CLI vs alembic ({os.cpu_count()} cores)", figures, footer,
                file=sys.stderr if args.json else sys.stdout)
    if args.json:
        dump_json("bench_cli", figures, {"rounds": args.rounds})
    return 1 if args.check and not all(f.ok for f in figures) else 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:  # the servers and every child are stopped by now
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
