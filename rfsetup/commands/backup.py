"""``rfsetup backup create | list | restore | prune``: thin wrappers over the core.

Progress streams to stdout; the elapsed-time updates of a running pg_dump/psql are drawn in
place on a terminal's stderr and left out otherwise. Ctrl-C, SIGTERM or SIGHUP stops the
running tool (exit 130, nothing changed; a second one kills it at once). Restore and prune are
destructive: they need ``--yes`` or the database name typed at a terminal, and show first what
they will do.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from rfsetup.commands.common import confirm as _confirm
from rfsetup.commands.common import print_json
from rfsetup.commands.registry import JSON, YES, Group, arg
from rfsetup.commands.signals import stop_signals_cancel

if TYPE_CHECKING:
    from rfsetup.core.restoreplan import RestorePlan
    from rfsetup.core.settings import Settings

_SHOWN_TABLES = 15

backup = Group(
    "backup", "pg_dump backups: create, list, restore, prune",
    description="pg_dump -Fc files in ./.rfsetup/backups/ (0600), each with a JSON sidecar "
                "(database, server, revision, SHA-256). After each backup only the newest "
                "RFSETUP_BACKUP_KEEP (default 20) of that database are kept.",
    example="rfsetup backup list\nrfsetup backup restore FILE --yes")


class _Progress:
    """Lines to stdout; ticks (``ProgressTick``) redrawn in place on a terminal's stderr."""

    def __init__(self) -> None:
        from rfsetup.core.progress import ProgressTick

        self.tick = ProgressTick
        self.live = sys.stderr.isatty()
        self.pending = False

    def __call__(self, line: str) -> None:
        if isinstance(line, self.tick):
            if self.live:
                sys.stderr.write(f"\r{line}\x1b[K")
                sys.stderr.flush()
                self.pending = True
            return
        self.clear()
        print(line, flush=True)

    def clear(self) -> None:
        if self.pending:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.pending = False


@contextlib.contextmanager
def _ctrl_c_cancels(cancel: threading.Event, progress: _Progress) -> Iterator[None]:
    """First Ctrl-C, SIGTERM or SIGHUP: stop the running tool cleanly. Second: kill it at once
    (KeyboardInterrupt). See commands/signals.py."""
    try:
        with stop_signals_cancel(cancel, stopping="stopping", again="kills it now",
                                 before_message=progress.clear):
            yield
    finally:
        progress.clear()


@backup.command("create", example="rfsetup backup create")
def backup_create(args: argparse.Namespace, ctx: Settings) -> int:
    """take a backup now

    A pg_dump of the database (a pg_dump at least as new as the server), verified and named
    by database, UTC time and revision; the elapsed time is shown, Ctrl-C stops it (exit 130,
    nothing changed).
    """
    from rfsetup.core import alembic as migrations
    from rfsetup.core import backups

    cancel = threading.Event()
    progress = _Progress()
    with _ctrl_c_cancels(cancel, progress):
        info = backups.create_backup(ctx, on_progress=progress, cancel=cancel,
                                     version_table=migrations.version_table(ctx))
    progress(f"backup written to {info.path}")
    progress(f"  database {info.database} at revision {info.revision or 'base'}, "
             f"{info.size or 0} bytes, sha256 {info.sha256}")
    return 0


@backup.command("list", JSON, example="rfsetup backup list --json")
def backup_list(args: argparse.Namespace, ctx: Settings) -> int:
    """the backups taken here

    Newest first: when, database, revision and file (interrupted, partial dumps never).
    """
    from rfsetup.core import backups

    infos = backups.list_backups(ctx)
    if args.json:
        print_json([info.to_json() for info in infos])
        return 0
    if not infos:
        print(f"no backups in {ctx.backups_dir}")
        return 0
    db_width = max(len(info.database) for info in infos)
    rev_width = max(len(info.revision or "base") for info in infos)
    for info in infos:
        when = info.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        print(f"{when}  {info.database:<{db_width}}  {info.revision or 'base':<{rev_width}}  "
              f"{info.path}")
    return 0


def plan_text(plan: RestorePlan) -> str:
    """The confirmation: what is in the database now, what replaces it, what else goes."""
    rows = [f"this will replace everything in database {plan.database} with {plan.path.name}:",
            f"  now:  revision {plan.target_revision or 'base'}, "
            f"{len(plan.target_tables)} table(s)"]
    for table in plan.target_tables[:_SHOWN_TABLES]:
        estimate = "?" if table.rows is None else f"~{table.rows:,}"
        rows.append(f"          {table.name}  {estimate} rows")
    if len(plan.target_tables) > _SHOWN_TABLES:
        rows.append(f"          … and {len(plan.target_tables) - _SHOWN_TABLES} more")
    taken = f", taken {plan.dump_created}" if plan.dump_created else ""
    rows.append(f"  with: database {plan.dump_database or '?'} at revision "
                f"{plan.dump_revision or 'base'}{taken}, {len(plan.dump_tables)} table(s)"
                + (": " + ", ".join(plan.dump_tables[:_SHOWN_TABLES]) if plan.dump_tables
                   else "")
                + (" …" if len(plan.dump_tables) > _SHOWN_TABLES else ""))
    rows.append(f"  {plan.verification}")
    if plan.other_database or plan.other_server:
        rows.append(f"  note: a dump of database {plan.dump_database}"
                    + (" from another server" if plan.other_server else ""))
    if plan.extra_objects:
        rows.append(f"  also dropped, not in the dump: {', '.join(plan.extra_objects)}")
    rows.append("  a backup of the current state is taken first")
    return "\n".join(rows)


@backup.command(
    "restore",
    arg("file", metavar="FILE", help="a .dump from rfsetup backup list"),
    YES,
    arg("--from", dest="from_revision", metavar="REV",
        help="restore only if the database is at REV now (base, or a,b); "
             "otherwise exit 1 with nothing done"),
    arg("--into-other-database", action="store_true",
        help="allow a dump of another database or from another server"),
    arg("--drop-extra", action="store_true",
        help="allow dropping objects the dump does not contain (e.g. "
             "tables of later revisions)"),
    example="rfsetup backup restore .rfsetup/backups/FILE.dump --yes --drop-extra")
def backup_restore(args: argparse.Namespace, ctx: Settings) -> int:
    """put the database back as FILE has it

    One transaction: the database ends exactly as the file has it, revision included, or is
    untouched. The file's SHA-256 is checked first, what is replaced is shown, and the
    current state is backed up before anything changes.
    """
    from rfsetup.core import alembic as migrations
    from rfsetup.core import restore

    path = Path(args.file)
    vt = migrations.version_table(ctx)
    plan = restore.plan_restore(ctx, path, version_table=vt)
    plan.refuse_unless(into_other_database=args.into_other_database,
                       drop_extra=args.drop_extra)
    _confirm(args, plan.database, f"restoring database {plan.database}", lambda: plan_text(plan))
    cancel = threading.Event()
    progress = _Progress()
    with _ctrl_c_cancels(cancel, progress):
        restore.restore_backup(ctx, path, on_progress=progress, cancel=cancel,
                               into_other_database=args.into_other_database,
                               drop_extra=args.drop_extra, version_table=vt, confirmed=plan,
                               expect_from=migrations.parse_revisions(args.from_revision)
                               if args.from_revision is not None else None)
    return 0


@backup.command(
    "prune",
    arg("--keep", type=int, required=True, metavar="N",
        help="how many of the newest backups to keep (at least 1)"),
    YES,
    arg("--dry-run", action="store_true", help="list what would be removed"),
    example="rfsetup backup prune --keep 5 --dry-run")
def backup_prune(args: argparse.Namespace, ctx: Settings) -> int:
    """remove all but the newest N backups of the database

    Only files rfsetup wrote are removed, never the newest; asks for the database name (or
    takes --yes).
    """
    from rfsetup.core import backups

    database = str(ctx.url().database)
    doomed = backups.prune_backups(ctx, args.keep, database=database, dry_run=True)
    if not doomed:
        print(f"nothing to prune: database {database} has at most {args.keep} backup(s) "
              f"in {ctx.backups_dir}")
        return 0
    listing = "\n".join(f"  {info.path}" for info in doomed)
    if args.dry_run:
        print(f"would remove {len(doomed)} backup(s) of database {database} "
              f"(keeping the newest {args.keep}):\n{listing}")
        return 0
    _confirm(args, database, f"pruning the backups of database {database}",
             lambda: f"this will remove {len(doomed)} backup(s) of database {database} "
                     f"(keeping the newest {args.keep}):\n{listing}")
    removed = backups.prune_backups(ctx, args.keep, database=database)
    for info in removed:
        print(f"removed {info.path}")
    print(f"kept the newest {args.keep} backup(s) of database {database}")
    return 0
