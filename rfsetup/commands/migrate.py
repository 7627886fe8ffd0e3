"""``rfsetup migrate …`` and ``rfsetup seed``: thin wrappers over the core (backups: backup.py).

Output is for people on stdout (progress streams as it happens), JSON with ``--json``; errors
are RfsetupError values that cli.main prints as one line plus a hint. Destructive commands
(down, stamp) need ``--yes`` or the database name typed at a terminal; without either
they exit 2 before touching anything.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator

from rfsetup.commands.common import print_json
from rfsetup.core import migrations
from rfsetup.core.errors import ExitCode, RfsetupError, bad_input
from rfsetup.core.settings import Settings

INTERRUPTED = 130


def _say(line: str) -> None:
    print(line, flush=True)


def _database(ctx: Settings) -> str:
    return str(ctx.url().database)


def _confirm(args: argparse.Namespace, database: str, action: str,
             details: Callable[[], str | None] | None = None) -> bool:
    """--yes, or the database name typed at a terminal; otherwise exit 2 with nothing done.

    ``details`` (called only at a terminal) describes what will happen; when it returns None
    there is nothing to confirm and False is returned.
    """
    if getattr(args, "yes", False):
        return True
    if not sys.stdin.isatty():
        raise bad_input(f"{action} needs confirmation; nothing was changed",
                        hint=f"add --yes, or run it in a terminal and type the database name "
                             f"({database})")
    text = details() if details else action
    if text is None:
        return False
    sys.stderr.write(f"{text}\ntype the database name to confirm: ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip()
    if answer != database:
        raise bad_input(f"{answer!r} is not {database!r}; nothing was changed",
                        hint="type the database name exactly, or pass --yes")
    return True


@contextlib.contextmanager
def _interrupt_cancels(cancel: threading.Event) -> Iterator[None]:
    """First Ctrl-C: stop cleanly after the running revision. Second: abort it (rolled back).

    psycopg2's wait_select callback lets that second Ctrl-C cancel a running statement on the
    server instead of waiting for it to end.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    import psycopg2.extensions
    import psycopg2.extras

    def handler(signum: int, frame: object) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("interrupt: stopping after the current revision (Ctrl-C again aborts it)",
              file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, handler)
    previous_wait = psycopg2.extensions.get_wait_callback()
    psycopg2.extensions.set_wait_callback(psycopg2.extras.wait_select)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        psycopg2.extensions.set_wait_callback(previous_wait)


def _move_text(p: migrations.Preview, database: str) -> str:
    """``upgrade database D from A to B (N revisions)``: what a plan or preview will do."""
    verb = "upgrade" if p.direction == "up" else "downgrade"
    count = len(p.steps)
    return (f"{verb} database {database} from {migrations.describe_revisions(p.from_revisions)} "
            f"to {p.target} ({count} revision{'s' if count != 1 else ''})")


def _plan_text(p: migrations.Preview, database: str) -> str:
    revs = "".join(f"\n  {s.revision}  {s.message}" for s in p.steps)
    return f"this will {_move_text(p, database)}:{revs}"


# -- migrate history -------------------------------------------------------------------------------
def history(args: argparse.Namespace, ctx: Settings) -> int:
    cfg = migrations.load_config(ctx)
    script = migrations.script_directory(cfg)
    try:
        current = migrations.current_revisions(ctx, cfg)
    except RfsetupError as exc:
        # During an outage the scripts are still worth reading (alembic history needs no
        # database either): print them unmarked, then the diagnosis, and keep exit 3.
        if args.json or exc.exit_code != ExitCode.CONNECT:
            raise
        for info in migrations.history_of(script, ()):
            parents = ", ".join(info.down_revisions) or "base"
            _say(f"? {info.revision}  {info.message}  <- {parents}")
        _say("legend: ? the database's revision is unknown (it cannot be reached)")
        raise
    infos = migrations.history_of(script, current)
    if args.json:
        print_json([info.to_json() for info in infos])
        return 0
    if not infos:
        _say(f"no revisions in {script.dir}")
        return 0
    database = _database(ctx)
    unknown = migrations.unknown_revisions(script, current)
    heads = [i.revision for i in infos if i.is_head]
    where = migrations.describe_revisions(current)
    at_head = bool(current) and set(current) == set(heads)
    _say(f"database {database} is at {where}{' (head)' if at_head else ''}")
    width = max(len(i.revision) for i in infos)
    for info in infos:
        marker = "@" if info.is_current else "*" if info.is_applied else "o"
        tags = [t for t, on in (("head", info.is_head), ("current", info.is_current),
                                ("branch point", info.is_branch_point),
                                ("merge", info.is_merge)) if on]
        tag_text = f" ({', '.join(tags)})" if tags else ""
        parents = ", ".join(info.down_revisions) or "base"
        _say(f"{marker} {info.revision:<{width}}  {info.message}{tag_text}  <- {parents}")
    _say("legend: @ current  * applied  o not applied")
    if len(heads) > 1:
        _say(f"note: {len(heads)} heads ({', '.join(heads)}): upgrade them all with "
             f"'rfsetup migrate up heads', or merge them (alembic merge -m 'merge heads' "
             f"{' '.join(heads)})")
    if unknown:
        _say(f"warning: the database is at {', '.join(unknown)}, which is not in these "
             "migration scripts (wrong -c, or code older than the database?)")
    return 0


# -- migrate preview -------------------------------------------------------------------------------
def preview(args: argparse.Namespace, ctx: Settings) -> int:
    p = migrations.preview(ctx, args.target, down=args.down)
    database = _database(ctx)
    verb = "upgrade" if p.direction == "up" else "downgrade"
    if not p.steps:
        _say(f"-- nothing to {verb}: database {database} is at "
             f"{migrations.describe_revisions(p.from_revisions)}")
        return 0
    _say(f"-- rfsetup migrate preview: {_move_text(p, database)}; nothing was executed")
    sys.stdout.write(p.sql if p.sql.endswith("\n") else p.sql + "\n")
    if args.lint:
        _print_lint(p)
    return 0


def _print_lint(p: migrations.Preview) -> None:
    findings = migrations.lint(p)
    _say(f"-- lint (squawk): {len(findings)} finding{'s' if len(findings) != 1 else ''}")
    messages = {s.revision: s.message for s in p.steps}
    for step in p.steps:
        mine = [f for f in findings if f.revision == step.revision]
        if not mine:
            continue
        _say(f"-- {step.revision} {messages[step.revision]}")
        for f in mine:
            where = f"line {f.line}" if f.line else "?"
            _say(f"--   {where} {f.level} {f.rule}: {f.message}")
    if any("timeout" in f.rule for f in findings):
        from rfsetup.core.locking import session_timeouts

        settings = ", ".join(f"{k}={v}" for k, v in session_timeouts().items())
        _say(f"-- note: rfsetup migrate up/down set {settings} on their session")


# -- migrate up / down / stamp ---------------------------------------------------------------------
def _run_migration(move: Callable[..., migrations.MigrationResult], args: argparse.Namespace,
                   ctx: Settings) -> int:
    """``migrations.upgrade`` or ``downgrade`` to --target, progress streamed, Ctrl-C wired to
    cancel (``_interrupt_cancels``); 130 when it stopped early."""
    cancel = threading.Event()
    with _interrupt_cancels(cancel):
        result = move(ctx, args.target, backup=not args.no_backup, on_progress=_say,
                      cancel=cancel)
    return INTERRUPTED if result.cancelled else 0


def up(args: argparse.Namespace, ctx: Settings) -> int:
    return _run_migration(migrations.upgrade, args, ctx)


def down(args: argparse.Namespace, ctx: Settings) -> int:
    database = _database(ctx)

    def details() -> str | None:
        p = migrations.plan(ctx, args.target, down=True)
        return _plan_text(p, database) if p.steps else None

    if not _confirm(args, database, f"downgrading database {database}", details):
        _say(f"nothing to do: database {database} is already at the target")
        return 0
    return _run_migration(migrations.downgrade, args, ctx)


def stamp(args: argparse.Namespace, ctx: Settings) -> int:
    database = _database(ctx)
    _confirm(args, database, f"stamping database {database}",
             lambda: f"this will record revision {args.revision} in database {database} "
                     "without running any migration")
    result = migrations.stamp(ctx, args.revision)
    for line in result.log.splitlines():
        _say(line)
    return 0


# -- seed ------------------------------------------------------------------------------------------
def seed(args: argparse.Namespace, ctx: Settings) -> int:
    try:
        from rfsetup.core import seeding
    except ImportError as exc:
        raise RfsetupError("seeding is not available in this installation",
                           cause=str(exc), kind="seeding_missing") from None
    report = seeding.seed(ctx)
    if args.json:
        print_json(report.to_json())
        return 0
    for label in ("inserted", "updated", "unchanged"):
        ids = list(getattr(report, label, []) or [])
        _say(f"{label}: {', '.join(map(str, ids)) if ids else '-'}")
    return 0
