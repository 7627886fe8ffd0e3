"""Export the README's screenshots from the real app: one SVG per step plus the rollback
confirmation, into screenshots/.

The app is rfsetup's own RfsetupApp (autoload=False) driven by tests/tui/showcase.py (fixture
data the snapshot tests share; not shipped in the package), which feeds it fixed core objects
through the same messages its workers post: RaptorFlow's real revision history and the real
offline SQL of a move, a fixed status, doctor results, .env, plans and
tables. Fixed size, fixed data: running it twice gives the same files. Passwords never appear
(the showcase password is checked to be absent from every file).

    python scripts/screenshots.py [--out screenshots] [--size 100x30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.tui import incident_showcase, showcase  # noqa: E402

FILES = {
    "prerequisites": "1-prerequisites.svg",
    "environment": "2-environment.svg",
    "database": "3-database.svg",
    "migrations": "4-migrations.svg",
    "seed": "5-seed.svg",
    "verify": "6-verify.svg",
    "rollback-confirm": "rollback-confirm.svg",
    "unreachable": "server-unreachable.svg",
    "production": "production.svg",
    "production-confirm": "production-confirm.svg",
    "rehearse": "rehearse.svg",
    "recover": "recover.svg",
    # the incident path (tests/tui/incident_showcase.py)
    "rollback-base": "rollback-base-confirm.svg",
    "quit-running": "quit-during-migration.svg",
    "backups": "backups.svg",
}
TITLES = {
    "prerequisites": "rfsetup — 1 Prerequisites",
    "environment": "rfsetup — 2 Environment",
    "database": "rfsetup — 3 Database & role",
    "migrations": "rfsetup — 4 Migrations",
    "seed": "rfsetup — 5 Seed",
    "verify": "rfsetup — 6 Verify",
    "rollback-confirm": "rfsetup rollback — confirm",
    "unreachable": "rfsetup — server unreachable",
    "production": "rfsetup — a production target",
    "production-confirm": "rfsetup — production upgrade: confirm",
    "rehearse": "rfsetup — 4 Migrations: rehearse on a copy",
    "recover": "rfsetup — 4 Migrations: recover from a branch switch",
    "rollback-base": "rfsetup — roll back to base: what is lost",
    "quit-running": "rfsetup — Ctrl+Q while a migration runs",
    "backups": "rfsetup — backups",
}


async def export(scene: str, size: tuple[int, int]) -> str:
    """The SVG of one scene, rendered by the real app in a scratch project directory."""
    with tempfile.TemporaryDirectory(prefix="rfsetup-shot-") as tmp:
        here = Path.cwd()
        os.chdir(tmp)  # the .env is shown relative to the working directory: ".env"
        try:
            incident = scene in incident_showcase.SCENES
            base = {"rollback-base": "rollback-confirm"}.get(scene, "migrations") \
                if incident else scene
            app = showcase.make_app(Path(tmp), base)
            async with app.run_test(size=size) as pilot:
                if scene in ("rehearse", "recover"):  # modals opened from Migrations
                    await showcase.stage_modal(app, pilot, scene)
                elif incident:
                    await incident_showcase.stage(app, pilot, scene)
                else:
                    await showcase.stage(app, pilot, scene)
                await pilot.wait_for_scheduled_animations()
                await pilot.pause()
                return app.export_screenshot(title=TITLES[scene])
        finally:
            os.chdir(here)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "screenshots")
    parser.add_argument("--size", default="x".join(map(str, showcase.SIZE)),
                        help="WIDTHxHEIGHT in cells (default %(default)s)")
    args = parser.parse_args(argv)
    width, height = (int(n) for n in args.size.lower().split("x"))
    args.out.mkdir(parents=True, exist_ok=True)
    for scene, name in FILES.items():
        svg = asyncio.run(export(scene, (width, height)))
        if showcase.PASSWORD in svg:
            print(f"refusing to write {name}: it shows a password", file=sys.stderr)
            return 1
        (args.out / name).write_text(svg)
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
