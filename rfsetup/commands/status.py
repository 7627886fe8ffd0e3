"""`rfsetup status [--json]`: the database's revision, heads, pending count, tables and Redis."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rfsetup.commands.common import print_error, print_json
from rfsetup.commands.registry import JSON, command
from rfsetup.core.errors import ExitCode

if TYPE_CHECKING:
    from rfsetup.core.settings import Settings
    from rfsetup.core.status import StatusReport


@command("status", JSON, example="rfsetup status\nrfsetup --sandbox status --json")
def status(args: argparse.Namespace, ctx: Settings) -> int:
    """revision, heads, pending, tables and Redis

    The database's revision against the head with the pending count, its tables with row
    estimates (from the catalog, never COUNT(*)) and Redis. Exit 3 when the database cannot
    be reached; Redis being down is reported, not an error.
    """
    from rfsetup.core.status import collect_status

    report = collect_status(ctx)
    if args.json:
        print_json(report.to_json())
    else:
        print(render_status(report))
    if report.database.error is not None:
        if not args.json:
            print_error(report.database.error)
        return int(report.database.error.exit_code)
    if report.scripts_error is not None and report.scripts_error.exit_code == ExitCode.USAGE \
            and (ctx.sources.get("ALEMBIC_INI") or report.scripts_error.kind != "bad_input"
                 or Path(ctx.alembic_ini).exists()):
        # -c naming no usable config, an unusable ./alembic.ini, or an env.py that refuses
        # this target: bad input. Without -c and without ./alembic.ini, status still reports
        # the database (it is useful outside a project) and exits 0.
        if not args.json:
            print_error(report.scripts_error)
        return int(ExitCode.USAGE)
    return int(ExitCode.OK)


def render_status(report: StatusReport) -> str:
    """Plain-text status, the same facts the TUI panel shows."""
    db = report.database
    lines = [f"database  {db.url or '(DATABASE_URL not set)'}"]
    if db.reachable:
        lines.append(f"server    PostgreSQL {db.server_version}, database {db.name}")
        if db.pooler is not None and db.pooler.transaction_mode:
            lines.append(f"pooler    warning: {db.pooler.warning()}")
            lines.append(f"          hint: {db.pooler.hint}")
        current = ", ".join(report.current) or "(none: empty database)"
        if not report.revision_known:
            current = "unknown (env.py could not be observed: see below)"
        heads = ", ".join(report.heads) or (
            "unknown (migration scripts not read)" if report.scripts_error is not None
            and report.scripts_error.kind != "unknown_revision" else "(no revisions)")
        lines.append(f"revision  {current}")
        multiple = "   [multiple heads]" if len(report.heads) > 1 else ""
        lines.append(f"head      {heads}{multiple}")
        if report.pending is not None:
            state = "up to date" if report.pending == 0 else f"{report.pending} pending"
            lines.append(f"pending   {state}")
        lines.append(f"tables    {len(report.tables)}")
        width = max((len(t.name) for t in report.tables), default=0)
        lines += [f"  {t.name:<{width}}  ~{t.rows} rows" for t in report.tables]
    elif db.error is not None and db.error.exit_code == ExitCode.USAGE:
        # nothing was tried: "unreachable" would send people to check the network
        lines.append("server    not contacted (fix DATABASE_URL first: see below)")
    elif db.error is not None:
        # a server that answered and refused (password, role, database) is not "unreachable"
        from rfsetup.core.connect import verdict

        lines.append(f"server    {verdict(db.error)}")
    else:
        lines.append("server    unreachable")
    if report.scripts_error is not None:
        lines.append(f"scripts   {report.scripts_error.message}")
        if report.scripts_error.hint:
            lines.append(f"          hint: {report.scripts_error.hint}")
    r = report.redis
    if r is not None:
        lines.append(f"redis     {r.url}: " + (f"Redis {r.version}" if r.reachable else
                                               f"unreachable ({r.error})"))
    return "\n".join(lines)
