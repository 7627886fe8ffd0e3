"""The rfsetup command line: argparse built from the commands' own registrations.

The names, flags, JSON keys and exit codes are a contract that scripts depend on: add freely,
never rename. Each ``rfsetup.commands.<group>`` module registers its subcommands (the function,
its help from its docstring, its arguments beside it: ``rfsetup.commands.registry``); this
module builds the parser from them and runs the one that was asked for. The command modules
import the core only inside their functions, so ``rfsetup --help`` loads almost nothing and
``rfsetup status`` loads neither textual nor anything else it does not need. Bare ``rfsetup``
(and ``rfsetup rollback``) opens the TUI.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module

from rfsetup import __version__
from rfsetup.commands.common import print_error
from rfsetup.commands.registry import Command, commands_of
from rfsetup.core.errors import ExitCode, RfsetupError

#: the command modules, in the order ``rfsetup --help`` lists their commands
COMMAND_MODULES = ("doctor", "status", "env", "db", "migrate", "recover", "rehearse", "backup",
                   "sandbox", "setup", "bundle", "serve")


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line plus a hint, as every other bad input does."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(ExitCode.USAGE, f"error: {message}\n  hint: {self.prog} --help\n")


class _Formatter(argparse.HelpFormatter):
    """Each paragraph of a description wrapped to the terminal; an indented block (the
    example) kept line for line."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n\n".join(
            "\n".join(indent + line for line in paragraph.splitlines())
            if any(line.startswith("  ") for line in paragraph.splitlines())
            else super(_Formatter, self)._fill_text(paragraph, width, indent)
            for paragraph in text.split("\n\n"))


def _example(text: str) -> str | None:
    if not text:
        return None
    lines = text.splitlines()
    return ("example:" if len(lines) == 1 else "examples:") + "".join(
        f"\n  {line}" for line in lines)


def _page(parent: argparse._SubParsersAction[_Parser], name: str, help_text: str,
          description: str, example: str) -> _Parser:
    """A subcommand's parser: its line in the parent's list, its own page and example."""
    return parent.add_parser(name, help=help_text, description=description or help_text,
                             epilog=_example(example), formatter_class=_Formatter)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole CLI contract (see README), from the commands' registrations.

    ``argv``: the words about to be parsed. Then only the commands named among them get
    their page in full (its actions and options); every other one gets the page that lists
    it, with its one-line help: all that this ``argv`` can reach of it (``--help`` and a
    wrong command name read the same). The thirty pages in full are about 1% of the
    instructions of an upgrade of RaptorFlow; a third of that is saved. None: every page in
    full (the tests, the README's table).
    """
    words = None if argv is None else set(argv)
    p = _Parser(
        prog="rfsetup",
        description="Take RaptorFlow's database from nothing to migrated and seeded, and back. "
        "With no command, opens the guided terminal app.",
        epilog="exit codes: 0 done; 1 the operation or a check failed; 2 bad usage or input, "
        "nothing changed; 3 cannot connect",
        formatter_class=_Formatter,
    )
    p.add_argument("--version", action="version", version=f"rfsetup {__version__}")
    p.add_argument("--env-file", metavar="PATH",
                   help="the .env file (default: ./.env, else ./backend/.env)")
    p.add_argument("-c", "--config", metavar="ALEMBIC_INI",
                   help="the Alembic config (default: ./alembic.ini)")
    p.add_argument("--sandbox", action="store_true",
                   help="target the embedded sandbox PostgreSQL and Redis (starts them)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    groups: dict[str, argparse._SubParsersAction[_Parser]] = {}
    listed: set[str] = set()
    for name in COMMAND_MODULES:
        for command in commands_of(import_module(f"rfsetup.commands.{name}")):
            top = command.group.name if command.group is not None else command.name
            if words is None or top in words:
                _add_command(sub, groups, command)
            elif top not in listed:  # its line in `rfsetup --help`, nothing under it
                what = command.group or command
                _page(sub, top, what.help, what.description, what.example)
            listed.add(top)
    rollback = _page(
        sub, "rollback", "open the TUI on Migrations, one step down chosen",
        "The terminal app on its Migrations step with \"roll back one step\" chosen and its "
        "SQL shown: d, type the database name, Enter. A backup is taken first.",
        "rfsetup rollback\nrfsetup --env-file prod.env rollback")
    rollback.set_defaults(_tui=True)
    return p


def _add_command(sub: argparse._SubParsersAction[_Parser],
                 groups: dict[str, argparse._SubParsersAction[_Parser]],
                 command: Command) -> None:
    parent = sub
    group = command.group
    if group is not None:
        if group.name not in groups:
            page = _page(sub, group.name, group.help, group.description, group.example)
            groups[group.name] = page.add_subparsers(
                dest=f"{group.name}_command", metavar="ACTION", required=True,
                parser_class=_Parser)
        parent = groups[group.name]
    parser = _page(parent, command.name, command.help, command.description, command.example)
    for argument in command.arguments:
        parser.add_argument(*argument.flags, **argument.options)
    parser.set_defaults(_command=command)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rfsetup`` console script; returns the exit code."""
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(words)
    args = parser.parse_args(words)
    command: Command | None = getattr(args, "_command", None)
    if command is None:  # bare `rfsetup`, or `rfsetup rollback`
        return _run_tui(args)
    ctx = None
    try:
        from rfsetup.commands.common import context_from_args

        ctx = context_from_args(args)
        return int(command.function(args, ctx))
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
        if ctx.debug if ctx is not None else _debug_before_settings():
            raise
        from rfsetup.core.errors import unexpected

        err = unexpected(f"rfsetup {args.command}", exc, _known_secrets(ctx))
        print_error(err)
        return int(err.exit_code)


def _debug_before_settings() -> bool:
    """RFSETUP_DEBUG when reading the settings themselves failed unexpectedly."""
    import os

    from rfsetup.core.settings import debug_from

    return debug_from(os.environ)


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
        from rfsetup.tui.early import EarlyStatus

        early = EarlyStatus(ctx)  # the revision read while Textual loads
        from rfsetup.tui.app import run_app
    except RfsetupError as err:
        print_error(err)
        return int(err.exit_code)
    except ImportError as exc:  # the TUI is optional only in a broken install
        print(f"error: the terminal app cannot start: {exc}", file=sys.stderr)
        return 1
    return run_app(ctx, rollback=args.command == "rollback", early=early)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
