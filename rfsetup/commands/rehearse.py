"""``rfsetup rehearse [TARGET]``: the pending migrations up, down and up again on a throwaway
copy of the database, with each revision's time, locks and rows, and whether down undoes up.

Ctrl-C (or SIGTERM, SIGHUP: commands/signals.py) stops the rehearsal at the next revision and
drops the copy (exit 130); a second one stops at once, and the copy is still dropped.
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import TYPE_CHECKING

from rfsetup.commands.common import print_json
from rfsetup.commands.registry import JSON, arg, command

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from rfsetup.core.settings import Settings


def _admin(args: argparse.Namespace, ctx: Settings) -> URL | None:
    if not args.admin_url:
        return None
    from rfsetup.core import dbcreate

    url = dbcreate.parse_admin_url(args.admin_url)
    if url.password is not None:
        print("note: a password inside --admin-url is visible in the process list; "
              "PGPASSWORD in the environment keeps it private", file=sys.stderr)
    elif ctx.pgpassword:
        url = url.set(password=ctx.pgpassword)
    return url


@command(
    "rehearse",
    arg("target", nargs="?", metavar="TARGET", help="a revision, head or heads (default: head)"),
    JSON,
    arg("--admin-url", metavar="URL",
        help="make and drop the copy as this admin (when DATABASE_URL's role may not create "
             "databases); its password from PGPASSWORD"),
    arg("--copy-with", choices=("auto", "template", "dump"), default="auto",
        help="how the copy is made: a template copy when nobody is connected (auto), always "
             "(template), or pg_dump | pg_restore (dump)"),
    arg("-v", "--verbose", action="store_true", help="show the runner's output as it runs"),
    example="rfsetup rehearse\nrfsetup rehearse 0003_intel --json")
def rehearse(args: argparse.Namespace, ctx: Settings) -> int:
    """the pending migrations up, down, up on a throwaway copy

    Copies the database to a throwaway one (rfsetup_rehearsal_<db>_<utc>_<id>) on the same
    server, runs the pending revisions up to TARGET, then down, then up again on the copy with
    rfsetup's own runner, and reports per revision its time, the locks it took on existing
    tables (read from pg_locks), the rows it touched (pg_stat_user_tables), squawk's
    findings, and whether the schema after up -> down -> up is the schema after the first up
    (compared with pg_dump -s). The copy is dropped at the end, also after a failure or Ctrl-C;
    the database itself is only read. Needs a role that may create databases (CREATEDB), or
    --admin-url. Exit 0 when every revision went up, down and up again and the schemas match
    (after up -> down -> up, and after down with the database's now); 1 when a revision failed
    or down does not undo up; 130 when interrupted.
    """
    from rfsetup.core.rehearse import rehearse as run_rehearsal
    from rfsetup.core.rehearsereport import report_lines

    def say(line: str) -> None:
        if args.verbose or not line.startswith("  "):
            print(line, file=sys.stderr if args.json else sys.stdout, flush=True)

    from rfsetup.commands.signals import stop_signals_cancel

    cancel = threading.Event()
    with stop_signals_cancel(cancel, stopping="stopping the rehearsal at the next revision "
                             "and dropping the copy", again="stops at once; the copy is "
                             "still dropped", cancel_statements=True):
        report = run_rehearsal(ctx, args.target, admin_url=_admin(args, ctx),
                               method=args.copy_with, on_progress=say, cancel=cancel)
    if args.json:
        print_json(report.to_json())
    else:
        print("\n".join(report_lines(report)))
    return 0 if report.passed else 1
