"""RecoveryModal: what ``rfsetup migrate recover`` says, in the app.

A database at a revision these scripts lack (a branch switch): which git branch has it, the
newest revision both histories share, and the two ways out; ``s`` then stamps that ancestor,
through the Migrations step's own stamp confirmation (the SQL, the typed database name). A
database at the head whose schema is not what the models say: which objects differ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from rfsetup.core.errors import RfsetupError
from rfsetup.core.errors import unexpected as unexpected_error
from rfsetup.tui.messages import RecoveryDiagnosed

if TYPE_CHECKING:
    from rfsetup.core.recovery import Recovery
    from rfsetup.core.settings import Settings


def diagnose_in_worker(settings: Settings, secrets: list[str]) -> RecoveryDiagnosed:
    """The body of a worker: ``recovery.diagnose`` as a message (git and the database read)."""
    from rfsetup.core.recovery import diagnose

    try:
        return RecoveryDiagnosed(diagnose(settings))
    except RfsetupError as exc:
        return RecoveryDiagnosed(None, exc)
    except Exception as exc:
        return RecoveryDiagnosed(None, unexpected_error("recover", exc, secrets))


def one_line(rec: Recovery, key: str) -> str:
    """The Migrations step's line about an unknown revision: where git has it."""
    for home in rec.homes:
        named = [h for h in home.holders if h.kind != "commit"]
        if named:
            return (f"{home.revision} is on {named[0].kind} {named[0].name} (a branch "
                    f"switch): {key} shows the ways out")
        if home.found:
            return f"{home.revision} is in no branch now, only in git's history: {key} explains"
    return f"{', '.join(rec.unknown)} is in no branch git knows: {key} explains"


def recovery_text(rec: Recovery, stamp_key: str) -> Text:
    from rfsetup.core.recovery import recovery_lines

    text = Text()
    lines = recovery_lines(rec, stamp_command=f"press {stamp_key}")
    for index, line in enumerate(lines):
        stripped = line.lstrip()
        style = "bold" if index == 0 else ""
        if stripped.startswith(("git ", "rfsetup ")):
            style = "bold cyan"
        elif stripped.startswith(("1.", "2.", "ways out")):
            style = "bold"
        elif "nothing to recover" in line or "matches the models" in line:
            style = "bold green"
        text.append(line + "\n", style=style)
    text.rstrip()
    return text


class RecoveryModal(ModalScreen[str | None]):
    """Dismisses with the revision to stamp (``s``), or None."""

    BINDINGS = [
        Binding("escape", "close", "Close", id="recover-close"),
        Binding("s", "stamp", "Stamp it", id="recover-stamp"),
    ]

    def __init__(self, settings: Settings, database: str,
                 secrets: list[str] | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.database = database
        self.secrets = secrets or []
        self.recovery: Recovery | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="recover-dialog", classes="dialog"):
            yield Label(f"Recover database {self.database}", classes="dialog-title")
            with VerticalScroll(id="recover-scroll"):
                yield Static("asking git and the database…", id="recover-body")
            yield Static("", id="recover-hint", classes="note")

    def on_mount(self) -> None:
        if getattr(self.app, "autoload", True):  # snapshots feed it instead
            self.diagnose()

    @work(thread=True, exclusive=True, exit_on_error=False, group="recover")
    def diagnose(self) -> None:
        self.post_message(diagnose_in_worker(self.settings, self.secrets))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stamp":
            return self.recovery is not None and self.recovery.stamp_target is not None
        return True

    def on_recovery_diagnosed(self, message: RecoveryDiagnosed) -> None:
        if message.recovery is None:
            error = message.error
            text = Text(f"✗ {error.message if error else 'failed'}", style="bold red")
            if error is not None and error.hint:
                text.append(f"\nhint: {error.hint}", style="italic")
            self.query_one("#recover-body", Static).update(text)
            self.query_one("#recover-hint", Static).update("Esc closes")
            return
        self.show(message.recovery)

    def show(self, rec: Recovery) -> None:
        self.recovery = rec
        key = "s"  # the modal's own key (the keymap covers the steps' and the app's)
        self.query_one("#recover-body", Static).update(recovery_text(rec, key))
        hint = "↑/↓ scroll · Esc closes"
        if rec.stamp_target is not None:
            hint = f"{key} stamps {rec.stamp_target} (asks for the database name) · " + hint
        self.query_one("#recover-hint", Static).update(hint)
        self.query_one("#recover-scroll").focus()
        self.refresh_bindings()

    def action_stamp(self) -> None:
        if self.recovery is not None and self.recovery.stamp_target is not None:
            self.dismiss(self.recovery.stamp_target)

    def action_close(self) -> None:
        self.dismiss(None)


# -- the Migrations step's hooks (kept here: that screen's own file stays small) --------------
def open_for(screen: Any) -> None:
    """The Migrations step's ``v``: the modal; a revision chosen there is stamped through the
    step's own stamp confirmation."""
    from rfsetup.core.alembic.planning import stamp_move

    def stamp(revision: str | None) -> None:
        if revision:
            screen.request(stamp_move(revision))

    screen.app.push_screen(RecoveryModal(screen.settings, screen.database_name,
                                         screen.rf_app.known_secrets()), stamp)


def watch(screen: Any, report: Any) -> None:
    """When the status shows an unknown revision (not seen before), ask git in a worker; the
    answer comes back to the screen as RecoveryDiagnosed."""
    error = report.scripts_error
    if error is None or error.kind != "unknown_revision" or not screen.live:
        screen.diagnosed_for = None
        return
    if getattr(screen, "diagnosed_for", None) == report.current:
        return
    screen.diagnosed_for = report.current
    settings, secrets = screen.settings, screen.rf_app.known_secrets()
    screen.run_worker(lambda: screen.post_message(diagnose_in_worker(settings, secrets)),
                      thread=True, exclusive=True, group="recover-hint", exit_on_error=False)


def show_on(screen: Any, message: RecoveryDiagnosed) -> None:
    """The screen's result line says where git has the revision."""
    rec = message.recovery
    if rec is None or not rec.branch_switch:
        return
    screen.query_one("#mig-result", Static).update(
        Text(one_line(rec, screen.key("migrate-recover")), style="bold yellow"))
