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


def result_text(result: Any, env_written: str | None, next_key: str = "4") -> Text:
    text = Text()
    for title, items, style in (("created", result.created, "green"),
                                ("already there", result.existing, ""),
                                ("changed", result.changed, "cyan"),
                                ("warning", result.warnings, "yellow")):
        for item in items:
            symbol = "!" if title == "warning" else "✓"
            text.append(f"{symbol} {title}: ", style=f"bold {style}".strip())
            text.append(f"{item}\n")
    text.append(f"\nDATABASE_URL for the role: {result.database_url}\n")
    if env_written:
        text.append(f"✓ written to {env_written}\n", style="green")
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
            yield Static("Creates the login role and its database as an admin (idempotent: "
                         "what exists is kept).", classes="step-intro")
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
            yield Checkbox("Point DATABASE_URL in the .env at it", True, id="db-write-env",
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
        return database_state(report)

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
        """As `db create [--write-env]`: the admin connection checked first, then the role's
        password for DATABASE_URL (before anything is changed), provision(), and DATABASE_URL
        pointed at the role by dbcreate.point_env_at."""
        ensure_imported()
        from rfsetup.core.dbcreate import password_for_env, point_env_at
        from rfsetup.core.provision import inspect_server, provision, role_url
        from rfsetup.core.settings import reload_settings

        operation = "create the database"
        # the .env as it is now (read here, off the UI thread): a run a moment ago may have
        # pointed DATABASE_URL at the role before the app's next status read reloads settings
        settings = self.attempt(operation, lambda: reload_settings(self.settings))
        if settings is None:
            return
        if self.attempt(operation, lambda: as_admin(admin, inspect_server, admin, name,
                                                    owner)) is None:
            return
        env_password = None
        if write_env:
            env_password = self.attempt(operation, lambda: password_for_env(
                settings, owner, password, hint="type the role's password (it is then set on "
                                                "the role too), or untick “Point DATABASE_URL”"))
            if env_password is None:
                return
        result = self.attempt(operation, lambda: as_admin(
            admin, provision, admin, name, owner, password,
            on_progress=lambda line: self.post_message(MigrationProgressed(line))))
        if result is None:
            return
        written = None
        if env_password is not None:
            changed = self.attempt("write DATABASE_URL to the .env", lambda: point_env_at(
                settings, role_url(admin, owner, env_password, name)))
            written = settings.env_file if changed else None
        self.post_message(DatabaseProvisioned(result, written))

    def on_migration_progressed(self, message: MigrationProgressed) -> None:
        message.stop()
        self.query_one("#db-result", Static).update(Text(message.line + "…", style="italic"))

    def on_database_provisioned(self, message: DatabaseProvisioned) -> None:

        self.result = message.result
        written = display_path(message.env_written) if message.env_written else None
        text = result_text(message.result, written, self.key("step-4"))
        if written and self.settings.sources.get("DATABASE_URL") == "environment":
            text.append("\n! DATABASE_URL is also set in the environment, which wins over the "
                        ".env: unset it to use the new one.", style="yellow")
        self.query_one("#db-result", Static).update(text)
        self.query_one("#db-password", Input).value = ""
