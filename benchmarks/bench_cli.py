"""rfsetup's CLI against Alembic's own, side by side, on the same server and the same projects.

    python benchmarks/bench_cli.py [--rounds 7] [--revisions 1000]

Starts its own embedded PostgreSQL and Redis in a temporary directory, then for each project
(RaptorFlow's alembic/ and a generated history of ``--revisions`` revisions with branch points
and merges) times, in random order within each round so drift hits both alike:

* ``rfsetup status --json``          vs ``alembic current``        (goal: median ratio <= 1.0)
* ``rfsetup migrate up --no-backup`` vs ``alembic upgrade head``   (goal: median ratio <= 1.1)

Each upgrade pair gets two fresh empty databases. Reported: median wall time of each command
and the median of the per-round ratios (rfsetup / alembic).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

# first: puts the repo on sys.path for the imports below
from _common import REPO, create_db, servers

from rfsetup.core.embedded import EmbeddedPostgres
from tests.helpers.alembic_project import make_project

BIN = Path(sys.executable).parent


@dataclass
class Pair:
    project: str
    name: str
    goal: float
    rfsetup: list[float]
    alembic: list[float]
    #: peak resident memory of each run, KiB
    rfsetup_rss: list[int] = field(default_factory=list)
    alembic_rss: list[int] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return statistics.median(r / a for r, a in zip(self.rfsetup, self.alembic, strict=True))

    @property
    def rss_ratio(self) -> float:
        return statistics.median(r / a for r, a in zip(self.rfsetup_rss, self.alembic_rss,
                                                        strict=True))

    def record(self, which: int, measured: tuple[float, int]) -> None:
        seconds, rss = measured
        (self.rfsetup if which == 0 else self.alembic).append(seconds)
        (self.rfsetup_rss if which == 0 else self.alembic_rss).append(rss)


def _timed(argv: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[float, int]:
    """Wall time and peak RSS (KiB, from the child's own rusage) of one run."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                                stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n"
                             f"{err.read().decode(errors='replace')[-2000:]}")
    return elapsed, int(usage.ru_maxrss)


def _env(url: str, redis_url: str) -> dict[str, str]:
    # Bytecode caching on, as on a user's machine (any non-empty PYTHONDONTWRITEBYTECODE, even
    # "0", turns it off and makes both tools recompile every revision file on every run).
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "PYTHONDONTWRITEBYTECODE")}
    env.update(DATABASE_URL=url, REDIS_URL=redis_url)
    return env


def bench_project(label: str, ini: Path, server: EmbeddedPostgres, redis_url: str,
                  rounds: int, work: Path) -> list[Pair]:
    rfsetup, alembic = str(BIN / "rfsetup"), str(BIN / "alembic")
    migrated = create_db(server, "b")
    _timed([alembic, "-c", str(ini), "upgrade", "head"], _env(migrated, redis_url), work)
    # warm the OS page cache and Python's bytecode caches once, untimed
    for argv in ([rfsetup, "-c", str(ini), "status", "--json"],
                 [alembic, "-c", str(ini), "current"]):
        _timed(argv, _env(migrated, redis_url), work)

    status = Pair(label, "status --json vs alembic current", 1.0, [], [])
    up = Pair(label, "migrate up --no-backup vs alembic upgrade head", 1.1, [], [])
    for n in range(rounds):
        env = _env(migrated, redis_url)
        order = [0, 1]
        random.shuffle(order)
        for which in order:
            argv = ([rfsetup, "-c", str(ini), "status", "--json"] if which == 0 else
                    [alembic, "-c", str(ini), "current"])
            status.record(which, _timed(argv, env, work))
        fresh = {0: create_db(server, "b"), 1: create_db(server, "b")}
        random.shuffle(order)
        for which in order:
            env = _env(fresh[which], redis_url)
            argv = ([rfsetup, "-c", str(ini), "migrate", "up", "--no-backup"] if which == 0
                    else [alembic, "-c", str(ini), "upgrade", "head"])
            up.record(which, _timed(argv, env, work))
        print(f"  {label}: round {n + 1}/{rounds} done", file=sys.stderr, flush=True)
    return [status, up]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--revisions", type=int, default=1000)
    parser.add_argument("--branch-every", type=int, default=10)
    parser.add_argument("--only", choices=("raptorflow", "generated"),
                        help="benchmark one project only")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="rfsetup-bench-") as tmp:
        root = Path(tmp)
        with servers(root, max_connections="40") as (server, redis):
            work = root / "work"
            work.mkdir()
            projects = []
            if args.only in (None, "raptorflow"):
                projects.append(("raptorflow", REPO / "alembic.ini"))
            if args.only in (None, "generated"):
                generated = make_project(root / "generated", args.revisions,
                                         branch_every=args.branch_every)
                count = len(generated.revisions)
                merges = sum(len(r.down) > 1 for r in generated.revisions)
                projects.append((f"generated ({count} revs, {merges} merges)", generated.ini))
            pairs: list[Pair] = []
            for label, ini in projects:
                pairs += bench_project(label, ini, server, redis.url(), args.rounds, work)

    print(f"\n{'project':<36} {'comparison':<48} {'rfsetup':>9} {'alembic':>9} "
          f"{'ratio':>6} {'goal':>6}       {'peak RSS rfsetup / alembic':>28}")
    failed = False
    for p in pairs:
        ok = p.ratio <= p.goal
        failed |= not ok
        print(f"{p.project:<36} {p.name:<48} {statistics.median(p.rfsetup):>8.3f}s "
              f"{statistics.median(p.alembic):>8.3f}s {p.ratio:>6.2f} "
              f"{'<=' if ok else '> '}{p.goal:<4} {'ok' if ok else 'MISSED':<6} "
              f"{statistics.median(p.rfsetup_rss) / 1024:>7.1f} / "
              f"{statistics.median(p.alembic_rss) / 1024:>5.1f} MiB ({p.rss_ratio:.2f})")
    print(f"(median of {args.rounds} paired runs; ratio = median of rfsetup/alembic per "
          "round; peak RSS from each child's rusage)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
