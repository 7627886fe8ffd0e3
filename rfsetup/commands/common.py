"""What every command shares: the context from the global flags, confirmation, output helpers.

Imported when the parser is built (``rfsetup --help``): the core is imported inside the
functions that need it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rfsetup.core.errors import RfsetupError, bad_input

if TYPE_CHECKING:
    from rfsetup.core.settings import Settings


def context_from_args(args: argparse.Namespace) -> Settings:
    """Settings from the global flags; with --sandbox, the sandbox's URLs (started if needed)."""
    from rfsetup.core.settings import load_settings

    settings = load_settings(args.env_file, args.config, sandbox=args.sandbox)
    # `env` edits the .env file and `sandbox` manages the servers itself: neither should
    # start (or, on a first run, initdb) the sandbox just because --sandbox was given
    if settings.sandbox and getattr(args, "command", None) not in ("sandbox", "env"):
        from rfsetup.core import sandbox

        settings = sandbox.apply(settings)
    return settings


def can_confirm(args: argparse.Namespace, database: str, action: str) -> None:
    """--yes, or a terminal to type the database name at; otherwise exit 2 before anything
    (even the plan's reading of the database) is done."""
    if getattr(args, "yes", False) or sys.stdin.isatty():
        return
    raise bad_input(f"{action} needs confirmation; nothing was changed",
                    hint=f"add --yes, or run it in a terminal and type the database name "
                         f"({database})")


def confirm(args: argparse.Namespace, database: str, action: str,
            details: Callable[[], str | None] | None = None) -> bool:
    """--yes, or the database name typed at a terminal; otherwise exit 2 with nothing done.

    ``details`` (called only at a terminal) describes what will happen; when it returns None
    there is nothing to confirm and False is returned.
    """
    can_confirm(args, database, action)
    if getattr(args, "yes", False):
        return True
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


def print_json(value: Any) -> None:
    import json

    json.dump(value, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def print_error(err: RfsetupError) -> None:
    """One line naming the cause, then the hint: what every failure looks like on stderr."""
    print(f"error: {err.message}", file=sys.stderr)
    if err.cause:
        print(f"  cause: {err.cause}", file=sys.stderr)
    if err.hint:
        # a multi-line remedy (commands to run) stays under its "hint:"
        print("  hint: " + err.hint.replace("\n", "\n        "), file=sys.stderr)


def symbols() -> dict[str, str]:
    """Text symbols for ok / warn / fail; ASCII where the terminal cannot encode ✓ and ✗."""
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "✓✗".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return {"ok": "[v]", "warn": "[!]", "fail": "[x]"}
    return {"ok": "[✓]", "warn": "[!]", "fail": "[✗]"}


def read_value_from_stdin() -> str:
    """Standard input as one value (a password, a secret), without the terminal's newline."""
    data = sys.stdin.read()
    # one trailing newline is the terminal's or echo's, not the value's
    for ending in ("\r\n", "\n"):
        if data.endswith(ending):
            return data[: -len(ending)]
    return data


def print_changes(changed: list[tuple[str, str | None, str | None]]) -> None:
    """``KEY: old -> new`` per changed key (values masked by the caller; control characters
    escaped here, so a value cannot drive the terminal)."""
    from rfsetup.core.redact import printable

    for key, before, after in changed:
        old = printable(before) if before is not None else "(not set)"
        print(f"{printable(key)}: {old} -> {printable(after or '')}")
