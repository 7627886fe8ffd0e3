"""``rfsetup support-bundle [-o FILE]``: one archive for a support ticket, no secret in it."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from rfsetup.commands.registry import arg, command

if TYPE_CHECKING:
    from rfsetup.core.settings import Settings


def bundle_documents(settings: Settings) -> dict[str, str]:
    """Every file of the bundle, before scrubbing: doctor and status (JSON and text, as the
    CLI prints them) and the core's parts (versions, history, .env keys, server, run logs).
    The terminal app calls this too."""
    import json
    import platform

    from rfsetup.commands.doctor import check_lines
    from rfsetup.commands.status import render_status
    from rfsetup.core import bundle, prereqs
    from rfsetup.core.status import collect_status

    report = collect_status(settings)
    results = prereqs.run_checks(settings)
    counts = prereqs.summary(results)
    marks = {"ok": "[ok]", "warn": "[!]", "fail": "[x]"}
    doctor_text = [f"rfsetup doctor ({platform.system() or 'unknown OS'})"]
    for result in results:
        doctor_text += check_lines(result, marks)
    doctor_text.append(f"\n{counts['ok']} ok, {counts['warn']} warning(s), "
                       f"{counts['fail']} failed")
    doctor_json = {"ok": counts["fail"] == 0, "os": platform.system(),
                   "sandbox": settings.sandbox, "summary": counts,
                   "checks": [asdict(r) for r in results]}
    status_json = report.to_json()
    status_json["production"] = settings.production
    docs = {
        "doctor.txt": "\n".join(doctor_text) + "\n",
        "doctor.json": json.dumps(doctor_json, indent=2, default=str) + "\n",
        "status.txt": render_status(report) + "\n",
        "status.json": json.dumps(status_json, indent=2, default=str) + "\n",
    }
    current = report.current if report.database.reachable and report.revision_known else None
    redis = report.redis.version if report.redis is not None else None
    docs.update(bundle.core_documents(settings, current, redis))
    return docs


@command("support-bundle",
         arg("-o", "--output", metavar="FILE",
             help="the archive to write (.tar.gz or .zip; default "
                  "./rfsetup-support-<database>-<time>.tar.gz)"),
         example="rfsetup support-bundle\nrfsetup --env-file .env.staging support-bundle "
                 "-o ticket-4242.zip")
def support_bundle(args: argparse.Namespace, ctx: Settings) -> int:
    """one archive for a support ticket (no secrets)

    doctor and status (JSON and text), the versions of everything (rfsetup, Python, the
    packages, the server, pg_dump/psql, squawk, Redis), the history around the current
    revision, the .env's key names with their values masked, the server's relevant settings
    (version, SSL, pooler detection, timeouts, max_connections) and the last runs' logs
    (.rfsetup/logs/). No value of the .env and no URL password is in it: values are masked,
    and every file is scrubbed of them before it is packed. Works when the server is down
    (the parts that need it say why). Written 0600.
    """
    from rfsetup.core import bundle

    print("collecting: doctor, status, versions, history, .env keys, server, run logs…",
          flush=True)
    path = bundle.write_bundle(ctx, bundle_documents(ctx),
                               Path(args.output) if args.output else None)
    print(f"support bundle written to {path}")
    print("  no .env value or URL password is in it; attach it to the ticket")
    return 0
