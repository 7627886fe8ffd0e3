"""``rfsetup migrate recover [--stamp] [--yes] [--json]``: a database at a revision these
scripts lack (a branch switch) or at a head whose schema differs from the models
(half-applied): what is wrong, where git has the revision, and the ways out."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from rfsetup.commands.common import confirm, print_json
from rfsetup.commands.migrate import migrate
from rfsetup.commands.registry import JSON, YES, arg

if TYPE_CHECKING:
    from rfsetup.core.settings import Settings


@migrate.command(
    "recover",
    arg("--stamp", action="store_true",
        help="stamp the newest revision both histories share in place of the unknown one "
             "(after the database name, or --yes)"),
    arg("--force", action="store_true",
        help="allow --stamp on a production target"),
    YES, JSON,
    example="rfsetup migrate recover\nrfsetup migrate recover --stamp")
def recover(args: argparse.Namespace, ctx: Settings) -> int:
    """after a branch switch or a half-applied upgrade: the ways out

    When the database is at a revision these scripts do not have (typically after `git
    switch`: "Can't locate revision"), asks git (read-only) which branch, remote branch, tag
    or commit has that revision file, finds the newest revision both histories share, and
    shows the two ways out: check that branch out and roll back to it there, or --stamp it
    here (which leaves the other branch's objects in the schema; they are listed). When the
    database is at the head, compares its schema with the models (env.py's target_metadata,
    Alembic's autogenerate comparison) and names every object that differs. Exit 0 when
    nothing is wrong (or the stamp was done), 1 when something is, 2 when --stamp cannot be
    done. On a production target --stamp also needs --force, like migrate stamp.
    """
    from rfsetup.core import guard
    from rfsetup.core.recovery import diagnose, recovery_lines, stamp_ancestor

    if args.stamp:  # refused before anything is read, as migrate stamp refuses it
        guard.check_stamp(ctx, args.force)
    rec = diagnose(ctx)
    if args.json and not args.stamp:
        print_json(rec.to_json())
        return 1 if rec.problem else 0
    out = sys.stderr if args.json else sys.stdout
    for line in recovery_lines(rec):
        print(line, file=out)
    if not args.stamp:
        return 1 if rec.problem else 0
    from rfsetup.core.errors import bad_input

    target = rec.stamp_target
    if not rec.branch_switch or target is None:
        raise bad_input("--stamp: " + ("the database's revision is one these scripts know; "
                                       "nothing was changed" if not rec.branch_switch else
                                       "no single common ancestor to stamp; nothing was "
                                       "changed"),
                        hint="rfsetup migrate stamp REV stamps any revision you choose")
    database = rec.database
    left = ", ".join(r.revision for r in rec.left_behind) or "none"
    confirm(args, database, f"stamping database {database}",
            lambda: f"this will record revision {target} in database {database} in place of "
                    f"{', '.join(rec.unknown)}, running no migration; the schema keeps what "
                    f"the other branch's revisions created ({left})")
    result = stamp_ancestor(ctx, rec, on_progress=lambda line: print(line, file=out))
    if args.json:
        print_json({"recovery": rec.to_json(), "stamp": result.to_json()})
    return 0
