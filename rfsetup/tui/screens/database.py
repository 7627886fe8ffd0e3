"""Step 3, Database & role: the guide's CREATE DATABASE / CREATE USER, shown first, then run.

An admin connection (the password in its own masked field), the database and role names and
the role's password (masked); the SQL about to run (provision.plan_provision) updates as the
names change; Ctrl+S runs provision.provision and, when asked, points DATABASE_URL in the .env
at the new database (envfile's atomic save).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Checkbox, Input, Label, Static

from rfsetup.core.errors import ExitCode, RfsetupError
from rfsetup.tui.messages import DatabaseProvisioned, MigrationProgressed
from rfsetup.tui.screens.base import StepScreen, display_path
from rfsetup.tui.state import StepState, database_state
from rfsetup.tui.warmup import ensure_imported
from rfsetup.tui.widgets.sql_view import SqlView


def admin_fields(url: Any) -> tuple[str, str]:
    """An admin URL as the form shows it: driver-neutral and without its password, which goes
    to the masked password field."""
    from sqlalchemy.engine import URL

    shown = URL.create("postgresql", username=url.username, host=url.host, port=url.port,
                       database=url.database, query=url.query)
    return shown.render_as_string(hide_password=False), str(url.password or "")


def result_text(result: Any, env_written: str | None, next_key: str = "4", *,
                database_url: str | None = None, env_keys: list[str] | None = None) -> Text:
    """What provisioning did, DATABASE_URL exactly as the .env holds it now (password
    masked: ``database_url``, dbcreate's app form), and the next step."""
    text = Text()
    for title, items, style in (("created", result.created, "green"),
                                ("already there", result.existing, ""),
                                ("changed", result.changed, "cyan"),
                                ("warning", result.warnings, "yellow")):
        for item in items:
            symbol = "!" if title == "warning" else "✓"
            text.append(f"{symbol} {title}: ", style=f"bold {style}".strip())
            text.append(f"{item}\n")
    shown = database_url or result.database_url
    text.append("\nDATABASE_URL", style="bold")
    text.append(" (as the .env holds it)" if env_written or env_keys == [] else
                " for the role (the .env not changed)")
    text.append(f":\n{shown}\n")
    if env_written:
        keys = " and ".join(env_keys or ["DATABASE_URL"])
        text.append(f"✓ {keys} written to {env_written}\n", style="green")
    elif env_keys == []:
        text.append("✓ the .env already pointed there (nothing written)\n", style="green")
    text.append(f"\nNext: 4 Migrations (press {next_key}) to build the tables.", style="bold")
    return text


def as_admin(admin: Any, call: Any, *args: Any, **kwargs: Any) -> Any:
    """``call(*args)``; a failed connection is the *admin's* (the form's fields, PGPASSWORD or
    ~/.pgpass), never DATABASE_URL's (connect.as_admin_error, as ``db create`` says it)."""
    from rfsetup.core.connect import as_admin_error

    try:
        return call(*args, **kwargs)
    except RfsetupError as exc:
        if exc.exit_code != ExitCode.CONNECT:
            raise
        raise as_admin_error(exc, admin, form=True) from None


def admin_failure(exc: RfsetupError, admin: Any) -> RfsetupError:
    """create_database's wording of a failed admin connection: the form's fields, PGPASSWORD
    or ~/.pgpass, never DATABASE_URL (connect.as_admin_error, as ``as_admin``)."""
    from rfsetup.core.connect import as_admin_error

    if exc.exit_code != ExitCode.CONNECT:
        return exc
    return as_admin_error(exc, admin, form=True)


class DatabaseScreen(StepScreen):
    """The provisioning form, its SQL plan and the result."""

    STEP_ID = "database"
    BINDINGS = [
        Binding("ctrl+s", "create", "Create", id="db-create",
                tooltip="Create the role and the database"),
        Binding("ctrl+r", "toggle_reveal", "Reveal", id="db-reveal",
                tooltip="Show or hide the passwords typed here"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.result: Any | None = None
        self.revealed = False
        self._defaults_set = False

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="db-form"):
            intro = "Creates the login role and its database as an admin (idempotent: " \
                    "what exists is kept)."
            if self.settings.sandbox:
                intro += (" The sandbox runs them already: "
                          f"{self.key('db-create')} points the .env at them.")
            yield Static(intro, classes="step-intro")
            yield Label("Admin connection (no password here)", classes="env-key")
            yield Input(id="db-admin-url", compact=True,
                        placeholder="postgresql://postgres@host:5432/postgres")
            yield Label("Admin password (or PGPASSWORD)", classes="env-key")
            yield Input(id="db-admin-password", compact=True, password=True)
            yield Label("Database name", classes="env-key")
            yield Input(self.settings.profile.default_database, id="db-name", compact=True)
            yield Label("Role (owner) name", classes="env-key")
            yield Input(self.settings.profile.default_role, id="db-owner", compact=True)
            yield Label("Role password (empty: keep an existing role's)", classes="env-key")
            yield Input(id="db-password", compact=True, password=True)
            # the guided sandbox path writes the sandbox's Redis too (a plain `rfsetup
            # doctor` then finds both)
            label = "Point DATABASE_URL+REDIS_URL in .env here" if self.settings.sandbox \
                else "Point DATABASE_URL in the .env at it"
            yield Checkbox(label, True, id="db-write-env",
                           compact=True)
            yield Label("SQL that will run", classes="section-title")
            yield SqlView(id="db-plan")
            yield Label("Result", classes="section-title")
            yield Static(Text("(not run yet)", style="dim"), id="db-result")

    def activated(self) -> None:
        # defaults need the URL parsed (sqlalchemy): done when the step is first shown, never
        # before the first frame
        if not self._defaults_set:
            ensure_imported()
            self._defaults_set = True
            self._fill_defaults()
            self._show_plan()
        super().activated()

    def _fill_defaults(self) -> None:
        from rfsetup.core.dbcreate import default_admin_url, local_admin_url

        try:
            default = default_admin_url(self.settings)
        except RfsetupError:  # a malformed DATABASE_URL (step 2 says why) or a stopped sandbox
            default = local_admin_url()
        shown, password = admin_fields(default)
        admin = self.query_one("#db-admin-url", Input)
        with admin.prevent(Input.Changed):
            admin.value = shown
        password = password or self.settings.pgpassword or ""
        if password:
            self.rf_app.remember_secret(password)
            self.query_one("#db-admin-password", Input).value = password
        if self.settings.database_url:
            try:
                name = self.settings.url().database
            except RfsetupError:
                name = None
            if name:
                self.query_one("#db-name", Input).value = name

    def step_state(self, report: Any | None) -> StepState:
        state = database_state(report)
        if state is StepState.DONE and self.settings.sandbox and not self._env_points_here():
            # the sandbox's database runs, but the .env does not name it yet: the guided
            # path's job here is to write it (else a plain `rfsetup doctor` fails later)
            return StepState.NOT_YET
        return state

    def _env_points_here(self) -> bool:
        env = self.rf_app.step_screen("environment")
        document = getattr(env, "document", None)
        return document is None or bool(document.get("DATABASE_URL"))

    def first_focus(self) -> Any:
        # the form, not its first field: digits then still jump between steps; Tab enters
        return self.query_one("#db-form")

    @on(Input.Changed, "#db-name, #db-owner")
    def _names_changed(self) -> None:
        if self._defaults_set:
            self._show_plan()

    def _show_plan(self) -> None:
        from rfsetup.core.provision import plan_provision

        name = self.query_one("#db-name", Input).value
        owner = self.query_one("#db-owner", Input).value
        try:
            plan = plan_provision(name, owner)
        except RfsetupError as exc:
            self.query_one("#db-plan", SqlView).show_message(f"✗ {exc.message}")
            return
        self.query_one("#db-plan", SqlView).show("\n".join(plan))

    def action_toggle_reveal(self) -> None:
        self.revealed = not self.revealed
        for field_id in ("#db-admin-password", "#db-password"):
            self.query_one(field_id, Input).password = not self.revealed

    # -- create -----------------------------------------------------------------------------
    def action_create(self) -> None:
        from rfsetup.core.dbcreate import parse_admin_url
        from rfsetup.core.errors import bad_input
        from rfsetup.tui.messages import OperationFailed

        ensure_imported()
        admin_text = self.query_one("#db-admin-url", Input).value
        admin_password = self.query_one("#db-admin-password", Input).value
        password = self.query_one("#db-password", Input).value or None
        name = self.query_one("#db-name", Input).value
        owner = self.query_one("#db-owner", Input).value
        for secret in (admin_password, password):
            self.rf_app.remember_secret(secret)
        try:
            admin = parse_admin_url(admin_text, name="the admin URL")
            if admin_password:
                admin = admin.set(password=admin_password)
            if admin.password:
                self.rf_app.remember_secret(str(admin.password))
            if not name or not owner:
                raise bad_input("the database and role names are required")
        except RfsetupError as exc:
            self.post_message(OperationFailed("create the database", exc))
            return
        write_env = self.query_one("#db-write-env", Checkbox).value
        self.query_one("#db-result", Static).update(Text("creating…", style="italic"))
        self.create(admin, name, owner, password, write_env)

    @work(thread=True, exclusive=True, exit_on_error=False, group="db-create")
    def create(self, admin: Any, name: str, owner: str, password: str | None,
               write_env: bool) -> None:
        """`db create [--write-env]`'s own sequence (dbcreate.create_database): the admin
        connection checked first, the role's password for DATABASE_URL found before anything
        is changed, provision(), DATABASE_URL (and, on the sandbox, REDIS_URL) in the .env."""
        ensure_imported()
        from rfsetup.core.dbcreate import create_database
        from rfsetup.core.settings import reload_settings

        operation = "create the database"
        # the .env as it is now (read here, off the UI thread): a run a moment ago may have
        # pointed DATABASE_URL at the role before the app's next status read reloads settings
        settings = self.attempt(operation, lambda: reload_settings(self.settings))
        if settings is None:
            return
        outcome = self.attempt(operation, lambda: create_database(
            settings, admin, name, owner, password, write_env=write_env,
            password_hint="type the role's password (it is then set on the role too), or "
                          "untick “Point DATABASE_URL”",
            admin_error=admin_failure,
            on_progress=lambda line: self.post_message(MigrationProgressed(line))))
        if outcome is not None:
            self.post_message(DatabaseProvisioned(
                outcome.result, outcome.env_file if outcome.env_written else None,
                outcome=outcome))

    def on_migration_progressed(self, message: MigrationProgressed) -> None:
        message.stop()
        self.query_one("#db-result", Static).update(Text(message.line + "…", style="italic"))

    def on_database_provisioned(self, message: DatabaseProvisioned) -> None:
        self.result = message.result
        outcome = message.outcome
        written = display_path(message.env_written) if message.env_written else None
        env_keys = None
        if outcome is not None and outcome.env_changes is not None:
            env_keys = [key for key, _, _ in outcome.env_changes]
        text = result_text(message.result, written, self.key("step-4"),
                           database_url=outcome.database_url if outcome else None,
                           env_keys=env_keys)
        for note in outcome.notes if outcome is not None else ():
            text.append(f"\n! {note}", style="yellow")
        if outcome is not None and outcome.env_changes is not None and \
                self.settings.sources.get("DATABASE_URL") == "environment":
            text.append("\n! DATABASE_URL is also set in the environment, which wins over the "
                        ".env: unset it to use the new one.", style="yellow")
        result = self.query_one("#db-result", Static)
        result.update(text)
        self.query_one("#db-password", Input).value = ""
        # the result sits below the form: at 80x24 it is off screen unless brought into view
        self.call_after_refresh(self.query_one("#db-form", VerticalScroll).scroll_end,
                                animate=False)
