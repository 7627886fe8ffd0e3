"""`rfsetup doctor [--json]`: every prerequisite, each with the fix for this OS."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from rfsetup.commands.common import print_json, symbols
from rfsetup.commands.registry import JSON, command
from rfsetup.core.errors import ExitCode

if TYPE_CHECKING:
    from rfsetup.core.prereqs import CheckResult
    from rfsetup.core.settings import Settings


def check_lines(result: CheckResult, marks: dict[str, str], width: int = 14) -> list[str]:
    """One check as `rfsetup doctor` prints it: the mark, name and detail, then the fix."""
    lines = [f"{marks[result.status]} {result.name:<{width}}  {result.detail}"]
    if result.remedy and result.status != "ok":
        remedy = result.remedy.splitlines()
        lines.append(f"    {'fix:':<{width}}  {remedy[0]}")
        lines += [f"    {'':<{width}}  {line}" for line in remedy[1:]]
    return lines


def _print_check(result: CheckResult, marks: dict[str, str], width: int) -> None:
    print("\n".join(check_lines(result, marks, width)))
    sys.stdout.flush()


@command("doctor", JSON, example="rfsetup doctor\nrfsetup --sandbox doctor --json")
def doctor(args: argparse.Namespace, ctx: Settings) -> int:
    """check prerequisites, with the fix for this OS

    Python and the packages, PostgreSQL reachable and 15+, psql and pg_dump new enough for
    that server, Redis, the .env (every key the project needs, valid) and the Alembic scripts
    (one head). Each failure comes with its fix for this OS. Exit 0 when nothing failed
    (warnings allowed), else 1.
    """
    import platform
    from dataclasses import asdict

    from rfsetup.core import prereqs

    if args.json:
        results = prereqs.run_checks(ctx)
    else:
        marks = symbols()
        print(f"rfsetup doctor ({platform.system() or 'unknown OS'}"
              f"{', sandbox' if ctx.sandbox else ''})")
        results = prereqs.run_checks(
            ctx, on_result=lambda r: _print_check(r, marks, width=14))
    counts = prereqs.summary(results)
    failed = counts["fail"] > 0
    if args.json:
        print_json({"ok": not failed, "os": platform.system(), "sandbox": ctx.sandbox,
                    "summary": counts, "checks": [asdict(r) for r in results]})
    else:
        verdict = "some checks failed: see the fixes above" if failed else (
            "ready (with warnings)" if counts["warn"] else "ready")
        warnings = f"{counts['warn']} warning" + ("" if counts["warn"] == 1 else "s")
        print(f"\n{counts['ok']} ok, {warnings}, {counts['fail']} failed: {verdict}")
    return int(ExitCode.FAILED if failed else ExitCode.OK)
