"""Step 2, Environment: a form over the .env, grouped as the guide groups it.

Validation runs as you type (envfile.validate, pure); secrets and URL passwords are masked
unless revealed; SECRET_KEY can be generated; saving shows what will change (envfile.changes)
and writes through the core's atomic save. Keys the guide does not know are listed and left
untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Input, Label, Static

from rfsetup.tui.messages import EnvLoaded, EnvSaved
from rfsetup.tui.modals.changes import ChangesModal
from rfsetup.tui.screens.base import StepScreen, display_path
from rfsetup.tui.state import StepState, env_state
from rfsetup.tui.warmup import ensure_imported


def problems_text(problems: list[Any]) -> Text:
    text = Text()
    for problem in problems:
        symbol, style = ("✗", "red") if problem.level == "error" else ("!", "yellow")
        text.append(f"{symbol} {problem.message}\n", style=style)
    text.rstrip()
    return text


def apply_edits(document: Any, edits: dict[str, str]) -> Any:
    """``document`` with each edited key set (envfile keeps every other byte)."""
    for key, value in edits.items():
        document = document.set(key, value)
    return document


class EnvironmentScreen(StepScreen):
    """One compact input per guide key; a problem line under each; other keys listed."""

    STEP_ID = "environment"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="env-save",
                tooltip="Save the .env (shows what will change first)"),
        Binding("ctrl+r", "toggle_reveal", "Reveal", id="env-reveal",
                tooltip="Show or hide secrets and URL passwords"),
        Binding("ctrl+g", "generate_secret", "New SECRET_KEY", id="env-generate-secret",
                tooltip="Generate SECRET_KEY (32 random bytes as hex)"),
        Binding("ctrl+l", "reload", "Reload", id="env-reload", show=False,
                tooltip="Reload the .env from disk (drops unsaved edits)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        from rfsetup.core.envfile import GROUPS

        self.groups = GROUPS
        self.path: Path | None = None
        self.document: Any | None = None
        self.exists: bool | None = None
        self.revealed = False
        self.problems: dict[str, list[Any]] = {}

    def compose(self) -> ComposeResult:
        yield Static("", id="env-path", classes="step-intro")
        with VerticalScroll(id="env-form"):
            for group, keys in self.groups.items():
                yield Label(group, classes="section-title")
                for key in keys:
                    yield Label(key, classes="env-key")
                    yield Input(id=f"env-{key}", compact=True, classes="env-input",
                                password=self._masked_by_default(key))
                    yield Static("", id=f"env-hint-{key}", classes="env-hint")
            yield Label("Other keys (kept as they are)", classes="section-title")
            yield Static("", id="env-other")

    @staticmethod
    def _masked_by_default(key: str) -> bool:
        from rfsetup.core.envfile import is_secret

        return is_secret(key)

    def start(self) -> None:
        self.load()

    def first_focus(self) -> Any:
        # the form, not its first field: digits then still jump between steps; Tab enters
        return self.query_one("#env-form")

    def step_state(self, report: Any | None) -> StepState:
        from rfsetup.core.envfile import REQUIRED_KEYS, validate_all

        if self.document is None:
            return env_state(None, [], [])
        values = self.document.values()
        problems = [p for found in validate_all(values).values() for p in found]
        missing = [k for k in REQUIRED_KEYS if not values.get(k)]
        return env_state(self.exists, problems, missing)

    # -- workers ----------------------------------------------------------------------------
    def action_reload(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="env-load")
    def load(self) -> None:
        ensure_imported()
        from rfsetup.core.envfile import EnvFile

        path = self.settings.env_file
        doc = self.attempt("read the .env", lambda: EnvFile.load(path))
        if doc is not None:
            self.post_message(EnvLoaded(path, doc, path.is_file()))

    @work(thread=True, exclusive=True, exit_on_error=False, group="env-save")
    def write(self, path: Path, edits: dict[str, str], changed: list[tuple[str, str, str]]
              ) -> None:
        ensure_imported()
        from rfsetup.core import envfile

        def save() -> Any:
            # the edits go onto the file as it is now: a change made meanwhile (step 3 writing
            # DATABASE_URL, another editor) is kept, not overwritten with what the form loaded
            # (under the writer lock, so a concurrent `rfsetup env set` is kept too)
            return envfile.update(path, lambda doc: apply_edits(doc, edits)).after

        document = self.attempt("save the .env", save)
        if document is not None:
            self.post_message(EnvSaved(path, document, changed))

    # -- handlers ---------------------------------------------------------------------------
    def on_env_loaded(self, message: EnvLoaded) -> None:
        self.show_document(message.path, message.document, message.exists)

    def show_document(self, path: Path, document: Any, exists: bool) -> None:
        """Fill the form from a document (the file as it is on disk)."""
        self.path, self.document, self.exists = path, document, exists
        values = document.values()
        state = "" if exists else "  (does not exist yet: saving creates it)"
        self.query_one("#env-path", Static).update(
            f"{display_path(path)}{state}\n{self.key('env-save')} saves (you see the changes "
            "first).")
        for keys in self.groups.values():
            for key in keys:
                field = self.query_one(f"#env-{key}", Input)
                with field.prevent(Input.Changed):
                    field.value = values.get(key) or ""
                self._check(key)
        self._show_others(values)

    def _show_others(self, values: dict[str, Any]) -> None:
        from rfsetup.core.envfile import KNOWN_KEYS, mask

        others = [(k, v) for k, v in values.items() if k not in KNOWN_KEYS]
        text = Text()
        for key, value in others:
            text.append(f"{key}", style="bold")
            text.append(f" = {mask(key, value)}\n")
        text.rstrip()
        self.query_one("#env-other", Static).update(text if others else Text("(none)",
                                                                            style="dim"))

    def form_values(self) -> dict[str, str]:
        return {key: self.query_one(f"#env-{key}", Input).value
                for keys in self.groups.values() for key in keys}

    @on(Input.Changed, ".env-input")
    def _changed(self, event: Input.Changed) -> None:
        key = (event.input.id or "").removeprefix("env-")
        self._check(key)

    def _check(self, key: str) -> None:
        """Validate one field as typed, with the rest of the form as context."""
        from rfsetup.core.envfile import has_url_password, mask, validate

        ensure_imported()  # DATABASE_URL is parsed by sqlalchemy (a no-op once loaded)
        field = self.query_one(f"#env-{key}", Input)
        value = field.value
        context = {**(self.document.values() if self.document else {}), **self.form_values()}
        found = validate(key, value, context) if value else []
        self.problems[key] = found
        hint = problems_text(found)
        if value and has_url_password(value):
            # the URL's password is hidden in the field; show where it points
            if not self.revealed:
                field.password = True
            shown = Text(mask(key, value), style="dim")
            hint = Text.assemble(shown, "\n", hint) if found else shown
        elif not self._masked_by_default(key):
            field.password = False
        if not value:
            hint = Text("(not set)", style="dim")
        field.set_class(any(p.level == "error" for p in found), "-invalid")
        self.query_one(f"#env-hint-{key}", Static).update(hint)

    # -- actions ----------------------------------------------------------------------------
    def action_toggle_reveal(self) -> None:
        from rfsetup.core.envfile import has_url_password

        self.revealed = not self.revealed
        for keys in self.groups.values():
            for key in keys:
                field = self.query_one(f"#env-{key}", Input)
                masked = self._masked_by_default(key) or has_url_password(field.value)
                field.password = masked and not self.revealed
        self.notify("secrets shown" if self.revealed else "secrets hidden")

    def action_generate_secret(self) -> None:
        from rfsetup.core.envfile import new_secret

        # what `rfsetup env generate-secret` writes
        field = self.query_one("#env-SECRET_KEY", Input)
        field.value = new_secret()
        self.notify(f"SECRET_KEY generated: {self.key('env-save')} to save it")

    def edits(self) -> dict[str, str]:
        """The fields that differ from the loaded file."""
        values = self.document.values() if self.document is not None else {}
        return {key: value for key, value in self.form_values().items()
                if value != (values.get(key) or "")}

    def action_save(self) -> None:
        from rfsetup.core.envfile import EnvFile, changes
        from rfsetup.core.errors import RfsetupError, bad_input
        from rfsetup.tui.messages import OperationFailed

        if self.path is None:
            return
        errors = [f"{key}: {p.message}" for key, found in self.problems.items() for p in found
                  if p.level == "error"]
        edits = self.edits()
        base = self.document if self.document is not None else EnvFile(())
        try:
            if errors:
                raise bad_input("the form has invalid values; nothing was saved",
                                cause="; ".join(errors), hint="fix the fields marked ✗")
            changed = changes(base, apply_edits(base, edits))
        except RfsetupError as exc:
            self.post_message(OperationFailed("save the .env", exc))
            return
        if not changed:
            self.notify("nothing to save: the form matches the file")
            return
        path = self.path

        def confirmed(ok: bool | None) -> None:
            if ok:
                self.write(path, edits, changed)

        self.app.push_screen(ChangesModal(display_path(path), changed), confirmed)

    def on_env_saved(self, message: EnvSaved) -> None:
        self.notify(f"saved {display_path(message.path)} ({len(message.changed)} change(s))")
        self.document, self.exists = message.document, True
        self.show_document(message.path, message.document, True)
