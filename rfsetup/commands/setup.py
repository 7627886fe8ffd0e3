"""`rfsetup setup`: the guided flow for scripts, from a bare directory to ready (core.setup).

Each phase prints one verdict line (``+`` changed something, ``=`` nothing to do, ``-`` not
this project's, ``✗`` failed) with its details indented, the migration's output as it runs,
then the ready summary. ``--json`` prints one document instead. Exit codes as everywhere: 0
ready; 1 a phase failed or something is still missing (the summary says what); 2 bad input,
nothing changed; 3 cannot connect; 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from rfsetup.commands.common import print_json, read_value_from_stdin
from rfsetup.commands.registry import JSON, arg, command
from rfsetup.core.errors import bad_input

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from rfsetup.core.settings import Settings
    from rfsetup.core.setup import Phase, SetupOptions

_MARKS = {"changed": "+", "unchanged": "=", "skipped": "-", "failed": "✗"}


@command(
    "setup",
    arg("--admin-url", metavar="URL",
        help="the admin that creates a missing role and database (default: DATABASE_URL's "
             "server as postgres; its password from PGPASSWORD, ~/.pgpass or a prompt)"),
    arg("--name", help="the database to create when DATABASE_URL is unset (default: the "
                       "profile's, raptorflow)"),
    arg("--owner", metavar="ROLE", help="its role (default: the profile's, raptorflow)"),
    arg("--password-stdin", action="store_true",
        help="read the new role's password from standard input (default: a random one, "
             "written to the .env)"),
    arg("--no-backup", action="store_true",
        help="skip the pg_dump backup taken before migrating"),
    JSON,
    example="rfsetup --sandbox setup          # a bare machine: the embedded servers\n"
            "PGPASSWORD=… rfsetup setup       # DATABASE_URL's server, postgres as admin\n"
            "rfsetup setup --json | jq .ready")
def setup(args: argparse.Namespace, ctx: Settings) -> int:
    """the whole guided setup, headless and idempotent

    Runs the TUI's six steps in order: doctor (stops on what setup cannot fix), the .env's
    keys (SECRET_KEY generated when missing, never rotated when valid; with --sandbox the
    sandbox's DATABASE_URL and REDIS_URL when the .env has none), the database and role
    (created when the target's are missing and an admin can connect, or when no DATABASE_URL
    is set yet), migrate up (a backup first unless --no-backup), the seed, verify; then the
    doctor again and a summary. A second run changes nothing and says so.
    """
    import threading

    from rfsetup.core.setup import SetupOptions, run_setup

    password = None
    if args.password_stdin:
        password = read_value_from_stdin()
        if not password:
            raise bad_input("the password read from standard input is empty")
    options = SetupOptions(password=password, name=args.name, owner=args.owner,
                           backup=not args.no_backup, cancel=threading.Event())
    _admin_options(args, options)
    if not args.json:
        print(f"rfsetup setup{' on the sandbox' if ctx.sandbox else ''}: .env {ctx.env_file}, "
              f"Alembic {ctx.alembic_ini}", flush=True)
    printer = _Printer()
    with _interrupts(options):
        result = run_setup(ctx, options, on_phase=None if args.json else printer.verdict,
                           on_progress=None if args.json else printer.progress,
                           on_start=printer.start)
    if args.json:
        print_json(result.to_json())
        return result.exit_code
    if result.error is not None:
        from rfsetup.commands.common import print_error

        print_error(result.error)
        return result.exit_code
    assert result.ready is not None
    print()
    for line in result.ready.lines():
        print(line)
    if result.ready.ready:
        print("nothing changed: already set up" if not result.changed else
              "done: every step of the guide is in place")
    sys.stdout.flush()
    return result.exit_code


def _admin_options(args: argparse.Namespace, options: SetupOptions) -> None:
    """`db create`'s admin connection: --admin-url, the prompt, the admin's error wording."""
    from rfsetup.commands.db import _admin_url_from, _as_admin_error, _ask_admin_password

    options.admin_url = _admin_url_from(args.admin_url)
    options.ask_admin_password = _ask_admin_password
    options.admin_error = _as_admin_error


def _interrupts(options: SetupOptions) -> AbstractContextManager[None]:
    """Ctrl-C as `migrate up` has it: stop after the running revision, a second aborts."""
    import threading

    from rfsetup.commands.migrate import _interrupt_cancels

    if options.cancel is None:
        options.cancel = threading.Event()
    return _interrupt_cancels(options.cancel)


class _Printer:
    """A phase's output under a header line naming it, then its verdict line."""

    def __init__(self) -> None:
        self.phase = ""
        self.announced = False

    def _number(self, name: str) -> str:
        from rfsetup.core.setup import PHASES

        return f"[{PHASES.index(name) + 1}/{len(PHASES)}]"

    def start(self, name: str) -> None:
        self.phase, self.announced = name, False

    def progress(self, line: str) -> None:
        from rfsetup.core.progress import ProgressTick

        if isinstance(line, ProgressTick):  # elapsed-time ticks: not a line of the log
            return
        if not self.announced:
            self.announced = True
            print(f"{self._number(self.phase)} … {self.phase}", flush=True)
        print(f"{'':16}{line}", flush=True)

    def verdict(self, phase: Phase) -> None:
        first, *rest = phase.lines or [""]
        print(f"{self._number(phase.name)} {_MARKS[phase.status]} {phase.name:<9} {first}",
              flush=True)
        for line in rest:
            print(f"{'':16}{line}", flush=True)
