"""Headless `.env` editing: `env show|set|generate-secret`.

Thin: each function reads its flags, calls the core and prints. Secrets are masked in every
line printed unless `env show --reveal` asks otherwise. (`doctor`, `db create` and `sandbox …`
live in rfsetup.commands.doctor, .db and .sandbox.)
"""

from __future__ import annotations

import argparse
import sys

from rfsetup.commands.common import print_changes as _print_changes
from rfsetup.commands.common import print_json
from rfsetup.commands.common import read_value_from_stdin as _read_value_from_stdin
from rfsetup.commands.common import symbols as _symbols
from rfsetup.core.errors import ExitCode, bad_input
from rfsetup.core.settings import Settings, read_env_values

# -- env -------------------------------------------------------------------------------------


def env_show(args: argparse.Namespace, ctx: Settings) -> int:
    """The .env's values by the guide's groups, secrets masked unless --reveal."""
    from rfsetup.core.envfile import GROUPS, KNOWN_KEYS, REQUIRED_KEYS, EnvFile, mask, validate_all

    path = ctx.env_file
    doc = EnvFile.load(path)
    values = doc.values()
    problems = validate_all(values)
    unparsed = doc.error_lines()

    def shown(key: str) -> str | None:
        value = values.get(key)
        if value is None:
            return None
        return value if args.reveal else mask(key, value)

    if args.json:
        print_json({
            "path": str(path),
            "exists": path.is_file(),
            "revealed": bool(args.reveal),
            "values": {key: shown(key) for key in values},
            "missing": [k for k in REQUIRED_KEYS if not values.get(k)],
            "problems": {k: [p.to_json() for p in ps] for k, ps in problems.items()},
            "unparsed_lines": unparsed,
        })
        return int(ExitCode.OK)

    print(f"{path}" + ("" if path.is_file() else "  (not found: `rfsetup env set` creates it)"))
    for line in unparsed:
        print(f"{_symbols()['warn']} line {line} cannot be parsed (an unterminated quote?); "
              "dotenv, and so the app, skip it")
    others = [k for k in values if k not in KNOWN_KEYS]
    groups = dict(GROUPS)
    if others:
        groups["Other"] = others
    width = max(len(k) for keys in groups.values() for k in keys)
    symbols = _symbols()
    for group, keys in groups.items():
        print(f"\n{group}")
        for key in keys:
            value = shown(key)
            text = "(not set)" if value is None else _displayed(value)
            print(f"  {key:<{width}}  {text}")
            for problem in problems.get(key, []):
                mark = symbols["fail"] if problem.level == "error" else symbols["warn"]
                print(f"  {'':<{width}}  {mark} {problem.message}")
    if not args.reveal and any(values.get(k) for k in values):
        print("\n(secrets masked; --reveal shows them)")
    return int(ExitCode.OK)


def _displayed(value: str) -> str:
    """A value on one line of the listing: quoted with escapes when it is empty, spans lines
    or has blanks at either end, which bare text would hide or break the layout with."""
    if value == "" or value != value.strip() or any(ch < " " or ch == "\x7f" for ch in value):
        import json

        return json.dumps(value, ensure_ascii=False)
    return value


def _write_key(ctx: Settings, key: str, value: str, *, shown_new: str | None = None) -> int:
    """Validate, set and atomically save one key; print what changed (masked)."""
    from rfsetup.core.envfile import EnvFile, changes, check_key_name, save, validate

    check_key_name(key)
    path = ctx.env_file
    if not path.parent.is_dir():
        # a mistyped --env-file must not create directories on the way
        raise bad_input(f"{path.parent} does not exist; nothing was written",
                        hint="check --env-file, or create the directory first")
    doc = EnvFile.load(path)
    context = dict(doc.values())
    context[key] = value
    problems = validate(key, value, context)
    errors = [p.message for p in problems if p.level == "error"]
    if errors:
        raise bad_input(f"{key}: {errors[0]}", cause="; ".join(errors[1:]) or None,
                        hint=f"nothing was written to {path}")
    for problem in problems:
        print(f"warning: {key}: {problem.message}", file=sys.stderr)
    new = doc.set(key, value)
    if new is doc:
        print(f"{key} already has that value; {path} left as it was")
        return int(ExitCode.OK)
    backup = save(path, new)
    changed = changes(doc, new)
    if shown_new is not None:  # a generated secret: say what it is rather than its mask
        changed = [(k, before, shown_new if k == key else after) for k, before, after in changed]
    _print_changes(changed)
    print(f"wrote {path}" + (f" (previous version: {backup})" if backup else " (new file, 0600)"))
    return int(ExitCode.OK)


def env_set(args: argparse.Namespace, ctx: Settings) -> int:
    """Set KEY to VALUE (VALUE `-` reads it from standard input), keeping every other byte."""
    from rfsetup.core.envfile import check_key_name, has_url_password, is_secret

    check_key_name(args.key)
    value = _read_value_from_stdin() if args.value == "-" else args.value
    if args.value != "-" and (is_secret(args.key) or has_url_password(value)):
        print(f"note: a secret on the command line is visible in the process list and shell "
              f"history; next time: rfsetup env set {args.key} -  (reads standard input)",
              file=sys.stderr)
    return _write_key(ctx, args.key, value)


def env_generate_secret(args: argparse.Namespace, ctx: Settings) -> int:
    """Write 32 random bytes as hex (envfile.new_secret) to KEY (default SECRET_KEY).

    A key that already holds a valid secret is replaced only with --force: rotating a live
    SECRET_KEY invalidates every session and signed token of the running application. A
    placeholder (the guide's literal ``$(openssl rand -hex 32)``, a too-short value) is replaced.
    """
    from rfsetup.core.envfile import new_secret, validate

    existing = read_env_values(ctx.env_file).get(args.key)
    valid = existing and not any(p.level == "error" for p in validate(args.key, existing))
    if valid and not getattr(args, "force", False):
        raise bad_input(
            f"{args.key} already has a value in {ctx.env_file}; nothing was written",
            hint=f"rfsetup env generate-secret {args.key} --force replaces it (the old file "
                 "is kept as .env.bak)",
        )
    return _write_key(ctx, args.key, new_secret(),
                      shown_new="a new random 64-character hex value (hidden)")
