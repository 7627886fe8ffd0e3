"""`rfsetup db create`: the guide's "Create Database" step, headless.

The role's password comes from standard input (``--password-stdin``) or a prompt, never from
argv; the admin's from ``--admin-url``, PGPASSWORD, ~/.pgpass or a prompt. The sequence itself
(admin checked, passwords found, provision, the .env) is ``rfsetup.core.dbcreate.create_database``,
which the TUI's Database step and ``rfsetup setup`` run too; this module asks at the terminal and
prints.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from rfsetup.commands.common import print_changes, read_value_from_stdin
from rfsetup.commands.registry import Group, arg
from rfsetup.core.errors import ExitCode, RfsetupError, bad_input

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from rfsetup.core import provision as prov
    from rfsetup.core.settings import Settings

db = Group(
    "db", "create the database and its role",
    description="The guide's \"Create Database\" step: a login role and a database it owns, "
                "ready for `rfsetup migrate up` on PostgreSQL 15+.",
    example="printf '%s' \"$PW\" | rfsetup db create --password-stdin --write-env")


@db.command(
    "create",
    arg("--admin-url", metavar="URL",
        help="an admin connection (default: DATABASE_URL's server as postgres)"),
    arg("--name", help="database name (default: raptorflow; another project: app)"),
    arg("--owner", metavar="ROLE", help="role name (default: raptorflow; another project: app)"),
    arg("--password-stdin", action="store_true",
        help="read the role's password from standard input"),
    arg("--write-env", action="store_true",
        help="point DATABASE_URL in the .env file at the new database"),
    arg("--dry-run", action="store_true", help="print the SQL, change nothing"),
    example="printf '%s' \"$PW\" | rfsetup db create --password-stdin --write-env\n"
            "rfsetup db create --dry-run")
def db_create(args: argparse.Namespace, ctx: Settings) -> int:
    """create role and database (idempotent)

    Connects as an admin (--admin-url; default DATABASE_URL's server as postgres, its password
    from PGPASSWORD, ~/.pgpass or a prompt) and creates the login role (its password sent as a
    SCRAM-SHA-256 verifier) and the database it owns. A second run says what exists and exits
    0; an existing role's password changes only when a new one is given. The role's password
    comes from standard input or a prompt, never from the command line.
    """
    from rfsetup.core import dbcreate

    name, owner = _names(args, ctx)
    if args.dry_run:
        _print_dry_run(args, ctx, name, owner)
        return int(ExitCode.OK)
    password = _password_from_stdin(args)
    # the one sequence the TUI's Database step and `rfsetup setup` run too
    outcome = dbcreate.create_database(
        ctx, _admin_url(args, ctx), name, owner, password, write_env=args.write_env,
        password_hint="give it with --password-stdin (it is then set on the role too)",
        ask_admin_password=_ask_admin_password, ask_role_password=_new_role_password,
        admin_error=_as_admin_error)
    for note in outcome.notes:
        print(f"note: {note}", file=sys.stderr)
    _print_result(outcome.result, keeps_password=outcome.keeps_password, owner=owner)
    if outcome.env_changes is not None:
        _print_env_written(ctx, outcome.env_changes)
    return int(ExitCode.OK)


# -- the steps -------------------------------------------------------------------------------


def _names(args: argparse.Namespace, ctx: Settings) -> tuple[str, str]:
    """--name and --owner (default: the project profile's; RaptorFlow's raptorflow), refused
    before anything when PostgreSQL would not store them as given."""
    from rfsetup.core import provision as prov

    name = args.name if args.name is not None else ctx.profile.default_database
    owner = args.owner if args.owner is not None else ctx.profile.default_role
    return prov.check_identifier(name, "database"), prov.check_identifier(owner, "role")


def _print_dry_run(args: argparse.Namespace, ctx: Settings, name: str, owner: str) -> None:
    from rfsetup.core import provision as prov
    from rfsetup.core.redact import mask_url

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


def _password_from_stdin(args: argparse.Namespace) -> str | None:
    if not args.password_stdin:
        return None
    password = read_value_from_stdin()
    if not password:
        raise bad_input("the password read from standard input is empty")
    return password


def _new_role_password(owner: str) -> str:
    """A new role needs a password: asked at a terminal, else bad input."""
    if not _can_prompt():
        raise bad_input(f"role {owner!r} does not exist and needs a password",
                        hint="pass it on standard input: --password-stdin")
    return _prompt_password(f"password for the new role {owner}: ", confirm=True)


def _print_result(result: prov.ProvisionResult, *, keeps_password: bool, owner: str) -> None:
    for item in result.created:
        print(f"created  {item}")
    for item in result.existing:
        print(f"exists   {item}")
    for item in result.changed:
        print(f"changed  {item}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if keeps_password:
        print(f"         (role {owner}'s password left unchanged; --password-stdin sets it)")
    print(f"role URL {result.database_url}")


def _print_env_written(ctx: Settings,
                       changes: list[tuple[str, str | None, str | None]]) -> None:
    if not changes:
        print(f"DATABASE_URL in {ctx.env_file} already points there")
    else:
        print_changes(changes)
        print(f"wrote {ctx.env_file}")


# -- the admin connection --------------------------------------------------------------------


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
    """--admin-url, else dbcreate.default_admin_url (the sandbox's superuser, else
    DATABASE_URL's server as postgres, else localhost)."""
    from rfsetup.core import dbcreate

    return _admin_url_from(args.admin_url) or dbcreate.default_admin_url(ctx)


def _admin_url_from(raw: str | None) -> URL | None:
    """--admin-url parsed (None when not given), with a note when it holds a password."""
    from rfsetup.core import dbcreate

    if not raw:
        return None
    url = dbcreate.parse_admin_url(raw)
    if url.password is not None:
        print("note: a password inside --admin-url is visible in the process list; "
              "PGPASSWORD in the environment (or the prompt) keeps it private",
              file=sys.stderr)
    return url


def _ask_admin_password(admin: URL, error: RfsetupError) -> str | None:
    """The server wants the admin's password: asked at a terminal (None: nobody to ask)."""
    if not _can_prompt():
        return None
    return _prompt_password(f"password for {admin.username or 'postgres'} at "
                            f"{admin.host or 'localhost'}:{admin.port or 5432}: ",
                            confirm=False)


def _as_admin_error(exc: RfsetupError, admin: URL) -> RfsetupError:
    """The connection diagnosis speaks of DATABASE_URL; here the admin connection failed, whose
    password comes from PGPASSWORD, ~/.pgpass, --admin-url or the prompt (one wording for the
    CLI and the TUI's Database step: connect.as_admin_error)."""
    from rfsetup.core.connect import as_admin_error

    return as_admin_error(exc, admin)
