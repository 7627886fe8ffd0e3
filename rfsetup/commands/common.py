"""What every command shares: resolving the context from the global flags, and output helpers."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rfsetup.core.errors import RfsetupError
from rfsetup.core.settings import Settings, load_settings


def context_from_args(args: argparse.Namespace) -> Settings:
    """Settings from the global flags; with --sandbox, the sandbox's URLs (started if needed)."""
    settings = load_settings(args.env_file, args.config, sandbox=args.sandbox)
    # `env` edits the .env file and `sandbox` manages the servers itself: neither should
    # start (or, on a first run, initdb) the sandbox just because --sandbox was given
    if settings.sandbox and getattr(args, "command", None) not in ("sandbox", "env"):
        from rfsetup.core import sandbox

        settings = sandbox.apply(settings)
    return settings


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def print_error(err: RfsetupError) -> None:
    """One line naming the cause, then the hint: what every failure looks like on stderr."""
    print(f"error: {err.message}", file=sys.stderr)
    if err.cause:
        print(f"  cause: {err.cause}", file=sys.stderr)
    if err.hint:
        print(f"  hint: {err.hint}", file=sys.stderr)


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
    """``KEY: old -> new`` per changed key (values as given: masked by the caller)."""
    for key, before, after in changed:
        print(f"{key}: {before if before is not None else '(not set)'} -> {after}")
