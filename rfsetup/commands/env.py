"""Headless `.env` editing: `env show|set|generate-secret`.

Thin: each function reads its flags, calls the core and prints. Secrets are masked in every
line printed unless `env show --reveal` asks otherwise, and names and values are printed with
control characters escaped. Writes go through envfile.update: under the file's writer lock, on
the file as it is then. (`doctor`, `db create` and `sandbox …`
live in rfsetup.commands.doctor, .db and .sandbox.)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from rfsetup.commands.common import print_changes as _print_changes
from rfsetup.commands.common import print_json
from rfsetup.commands.common import read_value_from_stdin as _read_value_from_stdin
from rfsetup.commands.common import symbols as _symbols
from rfsetup.commands.registry import JSON, Group, arg
from rfsetup.core.errors import ExitCode, bad_input

if TYPE_CHECKING:
    from rfsetup.core.envfile import EnvFile
    from rfsetup.core.settings import Settings

env = Group(
    "env", "read and edit the .env file",
    description="The .env file (--env-file, else ./.env, else ./backend/.env), edited with "
                "python-dotenv's own parser: only the bytes of the key set change, writes are "
                "atomic and locked, the previous file is kept as .env.bak, and the guide's keys "
                "are validated. Secrets are masked unless --reveal.",
    example="rfsetup env show\nprintf '%s' \"$URL\" | rfsetup env set DATABASE_URL -")

# -- env -------------------------------------------------------------------------------------


@env.command("show", JSON, arg("--reveal", action="store_true", help="show secrets unmasked"),
             example="rfsetup env show --json")
def env_show(args: argparse.Namespace, ctx: Settings) -> int:
    """the .env values, secrets masked

    The values by the project's groups (RaptorFlow: the guide's Database, Supabase, Razorpay,
    Application; other keys listed), each invalid one with its problem, a line dotenv cannot
    parse named. Secrets and URL passwords are masked unless --reveal; control characters are
    shown escaped.
    """
    # names and values go through redact.printable: no byte of the file reaches the terminal
    from rfsetup.core.envfile import EnvFile, mask, validate_all
    from rfsetup.core.redact import printable

    schema = ctx.env_schema  # the project profile's keys: RaptorFlow's guide, or generic
    path = ctx.env_file
    doc = EnvFile.load(path)
    values = doc.values()
    problems = validate_all(values, schema=schema)
    unparsed = doc.error_lines()

    def shown(key: str) -> str | None:
        value = values.get(key)
        if value is None:
            return None
        return value if args.reveal else mask(key, value, schema=schema)

    if args.json:
        print_json({
            "path": str(path),
            "exists": path.is_file(),
            "revealed": bool(args.reveal),
            "values": {key: shown(key) for key in values},
            "missing": [k for k in schema.required if not values.get(k)],
            "problems": {k: [p.to_json() for p in ps] for k, ps in problems.items()},
            "unparsed_lines": unparsed,
        })
        return int(ExitCode.OK)

    print(printable(str(path)) +
          ("" if path.is_file() else "  (not found: `rfsetup env set` creates it)"))
    for line in unparsed:
        print(f"{_symbols()['warn']} line {line} cannot be parsed (an unterminated quote?); "
              "dotenv, and so the app, skip it")
    others = [k for k in values if k not in schema.known_keys]
    groups = {name: list(keys) for name, keys in schema.groups}
    if others:
        groups["Other"] = others
    width = max(len(printable(k)) for keys in groups.values() for k in keys)
    symbols = _symbols()
    for group, keys in groups.items():
        print(f"\n{group}")
        for key in keys:
            value = shown(key)
            text = "(not set)" if value is None else _displayed(value)
            print(f"  {printable(key):<{width}}  {text}")
            for problem in problems.get(key, []):
                mark = symbols["fail"] if problem.level == "error" else symbols["warn"]
                print(f"  {'':<{width}}  {mark} {problem.message}")
    if not args.reveal and any(values.get(k) for k in values):
        print("\n(secrets masked; --reveal shows them)")
    return int(ExitCode.OK)


def _displayed(value: str) -> str:
    """A value on one line of the listing: quoted with escapes when it is empty, spans lines
    or has blanks at either end, which bare text would hide or break the layout with; every
    non-printable character escaped (``\\x1b``), bytes that were not UTF-8 as ``\\xNN``."""
    from rfsetup.core.redact import printable

    if value == "" or value != value.strip() or any(ch < " " or ch == "\x7f" for ch in value):
        return '"' + printable(value.replace("\\", "\\\\").replace('"', '\\"')) + '"'
    return printable(value)


def _write_key(ctx: Settings, key: str, value: str | Callable[[EnvFile], str], *,
               shown_new: str | None = None, force: bool = False) -> int:
    """Validate, set and atomically save one key; print what changed (masked, escaped).

    The file is read again under its writer lock (envfile.update), so concurrent `env set`s of
    different keys all survive; ``value`` may be computed from that document. ``force``
    writes a read-only file.
    """
    from rfsetup.core.envfile import changes, check_key_name, update, validate
    from rfsetup.core.redact import printable

    check_key_name(key)
    path = ctx.env_file
    if not path.parent.is_dir():
        # a mistyped --env-file must not create directories on the way
        what = "is not a directory" if path.parent.exists() else "does not exist"
        raise bad_input(f"{printable(str(path.parent))} {what}; nothing was written",
                        hint="check --env-file, or create the directory first")
    warnings: list[str] = []

    def edit(doc: EnvFile) -> EnvFile:
        new_value = value(doc) if callable(value) else value
        context = dict(doc.values())
        context[key] = new_value
        problems = validate(key, new_value, context, schema=ctx.env_schema)
        errors = [p.message for p in problems if p.level == "error"]
        if errors:
            raise bad_input(f"{key}: {errors[0]}", cause="; ".join(errors[1:]) or None,
                            hint=f"nothing was written to {path}")
        warnings[:] = [p.message for p in problems]
        return doc.set(key, new_value)

    result = update(path, edit, force=force)
    for message in warnings:
        print(f"warning: {key}: {message}", file=sys.stderr)
    shown_path = printable(str(path))
    if not result.written:
        print(f"{key} already has that value; {shown_path} left as it was")
        return int(ExitCode.OK)
    changed = changes(result.before, result.after, schema=ctx.env_schema)
    if shown_new is not None:  # a generated secret: say what it is rather than its mask
        changed = [(k, before, shown_new if k == key else after) for k, before, after in changed]
    _print_changes(changed)
    mode = result.mode or 0
    print(f"wrote {shown_path}" + (f" (previous version: {printable(str(result.backup))})"
                                   if result.backup else f" (new file, {mode:04o})"))
    if mode & 0o004:
        print(f"note: {shown_path} is readable by every user (mode {mode:04o}; rfsetup keeps "
              f"the mode it found): chmod 600 {shown_path}", file=sys.stderr)
    return int(ExitCode.OK)


@env.command(
    "set",
    arg("key", help="the variable, e.g. DATABASE_URL"),
    arg("value", help="its value; - reads it from standard input (keeps a secret "
                      "out of the process list and shell history)"),
    arg("--force", action="store_true",
        help="write even a read-only .env (e.g. mode 0400; its mode is kept)"),
    example="rfsetup env set APP_NAME raptorflow\n"
            "printf '%s' \"$SECRET\" | rfsetup env set RAZORPAY_KEY_SECRET -")
def env_set(args: argparse.Namespace, ctx: Settings) -> int:
    """set one key, keeping every other byte of the file

    Validates VALUE (an invalid one is refused, nothing written), then changes only that
    key's bytes (a new key is appended) and prints the change, secrets masked. The file keeps
    its owner and mode (a new one is 0600).
    """
    from rfsetup.core.envfile import check_key_name, has_url_password, is_secret

    check_key_name(args.key)
    value = _read_value_from_stdin() if args.value == "-" else args.value
    if args.value != "-" and (is_secret(args.key, schema=ctx.env_schema) or
                               has_url_password(value)):
        print(f"note: a secret on the command line is visible in the process list and shell "
              f"history; next time: rfsetup env set {args.key} -  (reads standard input)",
              file=sys.stderr)
    return _write_key(ctx, args.key, value, force=bool(getattr(args, "force", False)))


@env.command(
    "generate-secret",
    arg("key", nargs="?", default="SECRET_KEY", help="the variable to set (default: SECRET_KEY)"),
    arg("--force", action="store_true",
        help="replace a valid secret already there (rotating SECRET_KEY logs "
             "every user out; the old file is kept as .env.bak), and write "
             "even a read-only .env"),
    example="rfsetup env generate-secret")
def env_generate_secret(args: argparse.Namespace, ctx: Settings) -> int:
    """write 32 random bytes as hex

    Writes a new random secret (64 hex characters, not printed) to KEY. A key that already
    holds a valid secret is replaced only with --force: rotating a live SECRET_KEY logs every
    user out. A placeholder (the guide's literal $(openssl rand -hex 32), a too-short value)
    is replaced.
    """
    # envfile.new_secret, decided on the file as it is under the writer lock
    from rfsetup.core.envfile import new_secret, validate

    force = bool(getattr(args, "force", False))

    def generated(doc: EnvFile) -> str:
        existing = doc.get(args.key)
        valid = existing and not any(p.level == "error" for p in
                                     validate(args.key, existing, schema=ctx.env_schema))
        if valid and not force:
            raise bad_input(
                f"{args.key} already has a value in {ctx.env_file}; nothing was written",
                hint=f"rfsetup env generate-secret {args.key} --force replaces it (the old file "
                     "is kept as .env.bak)",
            )
        return new_secret()

    return _write_key(ctx, args.key, generated, force=force,
                      shown_new="a new random 64-character hex value (hidden)")
