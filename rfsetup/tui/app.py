"""The guided terminal app: a step list, the chosen step's screen and a live status panel.

Layout: the step list and the live panel on the left, always in view; the chosen step's screen
(a ContentSwitcher) on the right; the keys in the footer. Every database, file or subprocess call
runs in a thread worker that calls one core function and posts a message back; only message
handlers change widgets. Nothing heavy (alembic, sqlalchemy, a connection) is imported or opened
before the first frame.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal, Vertical
from textual.widgets import ContentSwitcher, Input, OptionList
from textual.worker import Worker, get_current_worker

from rfsetup.core.errors import RfsetupError
from rfsetup.core.guard import PRODUCTION_POLL_INTERVAL
from rfsetup.core.settings import ENV_KEYMAP, Settings, reload_settings
from rfsetup.core.settings import parse_keymap as parse_keymap  # the tests' and scripts' name
from rfsetup.core.userconfig import UserConfig, load_user_config
from rfsetup.tui import keys
from rfsetup.tui.early import EarlyStatus
from rfsetup.tui.messages import (
    DatabaseProvisioned,
    OperationFailed,
    StatusChanged,
    StatusRefreshed,
)
from rfsetup.tui.modals.error import ErrorModal
from rfsetup.tui.screens.base import StepScreen, unexpected_error
from rfsetup.tui.screens.environment import EnvironmentScreen
from rfsetup.tui.screens.migrations import MigrationsScreen
from rfsetup.tui.state import STEP_IDS
from rfsetup.tui.steps import REGISTRY, screen_bindings, step_bindings
from rfsetup.tui.support import SupportActions
from rfsetup.tui.warmup import ensure_imported, ensure_lean_imported, ensure_migration_imported
from rfsetup.tui.widgets.keys_footer import KeysFooter
from rfsetup.tui.widgets.status_panel import StatusPanel
from rfsetup.tui.widgets.step_list import StepList

if TYPE_CHECKING:
    from rfsetup.core.status import StatusReport

#: how often the live panel re-reads the status (seconds)
POLL_INTERVAL = 2.0
#: the steps start their own loads once the first status is drawn, or after this long
STEPS_AFTER = 1.5
#: how long the first frame waits for the status read before the app was loaded (seconds)
EARLY_WAIT = 0.15
KEYMAP_ENV = ENV_KEYMAP


class StepCommands(Provider):
    """The command palette: one entry per step and per action of every step."""

    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        app = self.app
        assert isinstance(app, RfsetupApp)
        return app.palette_commands()

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, text=title, help=help_text)

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, text=title, help=help_text)


class RfsetupApp(SupportActions):
    """The app. ``autoload=False`` starts nothing by itself (snapshot tests feed it messages)."""

    # absolute, so that subclasses defined elsewhere (tests, benchmarks) find it too
    CSS_PATH = Path(__file__).parent / "app.tcss"
    TITLE = "rfsetup"
    SUB_TITLE = "RaptorFlow database setup"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    COMMANDS = App.COMMANDS | {StepCommands}
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
        *step_bindings(),
        Binding("f5", "refresh_status", "Refresh", id="refresh-status"),
        Binding("escape", "focus_steps", "Step list", id="focus-steps", show=False),
        # rfsetup's help for the step on screen (Textual's generic key panel is not it);
        # ? only outside a text field (an Input consumes printable keys first)
        Binding("f1,question_mark", "help", "Help", id="help", key_display="F1"),
        Binding("f9", "support_bundle", "Support bundle", id="support-bundle", show=False,
                tooltip="Write a support bundle for a ticket (no secrets in it)"),
        Binding("f8", "status_all", "Environments", id="status-all", show=False,
                tooltip="Every .env.* beside the .env: revision and pending (status --all)"),
        # the live panel holds more than 80x24 shows: focus it to scroll (again: back)
        Binding("l", "focus_status", "Live panel", id="focus-status",
                tooltip="Focus the live panel to scroll it (again: back to the step)"),
    ]

    def __init__(self, settings: Settings, *, rollback: bool = False, autoload: bool = True,
                 poll_interval: float = POLL_INTERVAL, early: EarlyStatus | None = None
                 ) -> None:
        super().__init__()
        self.settings = settings
        #: the first status, read while this module was being imported (tui/early.py)
        self._early = early
        self.rollback = rollback
        self.autoload = autoload
        self.poll_interval = poll_interval
        #: the interval a production target is polled at, unless the caller chose another
        self._gentle = poll_interval == POLL_INTERVAL
        if settings.production and self._gentle:
            self.poll_interval = PRODUCTION_POLL_INTERVAL
        self._poll_timer: Any = None
        self.report: StatusReport | None = None
        self._status_worker: Worker[None] | None = None
        self._steps_started = False
        self._settings_dirty = False
        self._secrets: set[str] = set()
        # the config file (keys, theme) and RFSETUP_KEYMAP, checked against every binding
        # before anything is shown: hints in the panes are rendered with these keys
        self.user_config: UserConfig = load_user_config(settings.config_file)
        self.keymap = keys.resolve(
            [b for b in self.BINDINGS if isinstance(b, Binding)], screen_bindings(),
            keys.requests(self.user_config.keys, str(settings.config_file), settings.keymap))
        if self.keymap.applied:
            self.set_keymap(self.keymap.applied)
        self._saved_theme = self.user_config.theme

    def key_hint(self, binding_id: str) -> str:
        """The key that runs ``binding_id`` now (the keymap applied), for in-pane hints."""
        return self.keymap.hint(binding_id)

    # -- layout -----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        initial = "migrations" if self.rollback else "prerequisites"
        with Horizontal(id="body"):
            with Vertical(id="sidebar"):
                steps = StepList(id="steps")
                steps.border_title = "Steps"
                yield steps
                panel = StatusPanel(id="status")
                panel.border_title = "Live"
                yield panel
            with ContentSwitcher(id="switcher", initial=initial):
                for entry in REGISTRY:
                    yield entry.screen.for_app(self)
        yield KeysFooter()  # one widget, repainted when the keys change

    def on_mount(self) -> None:
        self._apply_user_theme()
        self.show_step(self.query_one(ContentSwitcher).current or "prerequisites")
        self.mark_production()
        if self.autoload:
            # the revision first: the status read has the interpreter to itself until it is
            # on screen (the steps' own loads compete for the GIL); they start right after it,
            # or after STEPS_AFTER seconds when the server is slow to answer. Read while this
            # module loaded (tui/early.py), it is in the first frame if it comes in time.
            early = self._early.result(timeout=EARLY_WAIT) if self._early else None
            if early is not None:
                self._early = None  # taken: the worker asks Redis only
                self.post_message(StatusRefreshed(early, settings=self.settings))
            self.refresh_status(early)
            self._poll_timer = self.set_interval(self.poll_interval, self._poll)
            self.set_timer(STEPS_AFTER, self._start_steps)

    def _start_steps(self) -> None:
        # autoload=False (snapshots feed the app messages): the steps never load by themselves
        if self._steps_started or not self.autoload:
            return
        self._steps_started = True
        for screen in self.step_screens():
            screen.start()

    # -- the config file: theme and what could not be applied ---------------------------------
    def _apply_user_theme(self) -> None:
        """The config file's theme; what of the config and the keymap was refused is said
        once, here, never silently dropped. A theme chosen later is saved back."""
        problems = [*self.user_config.problems, *self.keymap.problems]
        theme = self.user_config.theme
        if theme is not None and theme not in self.available_themes:
            problems.append(f"{self.settings.config_file}: theme {theme!r} is not a Textual "
                            "theme (Ctrl+P, Theme, lists them); not applied")
        elif theme is not None:
            self.theme = theme
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        if problems:
            self.notify("\n".join(problems), title="rfsetup: not applied", severity="warning",
                        timeout=20)

    def _theme_changed(self, theme: Any) -> None:
        if self.settings.config_file is None or theme.name == self._saved_theme:
            return
        self._saved_theme = theme.name
        self._save_theme(theme.name)

    @work(thread=True, exclusive=True, exit_on_error=False, group="config")
    def _save_theme(self, name: str) -> None:
        from rfsetup.core.userconfig import save_theme

        assert self.settings.config_file is not None
        try:
            save_theme(self.settings.config_file, name)
        except RfsetupError as exc:
            self.call_from_thread(self.notify, f"the theme was not saved: {exc.message}",
                                  severity="warning")

    # -- steps ------------------------------------------------------------------------------
    def step_screens(self) -> Iterator[StepScreen]:
        yield from self.query_one(ContentSwitcher).query_children(StepScreen)

    def step_screen(self, step_id: str) -> StepScreen:
        return self.query_one(f"#{step_id}", StepScreen)

    @property
    def current_step(self) -> str:
        return self.query_one(ContentSwitcher).current or STEP_IDS[0]

    def show_step(self, step_id: str) -> None:
        """Put a step on screen and focus its main widget (once the step on screen agrees:
        unsaved edits are asked about first)."""
        shown = self.query_one(ContentSwitcher).current
        if shown and shown != step_id and not self.step_screen(shown).confirm_leave(
                partial(self.show_step, step_id)):
            self.query_one(StepList).show_step(shown)
            return
        self.query_one(ContentSwitcher).current = step_id
        self.query_one(StepList).show_step(step_id)
        self.step_screen(step_id).activated()

    def action_step(self, step_id: str) -> None:
        self.show_step(step_id)

    def action_focus_steps(self) -> None:
        """Escape: out of a form field to its form (where 1-6 work again), else to the steps."""
        focused = self.focused
        home = self.step_screen(self.current_step).first_focus()
        if isinstance(focused, Input) and home is not None and focused is not home:
            home.focus()
        else:
            self.query_one(StepList).focus()

    def action_focus_status(self) -> None:
        """``l``: into the live panel (arrows, PgUp/PgDn scroll it); again: back."""
        panel = self.query_one(StatusPanel)
        if self.focused is panel:
            self.step_screen(self.current_step).activated()
        else:
            panel.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if isinstance(event.option_list, StepList) and event.option.id:
            self.show_step(event.option.id)

    def refresh_step_states(self) -> None:
        if not self.is_running:  # shutting down (see on_status_refreshed)
            return
        steps = self.query_one(StepList)
        before = dict(steps.states)
        for screen in self.step_screens():
            steps.set_state(screen.STEP_ID, screen.step_state(self.report))
        if steps.states != before:  # hints that name the next step not done follow
            for screen in self.step_screens():
                screen.steps_changed()

    # -- live status ------------------------------------------------------------------------
    def _poll(self) -> None:
        # a poll never queues behind a slow one; refreshes after operations always start
        if self._status_worker is not None and self._status_worker.is_running:
            return
        self.refresh_status()

    def action_refresh_status(self) -> None:
        self.refresh_status()

    def refresh_status(self, without_redis: StatusReport | None = None) -> None:
        """Read the status again (``without_redis``: a report that only lacks Redis)."""
        self._status_worker = self._collect_status(without_redis)

    @work(thread=True, exclusive=True, exit_on_error=False, group="status")
    def _collect_status(self, without_redis: StatusReport | None = None) -> None:
        # the warm path first, with psycopg2 and the cache alone: Alembic and SQLAlchemy are
        # imported only when the cache cannot answer (or the .env is read again)
        ensure_lean_imported()
        from rfsetup.core.status import warm_status

        worker = get_current_worker()
        settings = self.settings
        try:
            if self._settings_dirty:
                self._settings_dirty = False
                ensure_imported()
                settings = reload_settings(settings)
            # the first report without Redis (redis-py's import alone is ~90 ms): the
            # revision is drawn first, Redis follows in this same worker; read before the
            # app was loaded when it could be (tui/early.py)
            early, self._early = self._early, None
            report = without_redis
            if report is not None and report.redis_checked:
                return  # nothing to add: it is on screen
            if report is None and early is not None and early.settings is settings:
                report = early.result()
            if report is None:
                report = warm_status(settings, redis=self.report is not None)
            if report is not None and not report.redis_checked:
                if without_redis is None and not worker.is_cancelled:
                    self.post_message(StatusRefreshed(report, settings=settings))
                from rfsetup.core.status import with_redis

                report = with_redis(settings, report)
            if report is None:
                ensure_imported()
                from rfsetup.core.status import collect_status

                report = collect_status(settings)
        except RfsetupError as exc:
            self.post_message(OperationFailed("read the status", exc, silent=True))
            return
        except Exception as exc:  # collect_status reports failures; this is a bug guard
            self.post_message(OperationFailed(
                "read the status", unexpected_error("read the status", exc, self.known_secrets()),
                silent=True))
            return
        if not worker.is_cancelled:
            self.post_message(StatusRefreshed(report, settings=settings))

    @work(thread=True, exclusive=True, exit_on_error=False, group="warmup")
    def _warm_migrations(self) -> None:
        # after the first frame and the first status: nothing the user waits for is delayed
        ensure_migration_imported()
        # what is loaded by now (Textual, Alembic, SQLAlchemy, the widgets) lives as long as
        # the app: frozen out of the garbage collector's full passes, which otherwise walked
        # it every few seconds for ~100 ms of the UI's time (a key press waited for them)
        gc.freeze()

    def on_status_refreshed(self, message: StatusRefreshed) -> None:
        if not self.is_running:
            # shutting down: the widgets are being removed while late worker messages still
            # arrive (querying them would raise NoMatches)
            return
        if message.settings is not None:
            self.settings = message.settings
            self.mark_production()
        previous, self.report = self.report, message.report
        self.query_one(StatusPanel).show(message.report)
        if previous is None:
            # once the revision is drawn: the steps' loads and the warm-up's imports would
            # compete for the GIL with the frame that shows it
            self.call_after_refresh(self._start_steps)
            self.call_after_refresh(self._warm_migrations)
        for screen in self.step_screens():
            screen.status_changed(message.report, previous)
        self.refresh_step_states()

    # -- the production guard (rfsetup.core.guard) -------------------------------------------
    def mark_production(self) -> None:
        """A production target: the frame and the panel turn the error colour and say
        PRODUCTION, and the panel polls gently (every 15 s); all undone when it is not."""
        reason = self.settings.production
        self.screen.set_class(bool(reason), "-production")
        self.query_one(StatusPanel).mark_production(reason)
        self.sub_title = "PRODUCTION" if reason else type(self).SUB_TITLE
        wanted = PRODUCTION_POLL_INTERVAL if reason and self._gentle else (
            POLL_INTERVAL if self._gentle else self.poll_interval)
        if wanted != self.poll_interval:
            self.poll_interval = wanted
            if self._poll_timer is not None:
                self._poll_timer.stop()
                self._poll_timer = self.set_interval(wanted, self._poll)

    # -- facts after which the panel and the step list follow -------------------------------
    @on(StatusChanged)
    def _status_changed(self, message: StatusChanged) -> None:
        """The one handler of every StatusChanged message (a migration ran, the .env was
        saved, the checks finished…): the step list is recomputed, and after an operation
        the live status is read again at once (the .env first, when it changed)."""
        if message.settings_changed:
            self._settings_dirty = True
        if message.refresh:
            self.refresh_status()
        self.refresh_step_states()

    def on_database_provisioned(self, message: DatabaseProvisioned) -> None:
        if message.env_written is not None:
            env = self.step_screen("environment")
            if isinstance(env, EnvironmentScreen):
                env.load()  # the form shows the DATABASE_URL just written

    def on_operation_failed(self, message: OperationFailed) -> None:
        if not self.is_running:  # shutting down (see on_status_refreshed)
            return
        if message.operation == "read the status":
            self.query_one(StatusPanel).show_failure(message.error)
        if not message.silent:
            self.push_screen(ErrorModal(message.operation, message.error))

    # -- secrets ----------------------------------------------------------------------------
    def remember_secret(self, value: str | None) -> None:
        """A password the user typed: scrubbed from any unexpected error text."""
        if value:
            self._secrets.add(value)

    def known_secrets(self) -> list[str]:
        from rfsetup.core.redact import url_secrets

        secrets = set(self._secrets)
        with contextlib.suppress(Exception):  # no or broken URL: nothing to scrub from it
            secrets.update(url_secrets(self.settings.url()))
        return sorted(secrets, key=len, reverse=True)

    # -- command palette ----------------------------------------------------------------------
    def palette_commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        """Every step and every step action, for the command palette."""
        commands: list[tuple[str, str, Callable[[], Any]]] = []
        for entry in REGISTRY:
            info = entry.step
            commands.append((f"Go to {info.number} {info.title}",
                             f"show step {info.number}",
                             partial(self.show_step, info.id)))
        for entry in REGISTRY:
            for binding in _bindings_of(entry.screen):
                commands.append((f"{entry.step.title}: {binding.tooltip or binding.description}",
                                 f"key {self.keymap.keys.get(binding.id or '', binding.key)}  "
                                 f"(id {binding.id})",
                                 partial(self.run_step_action, entry.step.id, binding.action)))
        commands.append(("Refresh the live panel",
                         f"key {self.keymap.keys.get('refresh-status', 'f5')}",
                         self.refresh_status))
        commands.append(("Every environment beside the .env (status --all)",
                         f"key {self.keymap.keys.get('status-all', 'f8')}",
                         self.action_status_all))
        commands.append(("Write a support bundle (no secrets in it)",
                         f"key {self.keymap.keys.get('support-bundle', 'f9')}  "
                         "(rfsetup support-bundle)", self.action_support_bundle))
        commands.append(("Focus the live panel (to scroll it)",
                         f"key {self.keymap.keys.get('focus-status', 'l')}  (id focus-status)",
                         self.action_focus_status))
        return commands

    async def run_step_action(self, step_id: str, action: str) -> None:
        self.show_step(step_id)
        if self.current_step == step_id:  # not when leaving the step was asked about first
            await self.step_screen(step_id).run_action(action)

    # -- help (issue 10 item 9) --------------------------------------------------------------
    def action_help(self) -> None:
        """F1 / ?: the current step's help, keys as mapped now; F1, Esc or q closes it."""
        from rfsetup.tui.modals.help import HelpModal

        if isinstance(self.screen, HelpModal):
            self.screen.dismiss(None)
            return
        step_id = self.current_step
        screen = next(e.screen for e in REGISTRY if e.step.id == step_id)
        self.push_screen(HelpModal(step_id, _bindings_of(screen),
                                   [b for b in self.BINDINGS if isinstance(b, Binding)],
                                   self.keymap))

    async def action_quit(self) -> None:
        for screen in self.step_screens():  # unsaved edits are asked about first
            if not screen.confirm_leave(partial(self.call_later, self.action_quit),
                                        quitting=True):
                return
        # never under a running migration or restore: the QuitModal asks what to do with it
        migrations = self.step_screen("migrations")
        if isinstance(migrations, MigrationsScreen) and migrations.hold_quit():
            return
        self.exit(0)


def _bindings_of(screen: type[StepScreen]) -> list[Binding]:
    return [b for b in screen.BINDINGS if isinstance(b, Binding) and b.description]


def run_app(settings: Settings, rollback: bool = False, early: EarlyStatus | None = None
            ) -> int:
    """Run the app full screen; returns the process exit code. Keys are remapped by the
    config file's [keys] and RFSETUP_KEYMAP="binding-id=key,..." (``Settings.keymap``).
    ``early``: the first status, already being read (tui/early.py)."""
    app = RfsetupApp(settings, rollback=rollback, early=early)
    result = app.run()
    return int(result or 0) if app.return_code in (None, 0) else int(app.return_code or 1)
