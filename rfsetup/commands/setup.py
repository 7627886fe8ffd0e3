"""Headless set-up: `doctor`, `env show|set|generate-secret`, `db create`, `sandbox …`.

Thin: each function reads its flags, calls the core and prints. Secrets are masked in every
line printed unless `env show --reveal` asks otherwise; passwords are read from standard input or
a prompt, never taken from argv.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from rfsetup.commands.common import print_json
from rfsetup.core.errors import ExitCode, RfsetupError, bad_input
from rfsetup.core.settings import Settings, mask_url

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from rfsetup.core.envfile import EnvFile
    from rfsetup.core.prereqs import CheckResult
    from rfsetup.core.sandbox import SandboxInfo

T = TypeVar("T")

# -- doctor ----------------------------------------------------------------------------------


def _symbols() -> dict[str, str]:
    """Text symbols for ok / warn / fail; ASCII where the terminal cannot encode ✓ and ✗."""
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "✓✗".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return {"ok": "[v]", "warn": "[!]", "fail": "[x]"}
    return {"ok": "[✓]", "warn": "[!]", "fail": "[✗]"}


def _print_check(result: CheckResult, symbols: dict[str, str], width: int) -> None:
    print(f"{symbols[result.status]} {result.name:<{width}}  {result.detail}")
    if result.remedy and result.status != "ok":
        lines = result.remedy.splitlines()
        print(f"    {'fix:':<{width}}  {lines[0]}")
        for line in lines[1:]:
            print(f"    {'':<{width}}  {line}")
    sys.stdout.flush()


def doctor(args: argparse.Namespace, ctx: Settings) -> int:
    """Run every prerequisite check; exit 0 when none fails (warnings allowed), else 1."""
    from rfsetup.core import prereqs

    if args.json:
        results = prereqs.run_checks(ctx)
    else:
        symbols = _symbols()
        print(f"rfsetup doctor ({platform.system() or 'unknown OS'}"
              f"{', sandbox' if ctx.sandbox else ''})")
        results = prereqs.run_checks(
            ctx, on_result=lambda r: _print_check(r, symbols, width=14))
    counts = prereqs.summary(results)
    failed = counts["fail"] > 0
    if args.json:
        print_json({"ok": not failed, "os": platform.system(), "sandbox": ctx.sandbox,
                    "summary": counts, "checks": [r.to_json() for r in results]})
    else:
        verdict = "some checks failed: see the fixes above" if failed else (
            "ready (with warnings)" if counts["warn"] else "ready")
        warnings = f"{counts['warn']} warning" + ("" if counts["warn"] == 1 else "s")
        print(f"\n{counts['ok']} ok, {warnings}, {counts['fail']} failed: {verdict}")
    return int(ExitCode.FAILED if failed else ExitCode.OK)


# -- env -------------------------------------------------------------------------------------


def env_show(args: argparse.Namespace, ctx: Settings) -> int:
    """The .env's values by the guide's groups, secrets masked unless --reveal; names and
    values with control characters escaped (redact.printable), so none reaches the terminal."""
    from rfsetup.core.envfile import GROUPS, KNOWN_KEYS, REQUIRED_KEYS, EnvFile, mask, validate_all
    from rfsetup.core.redact import printable

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

    print(printable(str(path)) +
          ("" if path.is_file() else "  (not found: `rfsetup env set` creates it)"))
    for line in unparsed:
        print(f"{_symbols()['warn']} line {line} cannot be parsed (an unterminated quote?); "
              "dotenv, and so the app, skip it")
    others = [k for k in values if k not in KNOWN_KEYS]
    groups = dict(GROUPS)
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
    other non-printable character escaped (``\\x1b``), bytes that were not UTF-8 as ``\\xNN``."""
    from rfsetup.core.redact import printable

    if value == "" or value != value.strip() or any(ch < " " or ch == "\x7f" for ch in value):
        import json

        return printable(json.dumps(value, ensure_ascii=False))
    return printable(value)


def _read_value_from_stdin() -> str:
    data = sys.stdin.read()
    # one trailing newline is the terminal's or echo's, not the value's
    for ending in ("\r\n", "\n"):
        if data.endswith(ending):
            return data[: -len(ending)]
    return data


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
        problems = validate(key, new_value, context)
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
    changed = changes(result.before, result.after)
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


def _print_changes(changed: list[tuple[str, str | None, str | None]]) -> None:
    """``KEY: old -> new`` per changed key (values masked by the caller, escaped here)."""
    from rfsetup.core.redact import printable

    for key, before, after in changed:
        old = printable(before) if before is not None else "(not set)"
        print(f"{printable(key)}: {old} -> {printable(after or '')}")


def env_set(args: argparse.Namespace, ctx: Settings) -> int:
    """Set KEY to VALUE (VALUE `-` reads it from standard input), keeping every other byte;
    --force writes a read-only .env (its mode kept)."""
    from rfsetup.core.envfile import check_key_name, has_url_password, is_secret

    check_key_name(args.key)
    value = _read_value_from_stdin() if args.value == "-" else args.value
    if args.value != "-" and (is_secret(args.key) or has_url_password(value)):
        print(f"note: a secret on the command line is visible in the process list and shell "
              f"history; next time: rfsetup env set {args.key} -  (reads standard input)",
              file=sys.stderr)
    return _write_key(ctx, args.key, value, force=bool(getattr(args, "force", False)))


def env_generate_secret(args: argparse.Namespace, ctx: Settings) -> int:
    """Write 32 random bytes as hex (envfile.new_secret) to KEY (default SECRET_KEY).

    A key that already holds a valid secret is replaced only with --force: rotating a live
    SECRET_KEY invalidates every session and signed token of the running application. A
    placeholder (the guide's literal ``$(openssl rand -hex 32)``, a too-short value) is replaced.
    --force also writes a read-only .env. Decided on the file as it is under the writer lock.
    """
    from rfsetup.core.envfile import new_secret, validate

    force = bool(getattr(args, "force", False))

    def generated(doc: EnvFile) -> str:
        existing = doc.get(args.key)
        valid = existing and not any(p.level == "error" for p in validate(args.key, existing))
        if valid and not force:
            raise bad_input(
                f"{args.key} already has a value in {ctx.env_file}; nothing was written",
                hint=f"rfsetup env generate-secret {args.key} --force replaces it (the old file "
                     "is kept as .env.bak)",
            )
        return new_secret()

    return _write_key(ctx, args.key, generated, force=force,
                      shown_new="a new random 64-character hex value (hidden)")


# -- db create -------------------------------------------------------------------------------


def _can_prompt() -> bool:
    """Whether a person can be asked (getpass reads the controlling terminal)."""
    if os.name == "nt":
        return sys.stdin.isatty()
    try:
        with open("/dev/tty"):
            return True
    except OSError:
        return False


def _prompt_password(prompt: str, *, confirm: bool) -> str:
    import getpass

    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("again: ") != first:
        raise bad_input("the two passwords differ; nothing was changed")
    if not first:
        raise bad_input("an empty password; nothing was changed")
    return first


def _admin_url(args: argparse.Namespace, ctx: Settings) -> URL:
    """--admin-url, else provision.default_admin_url (the sandbox's superuser, else
    DATABASE_URL's server as postgres, else localhost)."""
    from rfsetup.core.provision import default_admin_url, parse_admin_url

    if args.admin_url:
        url = parse_admin_url(args.admin_url)
        if url.password is not None:
            print("note: a password inside --admin-url is visible in the process list; "
                  "PGPASSWORD in the environment (or the prompt) keeps it private",
                  file=sys.stderr)
        return url
    return default_admin_url(ctx)


def _with_admin_password(admin: URL, attempt: Callable[[URL], T]) -> tuple[T, URL]:
    """Run ``attempt(admin)``; if the server wants a password we lack, ask once and retry."""
    try:
        try:
            return attempt(admin), admin
        except RfsetupError as exc:
            if exc.kind not in ("password_missing", "password_rejected") or not _can_prompt():
                raise
            if exc.kind == "password_rejected" and admin.password is not None:
                raise
            password = _prompt_password(f"password for {admin.username or 'postgres'} at "
                                        f"{admin.host or 'localhost'}:{admin.port or 5432}: ",
                                        confirm=False)
            admin = admin.set(password=password)
            return attempt(admin), admin
    except RfsetupError as exc:
        raise _as_admin_error(exc, admin) from None


def _as_admin_error(exc: RfsetupError, admin: URL) -> RfsetupError:
    """The connection diagnosis speaks of DATABASE_URL; here the admin connection failed, whose
    password comes from PGPASSWORD, ~/.pgpass, --admin-url or the prompt."""
    user = admin.username or "postgres"
    hints = {
        "password_rejected": f"check {user}'s password (PGPASSWORD, ~/.pgpass, or URL-escaped "
                             "in --admin-url), or name another admin: --admin-url "
                             "postgresql://ADMIN@HOST:PORT",
        "password_missing": f"give {user}'s password: PGPASSWORD=… in the environment, or run "
                            "at a terminal to be asked",
        "role_missing": "name an existing superuser (or a role with CREATEROLE and CREATEDB): "
                        "--admin-url postgresql://ADMIN@HOST:PORT",
    }
    hint = hints.get(exc.kind) or (exc.hint or "").replace("DATABASE_URL", "--admin-url")
    message = exc.message.replace("DATABASE_URL", "the admin URL")
    return RfsetupError(f"admin connection: {message}", hint=hint, cause=exc.cause,
                        exit_code=exc.exit_code, kind=exc.kind)


def db_create(args: argparse.Namespace, ctx: Settings) -> int:
    """Create the role and database (idempotent); optionally point DATABASE_URL at them."""
    from rfsetup.core import provision as prov

    name = args.name if args.name is not None else prov.DEFAULT_NAME
    owner = args.owner if args.owner is not None else prov.DEFAULT_OWNER
    prov.check_identifier(name, "database")
    prov.check_identifier(owner, "role")

    if args.dry_run:
        try:
            target = mask_url(_admin_url(args, ctx))
        except RfsetupError:
            target = "(admin connection not determined)"
        print(f"-- as {target}")
        for line in prov.plan_provision(name, owner):
            print(line)
        if args.write_env:
            print(f"-- then DATABASE_URL in {ctx.env_file} -> the role's URL")
        print("-- dry run: nothing was changed")
        return int(ExitCode.OK)

    password: str | None = None
    if args.password_stdin:
        password = _read_value_from_stdin()
        if not password:
            raise bad_input("the password read from standard input is empty")

    admin = _admin_url(args, ctx)
    state, admin = _with_admin_password(
        admin, lambda url: prov.inspect_server(url, name, owner))
    if state.server_version < 150000:
        print(f"note: PostgreSQL {state.server_version // 10000} is older than the guide's 15",
              file=sys.stderr)
    if password is None and not state.role_exists:
        if not _can_prompt():
            raise bad_input(f"role {owner!r} does not exist and needs a password",
                            hint="pass it on standard input: --password-stdin")
        password = _prompt_password(f"password for the new role {owner}: ", confirm=True)
    env_password = None
    if args.write_env:  # before anything is changed
        env_password = prov.password_for_env(
            ctx, owner, password,
            hint="give it with --password-stdin (it is then set on the role too)")

    result = prov.provision(admin, name, owner, password)
    for item in result.created:
        print(f"created  {item}")
    for item in result.existing:
        print(f"exists   {item}")
    for item in result.changed:
        print(f"changed  {item}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if state.role_exists and password is None:
        print(f"         (role {owner}'s password left unchanged; --password-stdin sets it)")
    print(f"role URL {result.database_url}")

    if env_password is not None:
        written = prov.point_env_at(ctx, prov.role_url(admin, owner, env_password, name))
        if not written:
            print(f"DATABASE_URL in {ctx.env_file} already points there")
        else:
            _print_changes(written)
            print(f"wrote {ctx.env_file}")
    return int(ExitCode.OK)


# -- sandbox ---------------------------------------------------------------------------------


def _print_sandbox(info: SandboxInfo, *, verb: str) -> None:
    state = "running" if info.running else "stopped"
    print(f"sandbox {verb}: {state} (data in {_rel(info.data_dir)})")
    if info.database_url or info.redis_url:
        pg_state = "" if info.postgres_running or not info.running else " (down)"
        print(f"  DATABASE_URL={info.masked_database_url or '(not created yet)'}{pg_state}")
        print(f"  REDIS_URL={info.redis_url or '(not created yet)'}")
    if info.running:
        print(f"  PostgreSQL pid {info.postgres_pid}, Redis pid {info.redis_pid}")
        print("  use it: rfsetup --sandbox <command>  (e.g. rfsetup --sandbox migrate up)")


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def sandbox_start(args: argparse.Namespace, ctx: Settings) -> int:
    from rfsetup.core import sandbox

    _print_sandbox(sandbox.start(ctx), verb="started")
    return int(ExitCode.OK)


def sandbox_stop(args: argparse.Namespace, ctx: Settings) -> int:
    from rfsetup.core import sandbox

    was = sandbox.status(ctx)
    info = sandbox.stop(ctx)
    if not (was.postgres_running or was.redis_running):
        print(f"sandbox was not running (data in {_rel(info.data_dir)})")
    else:
        print(f"sandbox stopped; data kept in {_rel(info.data_dir)} "
              "(rfsetup sandbox start brings it back)")
    return int(ExitCode.OK)


def sandbox_status(args: argparse.Namespace, ctx: Settings) -> int:
    from rfsetup.core import sandbox

    info = sandbox.status(ctx)
    if not info.data_dir.is_dir():
        print("sandbox: never started here (rfsetup sandbox start)")
        return int(ExitCode.OK)
    _print_sandbox(info, verb="status")
    return int(ExitCode.OK)
