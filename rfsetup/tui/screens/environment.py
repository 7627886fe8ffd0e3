"""Step 2, Environment: a form over the .env, grouped as the guide groups it.

Validation runs as you type (envfile.validate, pure); secrets and URL passwords are masked
unless revealed; SECRET_KEY can be generated (a valid one is replaced only when confirmed:
rotating it logs every user out); saving shows what will change (envfile.changes) and writes
through the core's locked, atomic update. Keys the guide does not know are listed and left
untouched; a line python-dotenv cannot parse is named as such. The file's side — changes on
disk merged, edits never dropped unasked — is env_sync.EnvSync.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Input, Label, Static

from rfsetup.tui.messages import EnvSaved
from rfsetup.tui.modals.ask import Answer, AskModal
from rfsetup.tui.screens.base import StepScreen, display_path
from rfsetup.tui.screens.env_sync import EnvSync
from rfsetup.tui.screens.env_sync import apply_edits as apply_edits  # the tests' name
from rfsetup.tui.state import StepState, env_state, next_step_text
from rfsetup.tui.warmup import ensure_imported

if TYPE_CHECKING:
    from rfsetup.core.envmerge import DiskState


def problems_text(problems: list[Any]) -> Text:
    text = Text()
    for problem in problems:
        symbol, style = ("✗", "red") if problem.level == "error" else ("!", "yellow")
        text.append(f"{symbol} {problem.message}\n", style=style)
    text.rstrip()
    return text


class EnvironmentScreen(EnvSync, StepScreen):
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
                tooltip="Reload the .env from disk (asks before dropping unsaved edits)"),
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
        self.state: DiskState | None = None
        self.asking = False
        self.pending_disk = False
        self.after_save = None
        #: guide keys that read as unset because their line cannot be parsed: key -> line
        self.broken: dict[str, int] = {}
        self.saved_note: Text | None = None

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
        # what the sandbox (or the process environment) supplies is not missing (as doctor)
        missing = [k for k in REQUIRED_KEYS if not values.get(k) and not self.supplied(k)]
        return env_state(self.exists, problems, missing)

    def supplied(self, key: str) -> str | None:
        """"sandbox" or "environment" when that, not the .env, gives ``key`` now."""
        source = self.settings.sources.get(key)
        return source if source in ("sandbox", "environment") else None

    # -- the form ---------------------------------------------------------------------------
    def show_document(self, path: Path, document: Any, exists: bool, *,
                      state: DiskState | None = None,
                      values: dict[str, str] | None = None) -> None:
        """Fill the form from a document (the file as it is on disk), or with ``values`` over
        it (a merge: the document is the base, the differences are unsaved edits)."""
        from rfsetup.core.envmerge import unparsable_keys

        self.path, self.document, self.exists = path, document, exists
        if state is not None:
            self.state = state
        self.broken = unparsable_keys(document)
        shown = {**{k: v or "" for k, v in document.values().items()}, **(values or {})}
        for key in self.form_keys():
            field = self.query_one(f"#env-{key}", Input)
            with field.prevent(Input.Changed):
                field.value = shown.get(key) or ""
            self._check(key)
        self._show_others(document)
        self.show_intro()

    def show_intro(self, note: Text | None = None) -> None:
        """The file's path and the step's one next thing: save, merge first, or the next step."""
        if self.path is None:
            return
        text = Text(display_path(self.path))
        if not self.exists:
            text.append("  (does not exist yet: saving creates it)", style="dim")
        text.append("\n")
        if self.pending_disk:
            text.append(f"! the file changed on disk: {self.key('env-save')} merges it with "
                        "your edits first", style="bold yellow")
        elif self.edits():
            text.append(f"{self.key('env-save')} saves (you see the changes first).")
        elif note is not None or self.saved_note is not None:
            text.append_text(note or self.saved_note or Text())
        elif self.step_state(None) is StepState.DONE:
            text.append(next_step_text(self.STEP_ID, self.key), style="bold")
        else:
            text.append(f"{self.key('env-save')} saves (you see the changes first).")
        self.query_one("#env-path", Static).update(text)

    def _show_others(self, document: Any) -> None:
        from rfsetup.core.envfile import KNOWN_KEYS, mask
        from rfsetup.core.envmerge import unparsable

        values = document.values()
        others = [(k, v) for k, v in values.items() if k not in KNOWN_KEYS]
        text = Text()
        for key, value in others:
            text.append(f"{key}", style="bold")
            text.append(f" = {mask(key, value)}\n")
        for item in unparsable(document):
            if item.key in self.form_keys() and item.key in self.broken:
                continue  # said under its field
            text.append(f"✗ line {item.line} cannot be parsed", style="red")
            text.append(f" ({item.key}…): dotenv skips it; fix it in an editor\n"
                        if item.key else ": dotenv skips it; fix it in an editor\n")
        text.rstrip()
        self.query_one("#env-other", Static).update(text if text.plain else
                                                    Text("(none)", style="dim"))

    def form_keys(self) -> list[str]:
        return [key for keys in self.groups.values() for key in keys]

    def form_values(self) -> dict[str, str]:
        return {key: self.query_one(f"#env-{key}", Input).value for key in self.form_keys()}

    @on(Input.Changed, ".env-input")
    def _changed(self, event: Input.Changed) -> None:
        key = (event.input.id or "").removeprefix("env-")
        self.saved_note = None
        self._check(key)
        self.show_intro()

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
        line = self.broken.get(key)
        if line is not None and value == "":
            # not "(not set)": the file has a line for it that no reader can use
            hint = Text(f"✗ line {line} of the file cannot be parsed, so {key} reads as "
                        "unset; a value typed here replaces that line", style="red")
        elif line is not None and self.document is not None and \
                value != (self.document.values().get(key) or ""):
            hint = Text.assemble(hint, "\n" if hint.plain else "",
                                 Text(f"saving replaces line {line}, which cannot be parsed",
                                      style="yellow"))
        elif not value and self.supplied(key) == "sandbox":
            hint = Text("(not set here: this session uses the sandbox's; 3 Database & role "
                        "writes it to the .env)", style="dim")
        elif not value:
            hint = Text("(not set)", style="dim")
        field.set_class(any(p.level == "error" for p in found) or
                        (line is not None and value == ""), "-invalid")
        self.query_one(f"#env-hint-{key}", Static).update(hint)

    def form_errors(self) -> list[str]:
        return [f"{key}: {p.message}" for key, found in self.problems.items() for p in found
                if p.level == "error"]

    def edits(self) -> dict[str, str]:
        """The fields that differ from the loaded file."""
        values = self.document.values() if self.document is not None else {}
        return {key: value for key, value in self.form_values().items()
                if value != (values.get(key) or "")}

    # -- actions ----------------------------------------------------------------------------
    def action_toggle_reveal(self) -> None:
        from rfsetup.core.envfile import has_url_password

        self.revealed = not self.revealed
        for key in self.form_keys():
            field = self.query_one(f"#env-{key}", Input)
            masked = self._masked_by_default(key) or has_url_password(field.value)
            field.password = masked and not self.revealed
        self.notify("secrets shown" if self.revealed else "secrets hidden")

    def action_generate_secret(self) -> None:
        """SECRET_KEY as `rfsetup env generate-secret` makes it; a valid one is replaced only
        when confirmed, as the CLI's --force: rotating it logs every user out."""
        from rfsetup.core.envfile import validate

        field = self.query_one("#env-SECRET_KEY", Input)
        current = field.value
        valid = bool(current) and not any(p.level == "error" for p in validate(
            "SECRET_KEY", current, {**self.form_values()}))
        if not valid:
            self._generate()
            return
        if self.asking:
            return
        self.asking = True

        def answered(answer: str | None) -> None:
            self.asking = False
            if answer == "rotate":
                self._generate()

        body = Text()
        body.append("SECRET_KEY already holds a valid secret.\n\n")
        body.append("Rotating it logs every user out: ", style="bold")
        body.append("sessions and tokens signed with the old key stop working. "
                    "(The CLI asks for --force: rfsetup env generate-secret --force.)")
        self.app.push_screen(AskModal("Replace SECRET_KEY?", body,
                                      [Answer("rotate", "Generate a new one", "g")],
                                      warning=True), answered)

    def _generate(self) -> None:
        from rfsetup.core.envfile import new_secret

        self.query_one("#env-SECRET_KEY", Input).value = new_secret()
        self.notify(f"SECRET_KEY generated: {self.key('env-save')} to save it")

    def env_saved(self, message: EnvSaved) -> None:
        """Written: the form shows the file, the intro the next step."""
        self.notify(f"saved {display_path(message.path)} ({len(message.changed)} change(s))")
        self.exists, self.pending_disk = True, False
        self.show_document(message.path, message.document, True, state=message.state)
        note = Text(f"✓ saved ({len(message.changed)} change(s)). ", style="green")
        if self.step_state(None) is StepState.DONE:
            note.append(next_step_text(self.STEP_ID, self.key), style="bold")
        else:
            note.append("Fill in the keys marked ✗ or (not set), then save again.",
                        style="yellow")
        self.saved_note = note
        self.show_intro()

    # -- the step's hooks -------------------------------------------------------------------
    def status_changed(self, report: Any, previous: Any | None) -> None:
        # every live-panel poll: has someone changed the file? (a stat, read only if it moved)
        self.check_disk()

    def activated(self) -> None:
        super().activated()
        self.check_disk()
