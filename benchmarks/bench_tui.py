"""The terminal app against lazyalembic, and its keys, measured in a real terminal (tmux).

    python benchmarks/bench_tui.py [--rounds 7] [--history 1010] [--migration 600]
                                   [--json] [--quick] [--check]

Needs tmux and the ``bench`` extra (``pip install -e '.[bench]'``: lazyalembic, pinned).
Starts its own embedded PostgreSQL and Redis and a private tmux server in a temporary
directory, generates a history of ``--history`` revisions (1,010: a branch point and a merge
every 10) and one of ``--migration`` revisions (600), then measures every TUI goal of issue 11:

* **launch to the current revision on screen**, rfsetup against lazyalembic 0.1.0 on the
  same history and the same database at head, paired rounds in random order. Each app starts
  in a detached tmux session of the same size (``--size``, 120x40) with the same TERM; the clock
  starts just before the session is created and stops at the first ``capture-pane -p`` that
  shows the database's revision where each app reports it (rfsetup's live panel: ``● REV``;
  lazyalembic's database line: ``is on REV``; both also list revision ids before reading the
  database, so a bare id would not do). Goal <= 0.8x lazyalembic (stretch 0.5x). The first
  frame of each is shown beside it.
* **idle step switch** on the 1,010-revision history: keys 1 and 4 in turn, each timed from
  ``send-keys`` to the first capture showing that step whole: its title, its content (the
  history table's header, or the checks table's) and its keys in the footer, the last row
  (tmux shows a frame while it is being written: the top of a step can be there tens of
  milliseconds before the rest). Judged on the median; goal <= 50 ms.
* **key answer while a migration runs**: the same, from the app's own upgrade (key u, backup
  first) of an empty database to the head of the 600-revision history until the database is
  at head, ``--migration-rounds`` times. Judged on the worst; goal <= 250 ms (stretch 100 ms).
* **UI-loop gaps while migrating** (in-process, the app driven by Textual's pilot): a 10 ms
  timer on the app's event loop records how late each tick is while the app upgrades a fresh
  database (RaptorFlow's schema, then the 600-revision history). Judged on the worst gap;
  goal <= 50 ms.

Resolution of the terminal measures: the screen is polled every ``--poll-ms`` (2 ms) through
one tmux control-mode client (a capture costs ~0.1 ms), so an answer is seen at most one poll
interval plus one capture late. The floor of the method (tmux, the pty, the poll) is measured
on a program that answers each key at once, and printed: key figures include it, the floor is
not subtracted.

The table goes to stdout (``--json``: a JSON document there instead, the table to stderr).
Exit 0 when all ran (``--check``: 1 when a goal is not met). ``--quick``: a smoke run (2 launch
rounds, a 110-revision history and a 110-revision migration, fewer keys).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

# first: puts the repo on sys.path for the imports below
from _common import REPO, bench_env, create_db, make_history, revision_label, servers
from _report import Figure, dump_json, measured_on, median_ratio, print_table
from _tmux import Tmux, tmux_server

BIN = Path(sys.executable).parent

# what each app shows first, and where it reports the database's revision (see the docstring)
APPS = {
    "rfsetup": {"first": "─ Steps ─", "revision": "● {rev}", "quit": ("C-q", "C-q")},
    "lazyalembic": {"first": "lazyalembic —", "revision": "is on {rev}", "quit": ("q",)},
}
# A step is on screen when its title, its content (the checks' or the history's header) and
# its keys in the footer (the last row) are: tmux shows a frame while it is being written,
# so the top of a step can be on screen tens of milliseconds before the rest of it.
STEPS = {"1": ("─ 1 Prerequisites ─", re.compile(r"\bstatus\s+check\b"), "r Re-run"),
         "4": ("─ 4 Migrations ─", re.compile(r"\brevision\s{2,}message\b"), "u Upgrade")}
# the method's floor: a program that redraws at once for every key, in raw mode
ECHO = r"""
import os, sys, tty
tty.setraw(0)
os.write(1, b"\x1b[2J\x1b[Hready")
while (c := os.read(0, 1)) not in (b"q", b""):
    os.write(1, b"\x1b[2J\x1b[H\xe2\x94\x80 " + c + b" key \xe2\x94\x80")
"""


@dataclass
class Terminal:
    """Where the terminal measures run: the tmux server, and what every app gets."""

    tmux: Tmux
    cwd: Path
    size: tuple[int, int]
    poll: float
    redis_url: str

    def argv(self, app: str, ini: Path) -> list[str]:
        return [str(BIN / "rfsetup"), "-c", str(ini)] if app == "rfsetup" else \
            [str(BIN / "lazyalembic"), str(ini)]

    def env(self, url: str) -> dict[str, str]:
        # the same for both apps: each reads the variable it knows
        return {"DATABASE_URL": url, "LAZYALEMBIC_DATABASE_URL": url,
                "REDIS_URL": self.redis_url}

    def launch(self, name: str, app: str, ini: Path, url: str, rev: str
               ) -> tuple[float, float]:
        """Start ``app`` in session ``name``; seconds to its first frame and to ``rev`` shown."""
        marks = APPS[app]
        wanted = str(marks["revision"]).format(rev=rev)
        first: list[float] = []

        def found(screen: str) -> bool:
            if not first and marks["first"] in screen:
                first.append(time.perf_counter())
            return wanted in screen

        start = time.perf_counter()
        self.tmux.start(name, self.argv(app, ini), self.cwd, self.size, self.env(url))
        seen, _ = self.tmux.wait_for(name, found, 60, self.poll)
        return (first[0] if first else seen) - start, seen - start

    def key(self, name: str, key: str, shown: Callable[[str], bool], timeout: float = 30
            ) -> float:
        """Milliseconds from sending ``key`` to the first screen where ``shown`` holds."""
        sent = time.perf_counter()
        self.tmux.send(name, key)
        seen, _ = self.tmux.wait_for(name, shown, timeout, self.poll)
        return 1000 * (seen - sent)


def step_shown(key: str) -> Callable[[str], bool]:
    """Whether a screen shows step ``key`` whole (see STEPS)."""
    title, content, keys = STEPS[key]

    def shown(screen: str) -> bool:
        rows = screen.rstrip("\n").splitlines()
        return bool(rows) and title in screen and keys in rows[-1] and \
            content.search(screen) is not None
    return shown


def launch_pairs(term: Terminal, ini: Path, url: str, rev: str, rounds: int,
                 log: Callable[[str], None]) -> dict[str, dict[str, list[float]]]:
    """``rounds`` launches of each app, paired, in random order within a round."""
    times: dict[str, dict[str, list[float]]] = {a: {"first": [], "revision": []} for a in APPS}
    for app in APPS:  # untimed: bytecode, the page cache and rfsetup's cache warm
        term.launch(f"warm-{app}", app, ini, url, rev)
        term.tmux.stop(f"warm-{app}", APPS[app]["quit"])
    for n in range(rounds):
        for app in random.sample(list(APPS), len(APPS)):
            name = f"launch-{app}-{n}"
            first, shown = term.launch(name, app, ini, url, rev)
            term.tmux.stop(name, APPS[app]["quit"])
            times[app]["first"].append(first)
            times[app]["revision"].append(shown)
            time.sleep(0.3)  # the app that just quit is gone, not still exiting
        log(f"launch round {n + 1}/{rounds} done")
    return times


def key_loop(term: Terminal, name: str, presses: int, until: Callable[[], bool] | None = None,
             shown: Callable[[str], Callable[[str], bool]] = step_shown) -> list[float]:
    """Keys 1 and 4 in turn, a random pause of 100-300 ms before each (off the app's 2 s
    poll): each answer's milliseconds. With ``until``, stops as soon as it holds, and an
    answer counts only if it came before it held."""
    answers: list[float] = []
    keys = ("1", "4")
    for n in range(presses):
        time.sleep(random.uniform(0.1, 0.3))
        ms = term.key(name, keys[n % 2], shown(keys[n % 2]))
        if until is not None and until():
            break
        answers.append(ms)
    return answers


def method_floor(term: Terminal, presses: int) -> list[float]:
    """The key measure on a program that answers at once (what tmux and polling add)."""
    term.tmux.start("floor", [sys.executable, "-c", ECHO], term.cwd, term.size)
    term.tmux.wait_for("floor", lambda s: "ready" in s, 30, term.poll)
    answers = key_loop(term, "floor", presses,
                       shown=lambda key: lambda screen: f"─ {key} key ─" in screen)
    term.tmux.stop("floor", ("q",))
    return answers


def idle_switch(term: Terminal, ini: Path, url: str, rev: str, presses: int) -> list[float]:
    """Step switches in rfsetup on a database at head, the history loaded, nothing running."""
    term.launch("idle", "rfsetup", ini, url, rev)
    term.key("idle", "4", step_shown("4"))
    time.sleep(1.0)  # the history read and drawn, the warm-up of the migration code done
    answers = key_loop(term, "idle", presses)
    term.tmux.stop("idle", APPS["rfsetup"]["quit"])
    return answers


def version_of(url: str) -> set[str]:
    """What the database's alembic_version holds (empty when it has no such table yet)."""
    import psycopg2
    from psycopg2.extensions import make_dsn
    from sqlalchemy.engine import make_url

    u = make_url(url)
    conn = psycopg2.connect(make_dsn(host=u.host, port=u.port, user=u.username,
                                     password=u.password, dbname=u.database))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('alembic_version') IS NOT NULL")
            if not cur.fetchone()[0]:
                return set()
            cur.execute("SELECT version_num FROM alembic_version")
            return {row[0] for row in cur.fetchall()}
    finally:
        conn.close()


def keys_while_migrating(term: Terminal, ini: Path, url: str, head: str, presses: int
                         ) -> tuple[list[float], float]:
    """Step switches while rfsetup upgrades ``url`` (empty) to ``head``; (answers, seconds
    the upgrade took from the key u to the database at head)."""
    term.launch("migrate", "rfsetup", ini, url, "base (none applied)")
    term.key("migrate", "4", step_shown("4"))
    time.sleep(1.0)
    started = time.perf_counter()
    # the live line: "running upgrade to head: …" (before the incident merge "running: …")
    term.key("migrate", "u", lambda screen: re.search(r"running:? upgrade to head", screen)
             is not None)
    answers = key_loop(term, "migrate", presses, until=lambda: version_of(url) == {head} or
                       time.perf_counter() - started > 600)
    seconds = time.perf_counter() - started
    if version_of(url) != {head}:
        raise SystemExit(f"the migration did not reach {head} in 10 minutes; the screen:\n"
                         f"{term.tmux.capture('migrate')}")
    term.tmux.stop("migrate", APPS["rfsetup"]["quit"])
    return answers, seconds


# -- in-process: the UI loop's gaps (Textual's pilot) ------------------------------------------
async def _until(pilot, condition, what: str, timeout: float = 300.0, step: float = 0.05
                 ) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await pilot.pause(step)


async def frame_gaps(settings, label: str) -> dict[str, float | str]:
    """Upgrade to head with the app's own key, measuring the UI loop's worst lateness."""
    from rfsetup.tui.app import RfsetupApp

    app = RfsetupApp(settings)  # the default 2 s poll, as a user runs it
    late: list[float] = []
    tick = 0.010
    async with app.run_test(size=(120, 40)) as pilot:
        mig = app.step_screen("migrations")
        await pilot.press("4")
        await _until(pilot, lambda: getattr(mig, "history_loaded", True), "the history", 60)
        loop = asyncio.get_running_loop()
        last = loop.time()

        def on_tick() -> None:
            nonlocal last
            now = loop.time()
            late.append(now - last - tick)
            last = now

        result = app.query_one("#mig-result")
        timer = app.set_interval(tick, on_tick)
        started = time.perf_counter()
        # Pilot's press returns once the app is idle again, which may be after the whole
        # migration: the ticks are recorded throughout, from the key press to the result
        await pilot.press("u")
        await _until(pilot, lambda: not mig.running and str(result.render()).strip() != "",
                     "the migration to end")
        elapsed = time.perf_counter() - started
        timer.stop()
        if "✗" in str(result.render()):
            raise SystemExit(f"the migration failed: {result.render()}")
    late.sort()
    return {"label": label, "seconds": elapsed, "ticks": len(late),
            "max_gap_ms": 1000 * (late[-1] + tick) if late else 0.0,
            "p99_gap_ms": 1000 * (late[int(len(late) * 0.99)] + tick) if late else 0.0}


def _ms(values: Sequence[float]) -> str:
    return (f"median {statistics.median(values):.0f}, worst {max(values):.0f} ms, "
            f"n={len(values)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="launch rounds")
    parser.add_argument("--history", type=int, default=1010)
    parser.add_argument("--migration", type=int, default=600)
    parser.add_argument("--migration-rounds", type=int, default=3)
    parser.add_argument("--presses", type=int, default=40, help="idle step switches")
    parser.add_argument("--size", default="120x40", help="terminal COLUMNSxROWS")
    parser.add_argument("--poll-ms", type=float, default=2.0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true", help="a JSON document on stdout")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is not met")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.migration_rounds, args.presses = 2, 1, 10
        args.history, args.migration = min(args.history, 110), min(args.migration, 110)
    cols, _, rows = args.size.partition("x")
    size = (int(cols), int(rows))
    missing = [what for what, there in (
        ("lazyalembic (pip install -e '.[bench]')", (BIN / "lazyalembic").exists()),
        ("tmux (apt-get install tmux)", shutil.which("tmux") is not None)) if not there]
    if missing:
        raise SystemExit(f"bench_tui needs {' and '.join(missing)}")

    def log(line: str) -> None:
        print(f"  {line}", file=sys.stderr, flush=True)

    from rfsetup.core.settings import Settings

    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="rfsetup-bench-tui-") as tmp:
        root = Path(tmp)
        with servers(root) as (server, redis):
            work = root / "work"
            work.mkdir()
            history = make_history(root / "history", args.history)
            migration = make_history(root / "migration", args.migration)
            base_env = bench_env(root)
            url = create_db(server)
            subprocess.run([str(BIN / "alembic"), "-c", str(history.ini), "upgrade", "head"],
                           env={**base_env, "DATABASE_URL": url}, cwd=work, check=True,
                           capture_output=True)
            head = history.heads[0]
            where = revision_label(history)
            log(f"{where}: migrated to {head}")
            with tmux_server(base_env, work) as tmux:
                term = Terminal(tmux, work, size, args.poll_ms / 1000, redis.url())
                floor = method_floor(term, args.presses)
                log(f"method floor: {_ms(floor)}")
                times = launch_pairs(term, history.ini, url, head, args.rounds, log)
                idle = idle_switch(term, history.ini, url, head, args.presses)
                log(f"idle step switch: {_ms(idle)}")
                busy: list[float] = []
                took: list[float] = []
                for n in range(args.migration_rounds):
                    answers, seconds = keys_while_migrating(
                        term, migration.ini, create_db(server), migration.heads[0], 10_000)
                    busy += answers
                    took.append(seconds)
                    log(f"migration {n + 1}/{args.migration_rounds}: {seconds:.1f} s, "
                        f"keys {_ms(answers)}")

            rf, la = times["rfsetup"], times["lazyalembic"]
            figures.append(Figure(
                "TUI launch to the current revision on screen vs lazyalembic", where, "ratio",
                median_ratio(rf["revision"], la["revision"]), 0.8, 0.5, "warm cache",
                statistics.median(rf["revision"]), statistics.median(la["revision"]),
                notes=f"first frame {statistics.median(rf['first']):.3f} s / "
                      f"{statistics.median(la['first']):.3f} s",
                samples={f"{a}_{k}_s": v for a in APPS for k, v in times[a].items()}))
            figures.append(Figure(
                "step switch (1/4), idle, tmux", where, "ms", statistics.median(idle), 50,
                stat="median", notes=_ms(idle), samples={"ms": idle}))
            figures.append(Figure(
                "step key (1/4) answered while migrating, tmux", revision_label(migration),
                "ms", max(busy), 250, 100, stat="worst",
                notes=f"{_ms(busy)}; upgrade took {statistics.median(took):.1f} s",
                samples={"ms": busy, "upgrade_s": took}))

            os.chdir(work)  # the in-process app's .rfsetup (backups) goes there
            for label, ini in (("RaptorFlow", REPO / "alembic.ini"),
                               (revision_label(migration), migration.ini)):
                settings = Settings(env_file=work / ".env", alembic_ini=ini,
                                    database_url=create_db(server), redis_url=redis.url(),
                                    state_dir=work / ".rfsetup")
                gaps = asyncio.run(frame_gaps(settings, label))
                log(f"UI loop while migrating {label}: max {gaps['max_gap_ms']:.0f} ms")
                figures.append(Figure(
                    "UI-loop gap while migrating, in-process", label, "ms",
                    float(gaps["max_gap_ms"]), 50, stat="worst",
                    notes=f"p99 {gaps['p99_gap_ms']:.0f} ms, {gaps['ticks']} ticks of 10 ms, "
                          f"upgrade {gaps['seconds']:.1f} s (backup first)"))

    footer = [
        f"launch: median of {args.rounds} paired rounds, random order; value = median of "
        f"per-round ratios; tmux {size[0]}x{size[1]}, TERM=tmux-256color",
        f"keys: send-keys to the first capture showing the step, polled every "
        f"{args.poll_ms:g} ms; method floor (a program answering at once): {_ms(floor)}",
        f"{os.cpu_count()} cores; in-process gaps: a 10 ms timer on the app's event loop, "
        "driven by Textual's pilot", measured_on()]
    print_table("rfsetup TUI vs lazyalembic, in tmux", figures, footer,
                file=sys.stderr if args.json else sys.stdout)
    if args.json:
        dump_json("bench_tui", figures, {"method_floor_ms": floor, "size": list(size),
                                         "poll_ms": args.poll_ms})
    return 1 if args.check and not all(f.ok for f in figures) else 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:  # the servers and every child are stopped by now
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
