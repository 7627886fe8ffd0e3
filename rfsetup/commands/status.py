"""`rfsetup status [--json]`: the database's revision, heads, pending count, tables and Redis."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rfsetup.commands.common import print_error, print_json
from rfsetup.commands.registry import JSON, arg, command
from rfsetup.core.errors import ExitCode

if TYPE_CHECKING:
    from rfsetup.core.settings import Settings
    from rfsetup.core.status import StatusReport
    from rfsetup.core.targets import Target


@command("status", JSON,
         arg("--all", dest="all_targets", action="store_true",
             help="every .env.* beside the .env: each target's revision and pending count"),
         example="rfsetup status\nrfsetup --sandbox status --json\nrfsetup status --all")
def status(args: argparse.Namespace, ctx: Settings) -> int:
    """revision, heads, pending, tables and Redis

    The database's revision against the head with the pending count, its tables with row
    estimates (from the catalog, never COUNT(*)) and Redis. Exit 3 when the database cannot
    be reached; Redis being down is reported, not an error.

    With --all: the .env and every .env.* beside it (.env.staging, .env.production…), each
    read on its own (an exported DATABASE_URL is ignored), one row per target with its
    revision, pending count and PRODUCTION mark; an unreachable one is diagnosed on its row.
    Exit 0 when every target was read, else the first failing target's code.
    """
    from rfsetup.core.status import collect_status

    if args.all_targets:
        return _status_all(args, ctx)

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


def _status_all(args: argparse.Namespace, ctx: Settings) -> int:
    from rfsetup.core.targets import collect_all

    targets = collect_all(ctx)
    if args.json:
        print_json([t.to_json() for t in targets])
    elif not targets:
        print(f"no env files: neither {ctx.env_file} nor .env.* beside it")
    else:
        print(render_all(targets))
    if not targets:
        return int(ExitCode.USAGE)
    return next((t.exit_code for t in targets if t.exit_code), int(ExitCode.OK))


def _target_line(target: Target) -> tuple[str, str, str, str, list[str]]:
    """(database, revision, state, mark, notes) of one target."""
    from rfsetup.core.redact import printable

    mark = "PRODUCTION" if target.production else ""
    if target.report is None:
        assert target.error is not None
        return "-", "-", "error", mark, [target.error.message]
    report = target.report
    db = report.database
    where = printable(_short_url(db.url) if db.url else "(DATABASE_URL not set)")
    if not db.reachable:
        notes = [db.error.message] if db.error is not None else []
        if db.error is not None and db.error.hint:
            notes.append(f"hint: {db.error.hint}")
        return where, "?", "unreachable", mark, notes
    revision = ", ".join(report.current) or "base"
    if not report.revision_known:
        revision = "unknown"
    if report.pending is None:
        state = "pending unknown"
    else:
        state = "up to date" if report.pending == 0 else f"{report.pending} pending"
    notes = [report.scripts_error.message] if report.scripts_error is not None else []
    return where, revision, state, mark, notes


def _short_url(masked: str) -> str:
    """``user@host:port/database`` of a masked URL (its password is not shown at all)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(masked)
        host, port = parts.hostname or "localhost", parts.port or 5432
    except ValueError:  # too broken to split: as it is (already masked)
        return masked
    user = f"{parts.username}@" if parts.username else ""
    return f"{user}{host}:{port}/{parts.path.lstrip('/')}"


def render_all(targets: list[Target]) -> str:
    """``status --all`` as text: one row per env file, its notes indented below it."""
    from rfsetup.core.redact import printable

    rows = [(printable(t.env_file.name), *_target_line(t)) for t in targets]
    heads = ("ENV FILE", "DATABASE", "REVISION", "PENDING", "")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads[:4])]
    lines = ["  ".join(h.ljust(w) for h, w in zip(heads[:4], widths, strict=True)).rstrip()]
    for name, where, revision, state, mark, notes in rows:
        cells = (name, where, revision, state)
        line = "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
        lines.append(f"{line}  {mark}".rstrip())
        lines += [f"    {printable(note)}" for note in notes]
    return "\n".join(lines)
