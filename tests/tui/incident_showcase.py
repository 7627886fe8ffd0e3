"""Fixed data and staging for the incident path's pictures: the rollback's impact, a running
migration and its quit dialog, the backups list, a restore's confirmation, pruning.

Like tests.tui.showcase (whose scenes these extend): real core objects with fixed values fed to
a real ``RfsetupApp(autoload=False)`` through the messages its workers post; nothing depends on
a port, a temporary path or the clock (ages and elapsed times come from fixed clocks).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.tui import showcase

#: "now" in the pictures
NOW = datetime(2025, 1, 20, 10, 30, tzinfo=UTC)
HEAD = ("0004_production_indexes",)
COLLEAGUE = "alice@ops-1 pid 4242"
SCENES = ("rollback-base", "running", "quit-running", "backups", "restore-confirm", "prune",
          "wrong-name")


def fixed_impact(preview: Any) -> Any:
    """What ``preview`` drops, its SQL read by the core, the rows from showcase.ROWS (a real
    database would give them from pg_class)."""
    from rfsetup.core.alembic.impact import Dropped, Impact, drops_in
    from rfsetup.core.alembic.statements import classify, split_statements

    dropped = []
    for step in preview.steps:
        for statement in split_statements(step.sql):
            if classify(statement, preview.version_table) != "change":
                continue
            for kind, name, table in drops_in(statement):
                rows = showcase.ROWS.get(table or "") if table else None
                dropped.append(Dropped(kind, name, step.revision, table, rows))
    return Impact(preview.direction, preview.target, tuple(dropped))


def backups() -> list[Any]:
    """Six backups of raptorflow over two days, newest first, as backups.list_backups gives."""
    from rfsetup.core.backupfiles import BackupInfo

    folder = Path(".rfsetup/backups")
    rows = [(12, "0004_production_indexes", 4_812_301), (95, "0003_intel", 4_790_112),
            (300, "0004_production_indexes", 4_650_993), (1440, "0004_production_indexes",
                                                           4_512_020),
            (2900, "0002_billing", 912_554), (3000, None, 18_233)]
    infos = []
    for minutes, rev, size in rows:
        created = NOW - timedelta(minutes=minutes)
        name = f"raptorflow_{created:%Y%m%dT%H%M%SZ}_{rev or 'base'}.dump"
        infos.append(BackupInfo(folder / name, "raptorflow", rev, created, size,
                                "alembic_version", "7312345678901234567", "ab" * 32))
    return infos


def restore_plan(info: Any) -> Any:
    """What restoring ``info`` over the showcase database would replace (RestorePlan)."""
    from rfsetup.core.restoreplan import RestorePlan, TableEstimate

    tables = tuple(TableEstimate(name, rows) for name, rows in showcase.ROWS.items())
    return RestorePlan(
        path=Path(info.path), database="raptorflow", target_revision="0003_intel",
        target_tables=tables, target_system_identifier="7312345678901234567",
        dump_database="raptorflow", dump_revision=info.revision,
        dump_tables=tuple(f"public.{t}" for t in showcase.ROWS),
        dump_created=info.created_at.isoformat(), dump_system_identifier="7312345678901234567",
        version_table="alembic_version", verified=True,
        verification=f"verified: SHA-256 matches {Path(info.path).with_suffix('.json').name}",
        extra_objects=())


async def stage(app: Any, pilot: Any, scene: str) -> None:
    """Drive ``app`` to one of ``SCENES``."""
    from rfsetup.core.alembic.planning import DOWN_BASE
    from rfsetup.tui import messages as m
    from rfsetup.tui.modals.backups import BackupsModal
    from rfsetup.tui.screens.migration_run import RunProgress

    if scene in ("rollback-base", "wrong-name"):
        await showcase.stage(app, pilot, "rollback-confirm")
        if scene == "wrong-name":
            await pilot.press("backspace", "backspace", "w", "enter")  # -> "raptorflw"
            await settle(pilot)
            return
        await pilot.press("escape")
        await pilot.pause()
        screen = app.step_screen("migrations")
        await pilot.press("b")
        shown = showcase.preview(HEAD, "base", down=True)
        screen.post_message(m.PreviewReady(shown, DOWN_BASE.label, impact=fixed_impact(shown)))
        await pilot.pause()
        await settle(pilot)
        return
    await showcase.stage(app, pilot, "migrations")
    screen = app.step_screen("migrations")
    if scene in ("running", "quit-running"):
        screen._set_running(True)
        screen.progress = RunProgress("upgrade to head", started=100.0, clock=lambda: 112.4)
        for line in (f"waiting up to 5s for the migration lock held by pid 4242, application "
                     f"'rfsetup migrate ({COLLEAGUE})', user alice, from 10.0.3.7",):
            screen.post_message(m.MigrationProgressed(line))
        await pilot.pause()
        screen.post_message(m.MigrationTicked(
            f"waiting 3 s of 5 s for the migration lock held by {COLLEAGUE}"))
        await pilot.pause()
        log = app.query_one("#mig-log")
        log.flush()  # the log writes in batches: written now, scrolled to its end, always
        await pilot.pause()
        log.scroll_end(animate=False)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        if scene == "quit-running":
            await pilot.press("ctrl+q")
        await settle(pilot)
        return
    modal = BackupsModal(app.settings, "raptorflow", load=False, now=NOW)
    screen.backups_modal = modal
    app.push_screen(modal)
    await pilot.pause()
    infos = backups()
    modal.post_message(m.BackupsListed(infos))
    await pilot.pause()
    for info in infos[:-1]:
        modal.post_message(m.BackupChecked(Path(info.path), True, "verified"))
    modal.post_message(m.BackupChecked(Path(infos[-1].path), None, "unverified: no sidecar"))
    await pilot.pause()
    if scene == "restore-confirm":  # the backup taken before the rollback, back over it
        modal.post_message(m.RestorePlanned(Path(infos[0].path), restore_plan(infos[0])))
        await pilot.pause()
        await pilot.press(*"raptorflow")
    elif scene == "prune":
        from rfsetup.tui.modals.prune import PruneDryRun

        await pilot.press("p")
        await pilot.pause()
        app.screen.post_message(PruneDryRun(5, infos[5:], None))
        await pilot.pause()
    await settle(pilot)


async def settle(pilot: Any) -> None:
    """Let the dialogs fit themselves (ConfirmModal sizes its body after a refresh), also on
    a loaded machine, before the picture is taken."""
    await pilot.wait_for_scheduled_animations()
    await pilot.pause(0.2)
    await pilot.pause()
