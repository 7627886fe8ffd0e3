"""The rfsetup command line: a thin argparse layer over rfsetup.core.

The names, flags, JSON keys and exit codes here are a contract that scripts depend on: add
freely, never rename. Each command lives in ``rfsetup.commands.<group>`` and is imported only
when used, so ``rfsetup status`` loads neither textual nor anything else it does not need.
Bare ``rfsetup`` (and ``rfsetup rollback``) opens the TUI.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module

from rfsetup import __version__
from rfsetup.commands.common import print_error
from rfsetup.core.errors import ExitCode, RfsetupError


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line plus a hint, as every other bad input does."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(ExitCode.USAGE, f"error: {message}\n  hint: {self.prog} --help\n")


def _handler(module: str, func: str) -> dict[str, str]:
    return {"_handler": f"{module}:{func}"}


def build_parser() -> argparse.ArgumentParser:
    """The whole CLI contract (see README)."""
    p = _Parser(
        prog="rfsetup",
        description="Take RaptorFlow's database from nothing to migrated and seeded, and back. "
        "With no command, opens the guided terminal app.",
        epilog="exit codes: 0 done; 1 the operation or a check failed; 2 bad usage or input, "
        "nothing changed; 3 cannot connect",
    )
    p.add_argument("--version", action="version", version=f"rfsetup {__version__}")
    p.add_argument("--env-file", metavar="PATH",
                   help="the .env file (default: ./.env, else ./backend/.env)")
    p.add_argument("-c", "--config", metavar="ALEMBIC_INI",
                   help="the Alembic config (default: ./alembic.ini)")
    p.add_argument("--sandbox", action="store_true",
                   help="target the embedded sandbox PostgreSQL and Redis (starts them)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    doctor = sub.add_parser("doctor", help="check prerequisites, with the fix for this OS")
    doctor.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    doctor.set_defaults(**_handler("rfsetup.commands.doctor", "doctor"))

    status = sub.add_parser("status", help="revision, heads, pending, tables and Redis")
    status.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    status.set_defaults(**_handler("rfsetup.commands.status", "status"))

    env = sub.add_parser("env", help="read and edit the .env file")
    env_sub = env.add_subparsers(dest="env_command", metavar="ACTION", required=True,
                                 parser_class=_Parser)
    show = env_sub.add_parser("show", help="the .env values, secrets masked")
    show.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    show.add_argument("--reveal", action="store_true", help="show secrets unmasked")
    show.set_defaults(**_handler("rfsetup.commands.setup", "env_show"))
    setp = env_sub.add_parser("set", help="set one key, keeping every other byte of the file")
    setp.add_argument("key", help="the variable, e.g. DATABASE_URL")
    setp.add_argument("value", help="its value; - reads it from standard input (keeps a secret "
                      "out of the process list and shell history)")
    setp.add_argument("--force", action="store_true",
                      help="write even a read-only .env (e.g. mode 0400; its mode is kept)")
    setp.set_defaults(**_handler("rfsetup.commands.setup", "env_set"))
    gen = env_sub.add_parser("generate-secret", help="write 32 random bytes as hex")
    gen.add_argument("key", nargs="?", default="SECRET_KEY",
                     help="the variable to set (default: SECRET_KEY)")
    gen.add_argument("--force", action="store_true",
                     help="replace a valid secret already there (rotating SECRET_KEY logs "
                          "every user out; the old file is kept as .env.bak), and write "
                          "even a read-only .env")
    gen.set_defaults(**_handler("rfsetup.commands.setup", "env_generate_secret"))

    db = sub.add_parser("db", help="create the database and its role")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True,
                               parser_class=_Parser)
    create = db_sub.add_parser("create", help="create role and database (idempotent)")
    create.add_argument("--admin-url", metavar="URL",
                        help="an admin connection (default: DATABASE_URL's server as postgres)")
    create.add_argument("--name", help="database name (default: raptorflow; another project: app)")
    create.add_argument("--owner", metavar="ROLE",
                        help="role name (default: raptorflow; another project: app)")
    create.add_argument("--password-stdin", action="store_true",
                        help="read the role's password from standard input")
    create.add_argument("--write-env", action="store_true",
                        help="point DATABASE_URL in the .env file at the new database")
    create.add_argument("--dry-run", action="store_true", help="print the SQL, change nothing")
    create.set_defaults(**_handler("rfsetup.commands.db", "db_create"))

    mig = sub.add_parser("migrate", help="history, preview, upgrade, rollback, stamp")
    mig_sub = mig.add_subparsers(dest="migrate_command", metavar="ACTION", required=True,
                                 parser_class=_Parser)
    hist = mig_sub.add_parser("history", help="revisions with current, heads, branches, merges")
    hist.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    hist.set_defaults(**_handler("rfsetup.commands.migrate", "history"))
    prev = mig_sub.add_parser("preview", help="the SQL from the current revision to TARGET")
    prev.add_argument("target", nargs="?", metavar="TARGET",
                      help="a revision, head, +N or -N (default: head; with --down, -1)")
    prev.add_argument("--down", action="store_true", help="preview a downgrade (default -1)")
    prev.add_argument("--lint", action="store_true", help="lint the SQL with squawk")
    prev.set_defaults(**_handler("rfsetup.commands.migrate", "preview"))
    up = mig_sub.add_parser("up", help="upgrade (default: head), backup first")
    up.add_argument("target", nargs="?", default="head", metavar="TARGET",
                    help="a revision, head, heads or +N (default: head)")
    up.add_argument("--no-backup", action="store_true",
                    help="skip the pg_dump backup taken before the first change")
    up.add_argument("--from", dest="from_revision", metavar="REV",
                    help="run only if the database is at REV now (base, or a,b for two "
                         "heads); otherwise exit 1 with nothing done")
    up.set_defaults(**_handler("rfsetup.commands.migrate", "up"))
    down = mig_sub.add_parser("down", help="downgrade (default: -1), backup first")
    down.add_argument("target", nargs="?", default="-1", metavar="TARGET",
                      help="a revision, base or -N (default: -1)")
    down.add_argument("--yes", action="store_true", help="do not ask for the database name")
    down.add_argument("--no-backup", action="store_true",
                      help="skip the pg_dump backup taken before the first change")
    down.add_argument("--from", dest="from_revision", metavar="REV",
                    help="run only if the database is at REV now (base, or a,b for two "
                         "heads); otherwise exit 1 with nothing done")
    down.set_defaults(**_handler("rfsetup.commands.migrate", "down"))
    stamp = mig_sub.add_parser("stamp", help="set the revision without running migrations")
    stamp.add_argument("revision", metavar="REV", help="a revision, head or base")
    stamp.add_argument("--yes", action="store_true", help="do not ask for the database name")
    stamp.add_argument("--from", dest="from_revision", metavar="REV",
                    help="run only if the database is at REV now (base, or a,b for two "
                         "heads); otherwise exit 1 with nothing done")
    stamp.set_defaults(**_handler("rfsetup.commands.migrate", "stamp"))

    seed = sub.add_parser("seed", help="insert or update the plans (idempotent)")
    seed.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    seed.set_defaults(**_handler("rfsetup.commands.migrate", "seed"))

    backup = sub.add_parser("backup", help="pg_dump backups: create, list, restore, prune")
    b_sub = backup.add_subparsers(dest="backup_command", metavar="ACTION", required=True,
                                  parser_class=_Parser)
    b_sub.add_parser("create", help="take a backup now").set_defaults(
        **_handler("rfsetup.commands.backup", "backup_create"))
    blist = b_sub.add_parser("list", help="the backups taken here")
    blist.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    blist.set_defaults(**_handler("rfsetup.commands.backup", "backup_list"))
    brestore = b_sub.add_parser("restore", help="put the database back as FILE has it")
    brestore.add_argument("file", metavar="FILE", help="a .dump from rfsetup backup list")
    brestore.add_argument("--yes", action="store_true", help="do not ask for the database name")
    brestore.add_argument("--from", dest="from_revision", metavar="REV",
                          help="restore only if the database is at REV now (base, or a,b); "
                               "otherwise exit 1 with nothing done")
    brestore.add_argument("--into-other-database", action="store_true",
                          help="allow a dump of another database or from another server")
    brestore.add_argument("--drop-extra", action="store_true",
                          help="allow dropping objects the dump does not contain (e.g. "
                               "tables of later revisions)")
    brestore.set_defaults(**_handler("rfsetup.commands.backup", "backup_restore"))
    bprune = b_sub.add_parser("prune", help="remove all but the newest N backups of the database")
    bprune.add_argument("--keep", type=int, required=True, metavar="N",
                        help="how many of the newest backups to keep (at least 1)")
    bprune.add_argument("--yes", action="store_true", help="do not ask for the database name")
    bprune.add_argument("--dry-run", action="store_true", help="list what would be removed")
    bprune.set_defaults(**_handler("rfsetup.commands.backup", "backup_prune"))

    sandbox = sub.add_parser("sandbox", help="embedded PostgreSQL and Redis for a bare machine")
    s_sub = sandbox.add_subparsers(dest="sandbox_command", metavar="ACTION", required=True,
                                   parser_class=_Parser)
    for action, text in (("start", "start (and create) the sandbox"),
                         ("stop", "stop it, keeping its data"),
                         ("status", "is it running, and where")):
        s_sub.add_parser(action, help=text).set_defaults(
            **_handler("rfsetup.commands.sandbox", f"sandbox_{action}"))

    rollback = sub.add_parser("rollback", help="open the TUI on Migrations, one step down chosen")
    rollback.set_defaults(_handler="tui")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rfsetup`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "_handler", None)
    if handler is None or handler == "tui":
        return _run_tui(args)
    module, func = handler.split(":")
    ctx = None
    try:
        from rfsetup.commands.common import context_from_args

        ctx = context_from_args(args)
        return int(getattr(import_module(module), func)(args, ctx))
    except RfsetupError as err:
        print_error(err)
        return int(err.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `rfsetup … | head` closed the pipe: not an error of ours, and no traceback
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return int(ExitCode.OK)
    except Exception as exc:
        import os

        if os.environ.get("RFSETUP_DEBUG"):
            raise
        from rfsetup.core.errors import unexpected

        err = unexpected(f"rfsetup {args.command}", exc, _known_secrets(ctx))
        print_error(err)
        return int(err.exit_code)


def _known_secrets(ctx: object) -> list[str]:
    """Secrets inside the URLs in play (a userinfo or ?password= password), so an unexpected
    error never prints them."""
    from rfsetup.core.redact import url_secrets

    secrets: list[str] = []
    for raw in (getattr(ctx, "database_url", None), getattr(ctx, "redis_url", None)):
        if raw:
            secrets.extend(url_secrets(raw))
    return secrets


def _run_tui(args: argparse.Namespace) -> int:
    try:
        from rfsetup.commands.common import context_from_args

        ctx = context_from_args(args)
        from rfsetup.tui.app import run_app
    except RfsetupError as err:
        print_error(err)
        return int(err.exit_code)
    except ImportError as exc:  # the TUI is optional only in a broken install
        print(f"error: the terminal app cannot start: {exc}", file=sys.stderr)
        return 1
    return run_app(ctx, rollback=args.command == "rollback")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
