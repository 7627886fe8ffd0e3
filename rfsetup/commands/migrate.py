"""``rfsetup migrate …`` and ``rfsetup seed``: thin wrappers over the core (backups: backup.py).

Output is for people on stdout (progress streams as it happens), JSON with ``--json``; errors
are RfsetupError values that cli.main prints as one line plus a hint. Destructive commands
(down, stamp) need ``--yes`` or the database name typed at a terminal; without either
they exit 2 before touching anything.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from rfsetup.commands.common import can_confirm as _can_confirm
from rfsetup.commands.common import confirm as _confirm
from rfsetup.commands.common import print_json
from rfsetup.commands.registry import JSON, YES, Group, arg, command
from rfsetup.commands.signals import stop_signals_cancel
from rfsetup.core.errors import ExitCode, RfsetupError, bad_input

if TYPE_CHECKING:
    from rfsetup.core import alembic as migrations
    from rfsetup.core.settings import Settings

INTERRUPTED = 130

migrate = Group(
    "migrate", "history, preview, upgrade, rollback, stamp",
    description="Alembic's migrations, run in-process on the target database. up, down and "
                "stamp hold the migration lock; up and down take a pg_dump backup first; "
                "down and stamp ask for the database name (or take --yes).",
    example="rfsetup migrate preview --down && rfsetup migrate down --yes")

NO_BACKUP = arg("--no-backup", action="store_true",
                help="skip the pg_dump backup taken before the first change")
FROM = arg("--from", dest="from_revision", metavar="REV",
           help="run only if the database is at REV now (base, or a,b for two "
                "heads); otherwise exit 1 with nothing done")


def _say(line: str) -> None:
    print(line, flush=True)


def _database(ctx: Settings) -> str:
    return str(ctx.url().database)


@contextlib.contextmanager
def _interrupt_cancels(cancel: threading.Event) -> Iterator[None]:
    """First Ctrl-C, SIGTERM or SIGHUP: stop cleanly after the running revision. Second: abort
    it (its statement is cancelled on the server and rolled back). See commands/signals.py."""
    with stop_signals_cancel(cancel, stopping="stopping after the current revision",
                             again="aborts it", cancel_statements=True):
        yield


def _plan_text(p: migrations.Plan, ctx: Settings | None = None) -> str:
    """The confirmation of ``migrate down``: with ``ctx``, the SQL (as ``migrate preview
    --down`` prints it), the statements that matter, what is dropped with row estimates;
    last, right above the prompt, what moves where."""
    revs = "".join(f"\n  {s.revision}  {s.message}" for s in p.steps)
    plan = f"this will {p.describe()}:{revs}"
    if ctx is None or p.kind != "down":
        return plan
    from rfsetup.core import alembic as migrations
    from rfsetup.core.alembic.impact import rollback_impact
    from rfsetup.core.alembic.statements import changes_text, statements_of

    shown = migrations.preview(ctx, p.target, down=True)
    sql = shown.sql if shown.sql.endswith("\n") else shown.sql + "\n"
    parts = ["-- the SQL it runs (the same as: rfsetup migrate preview --down "
             f"{p.target}):", sql.rstrip("\n"), "", changes_text(statements_of(shown)), ""]
    try:
        impact = rollback_impact(ctx, shown)
    except RfsetupError as exc:  # the estimates are advisory: say so, do not hide the plan
        parts.append(f"what it drops: unknown ({exc.message})")
    else:
        parts.append(("WARNING: " if impact.loses_data else "") + impact.summary())
        parts += [f"  {line}" for line in impact.details()]
    parts += ["", plan]
    return "\n".join(parts)


def _expect_from(args: argparse.Namespace) -> tuple[str, ...] | None:
    from rfsetup.core.alembic import parse_revisions

    raw = getattr(args, "from_revision", None)
    return None if raw is None else parse_revisions(raw)


# -- migrate history -------------------------------------------------------------------------------
@migrate.command("history", JSON, example="rfsetup migrate history --json")
def history(args: argparse.Namespace, ctx: Settings) -> int:
    """revisions with current, heads, branches, merges

    Every revision of the migration scripts, newest first: @ the database's current revision,
    * applied, o not applied; heads, branch points and merges named. When the database cannot
    be reached the revisions are still listed (unmarked) and the exit code is 3.
    """
    from rfsetup.core import alembic as migrations
    from rfsetup.core.status import warm_reading

    warm = warm_reading(ctx)  # a warm cache: no Alembic, no SQLAlchemy
    if warm is not None:
        graph, error = warm.graph, warm.database.error
        current = warm.current or ()
        where = lambda: str(warm.database.name)  # noqa: E731
    else:
        project = migrations.load(ctx)
        graph, error = project.graph(), None
        where = lambda: _database(ctx)  # noqa: E731
        try:
            current = migrations.current_revisions(ctx, project)
        except RfsetupError as exc:
            error = exc
    if error is not None:
        # During an outage the scripts are still worth reading (alembic history needs no
        # database either): print them unmarked, then the diagnosis, and keep exit 3.
        if args.json or error.exit_code != ExitCode.CONNECT:
            raise error
        for info in migrations.history_of(graph, ()):
            parents = ", ".join(info.down_revisions) or "base"
            _say(f"? {info.revision}  {info.message}  <- {parents}")
        _say("legend: ? the database's revision is unknown (it cannot be reached)")
        raise error
    infos = migrations.history_of(graph, current)
    if args.json:
        print_json([info.to_json() for info in infos])
        return 0
    if not infos:
        _say(f"no revisions in {ctx.alembic_ini}'s script location")
        return 0
    database = where()
    unknown = [r for r in current if r not in graph.parents]
    heads = [i.revision for i in infos if i.is_head]
    where = migrations.describe_revisions(current)
    at_head = bool(current) and set(current) == set(heads)
    _say(f"database {database} is at {where}{' (head)' if at_head else ''}")
    width = max(len(i.revision) for i in infos)
    lines = []
    for info in infos:
        marker = "@" if info.is_current else "*" if info.is_applied else "o"
        tags = [t for t, on in (("head", info.is_head), ("current", info.is_current),
                                ("branch point", info.is_branch_point),
                                ("merge", info.is_merge)) if on]
        tag_text = f" ({', '.join(tags)})" if tags else ""
        parents = ", ".join(info.down_revisions) or "base"
        lines.append(f"{marker} {info.revision:<{width}}  {info.message}{tag_text}  <- {parents}")
    sys.stdout.write("\n".join(lines) + "\n")
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
@migrate.command(
    "preview",
    arg("target", nargs="?", metavar="TARGET",
        help="a revision, head, +N or -N (default: head; with --down, -1)"),
    arg("--down", action="store_true", help="preview a downgrade (default -1)"),
    arg("--lint", action="store_true", help="lint the SQL with squawk"),
    example="rfsetup migrate preview --down --lint")
def preview(args: argparse.Namespace, ctx: Settings) -> int:
    """the SQL from the current revision to TARGET

    The exact SQL that `migrate up` (or, with --down, `migrate down`) would run from the
    revision the database is at now; nothing is executed. A revision without offline SQL is
    named and its Python shown in its place. --lint adds squawk's findings per revision.
    """
    from rfsetup.core import alembic as migrations

    p = migrations.preview(ctx, args.target, down=args.down)
    database = _database(ctx)
    kind = "down" if args.down else "up"
    verb = "upgrade" if kind == "up" else "downgrade"
    if not p.steps:
        _say(f"-- nothing to {verb}: database {database} is at "
             f"{migrations.describe_revisions(p.from_revisions)}")
        return 0
    move = migrations.describe_move(kind, database, p.from_revisions, p.to_revisions,
                                    len(p.steps))
    _say(f"-- rfsetup migrate preview: {move}; nothing was executed")
    for gap in p.offline_gaps:
        _say(f"-- note: revision {gap.revision} ({gap.message}) has no offline SQL "
             f"({gap.reason}{f' at {gap.location}' if gap.location else ''}); its Python "
             "source is shown in its place")
    if not p.per_migration:
        _say("-- note: env.py runs these revisions in ONE transaction "
             "(no transaction_per_migration): a failure rolls back the whole run")
    sys.stdout.write(p.sql if p.sql.endswith("\n") else p.sql + "\n")
    if args.lint:
        _print_lint(p, ctx)
    return 0


def _print_lint(p: migrations.Preview, ctx: Settings) -> None:
    from rfsetup.core import alembic as migrations
    from rfsetup.core.alembic.planning import count_text
    from rfsetup.core.alembic.squawk import timeout_note
    from rfsetup.core.locking import session_timeouts

    findings = migrations.lint(p, timeouts=session_timeouts(ctx))
    _say(f"-- lint (squawk): {count_text(len(findings), 'finding')}")
    messages = {s.revision: s.message for s in p.steps}
    for step in p.steps:
        mine = [f for f in findings if f.revision == step.revision]
        if not mine:
            continue
        _say(f"-- {step.revision} {messages[step.revision]}")
        for f in mine:
            where = f"line {f.line}" if f.line else "?"
            _say(f"--   {where} {f.level} {f.rule}: {f.message}")
    _say(f"-- note: {timeout_note(session_timeouts(ctx))}")


# -- migrate up / down / stamp ---------------------------------------------------------------------
def _run_migration(move: Callable[..., migrations.MigrationResult], args: argparse.Namespace,
                   ctx: Settings, plan: migrations.Plan | None = None) -> int:
    """``migrations.upgrade`` or ``downgrade`` to the target, progress streamed, Ctrl-C wired to
    cancel (``_interrupt_cancels``); 130 when it stopped early."""
    cancel = threading.Event()
    with _interrupt_cancels(cancel):
        result = move(ctx, args.target, backup=not args.no_backup, on_progress=_say,
                      cancel=cancel, plan=plan, expect_from=_expect_from(args))
    return INTERRUPTED if result.cancelled else 0


@migrate.command(
    "up",
    arg("target", nargs="?", default="head", metavar="TARGET",
        help="a revision, head, heads or +N (default: head)"),
    NO_BACKUP, FROM,
    arg("--yes", action="store_true",
        help="on a production target: do not ask for the database name"),
    example="rfsetup migrate up              # to head, a backup first\n"
            "rfsetup migrate up +1 --from 0002_billing")
def up(args: argparse.Namespace, ctx: Settings) -> int:
    """upgrade (default: head), backup first

    Runs the upgrade under the migration lock (a second runner waits RFSETUP_LOCK_WAIT
    seconds), after a pg_dump backup of the database (its path is printed). Alembic's output
    streams as it runs; Ctrl-C stops after the running revision (exit 130), a second Ctrl-C
    aborts it. A failure names the revision the database was left at. On a production target
    (RFSETUP_ENV=production, .env.production, APP_ENV=production) it asks for the database
    name (or takes --yes) and --no-backup is refused.
    """
    from rfsetup.core import alembic as migrations
    from rfsetup.core import guard

    guard.check_backup(ctx, not args.no_backup)
    if not guard.upgrade_needs_confirmation(ctx):
        return _run_migration(migrations.upgrade, args, ctx)
    database = _database(ctx)
    action = f"upgrading production database {database}"
    _can_confirm(args, database, action)
    planned = _planned(args, ctx, database)
    if planned is None:
        return 0
    _confirm(args, database, action,
             lambda: f"PRODUCTION ({ctx.production})\n{_plan_text(planned)}")
    return _run_migration(migrations.upgrade, args, ctx, plan=planned)


def _planned(args: argparse.Namespace, ctx: Settings, database: str, *, down: bool = False
             ) -> migrations.Plan | None:
    """The move to confirm, planned from the database as it is (``--from`` checked against
    it); None, said, when there is nothing to do."""
    from rfsetup.core import alembic as migrations

    planned = migrations.plan(ctx, args.target, down=down)
    expected = _expect_from(args)
    if expected is not None and set(expected) != set(planned.from_revisions):
        raise migrations_moved(database, expected, planned.from_revisions)
    if not planned.steps:
        _say(f"nothing to do: database {database} is already at "
             f"{migrations.describe_revisions(planned.from_revisions)}")
        return None
    return planned


@migrate.command(
    "down",
    arg("target", nargs="?", default="-1", metavar="TARGET",
        help="a revision, base or -N (default: -1)"),
    YES, NO_BACKUP, FROM,
    example="rfsetup migrate down --yes     # one step back, a backup first\n"
            "rfsetup migrate down 0002_billing --from 0004_production_indexes")
def down(args: argparse.Namespace, ctx: Settings) -> int:
    """downgrade (default: -1), backup first

    Plans the move first and shows the revisions it undoes; then asks for the database name
    (or takes --yes), takes a pg_dump backup and runs the downgrade under the migration lock.
    A database that moved since the plan is left alone (exit 1). `migrate preview --down`
    shows the SQL beforehand.
    """
    from rfsetup.core import alembic as migrations
    from rfsetup.core import guard

    guard.check_backup(ctx, not args.no_backup)
    database = _database(ctx)
    _can_confirm(args, database, f"downgrading database {database}")
    # planned first, so what is confirmed (and what --yes agreed to) is exactly what runs
    planned = _planned(args, ctx, database, down=True)
    if planned is None:
        return 0
    _confirm(args, database, f"downgrading database {database}",
             lambda: _plan_text(planned, ctx))
    return _run_migration(migrations.downgrade, args, ctx, plan=planned)


def migrations_moved(database: str, expected: tuple[str, ...], now: tuple[str, ...]
                     ) -> RfsetupError:
    from rfsetup.core.alembic.runner import moved_error

    return moved_error(database, expected, now, confirmed=False)


@migrate.command(
    "stamp",
    arg("revision", metavar="REV", help="a revision, head or base"),
    YES, FROM,
    arg("--force", action="store_true",
        help="allow a stamp on a production target"),
    example="rfsetup migrate stamp head --yes")
def stamp(args: argparse.Namespace, ctx: Settings) -> int:
    """set the revision without running migrations

    Records REV in the version table without running any migration (for a database whose
    schema already matches REV), after the database name (or --yes). No backup: no data
    changes. On a production target it also needs --force.
    """
    from rfsetup.core import alembic as migrations
    from rfsetup.core import guard

    guard.check_stamp(ctx, args.force)
    database = _database(ctx)
    _can_confirm(args, database, f"stamping database {database}")
    planned = migrations.plan(ctx, args.revision, kind="stamp")
    expected = _expect_from(args)
    if expected is not None and set(expected) != set(planned.from_revisions):
        raise migrations_moved(database, expected, planned.from_revisions)
    _confirm(args, database, f"stamping database {database}",
             lambda: f"this will record revision {args.revision} in database {database} "
                     f"(now at {migrations.describe_revisions(planned.from_revisions)}) "
                     "without running any migration")
    cancel = threading.Event()
    with _interrupt_cancels(cancel):
        result = migrations.stamp(ctx, args.revision, plan=planned, cancel=cancel)
    for line in result.log.splitlines():
        _say(line)
    return INTERRUPTED if result.cancelled else 0


# -- seed ------------------------------------------------------------------------------------------
@command("seed", JSON,
         arg("--dev", action="store_true",
             help="the dev fixtures instead: a local organisation, owner, workspace, project "
                  "and sample threat intel"),
         arg("--remove", action="store_true", help="with --dev: remove exactly those rows"),
         example="rfsetup seed --json\nrfsetup --sandbox seed --dev\nrfsetup seed --dev --remove")
def seed(args: argparse.Namespace, ctx: Settings) -> int:
    """insert or update the plans (idempotent); --dev: dev fixtures

    Writes RaptorFlow's plans (seeds/plans.json) with an upsert and reports each plan as
    inserted, updated or unchanged; a second run changes nothing.

    --dev adds the dev fixtures (seeds/dev.json): a local organisation, its owner user and
    membership, a workspace, a project and a small sample of fictional threat intel (an
    indicator of each type, an actor, a campaign, a vulnerability, a report), so the app has
    something to show. A second run adds nothing and says so; --dev --remove takes away
    exactly those rows (one another row depends on is kept and named). Never on a production
    target.
    """
    from rfsetup.core import seeding

    if args.remove and not args.dev:
        raise bad_input("--remove goes with --dev (rfsetup seed --dev --remove); the plans "
                        "are never removed")
    if args.dev:
        return _seed_dev(args, ctx)

    if not ctx.profile.has_seeds:
        raise bad_input(f"this project ({ctx.alembic_ini}) has no seeds: rfsetup seeds "
                        "RaptorFlow's plans only", hint="run it in RaptorFlow's repository")
    report = seeding.seed(ctx)
    if args.json:
        print_json(report.to_json())
        return 0
    for label in ("inserted", "updated", "unchanged"):
        ids = list(getattr(report, label, []) or [])
        _say(f"{label}: {', '.join(map(str, ids)) if ids else '-'}")
    return 0


def _seed_dev(args: argparse.Namespace, ctx: Settings) -> int:
    from rfsetup.core import devseed

    report = devseed.seed_dev(ctx, remove=args.remove)
    if args.json:
        print_json(report.to_json())
        return 0
    _say(devseed.summary(report))
    if isinstance(report, devseed.DevRemoval):
        for table, reasons in report.kept.items():
            for reason in reasons:
                _say(f"kept {table} {reason}")
    return 0
