"""QuitModal: Ctrl+Q while a migration (or a restore) runs asks what to do with it.

The app never disappears under a running migration: this names the move, how long it has run
and where it is, and offers to keep it running (Esc), to stop it at the next revision boundary
and then quit, or to interrupt the running statement (its revision rolled back) and then quit.
It dismisses with the chosen id; what a choice does is the caller's (MigrationsScreen).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

KEEP = "keep"
CANCEL = "cancel"
INTERRUPT = "interrupt"


@dataclass(frozen=True)
class QuitChoice:
    """One way out: its id, its button, what it does, and its key in the modal."""

    id: str
    label: str
    explains: str
    key: str
    variant: str = "default"


def migration_choices(*, cancel_requested: bool, interrupt_requested: bool
                      ) -> list[QuitChoice]:
    """What can still be asked of a running migration."""
    choices = [QuitChoice(KEEP, "Keep running (Esc)" if not cancel_requested else
                          "Keep waiting (Esc)",
                          "nothing changes: the migration goes on and the app stays" if not
                          cancel_requested else "the app quits when the migration has stopped",
                          "k", "primary")]
    if not cancel_requested:
        choices.append(QuitChoice(CANCEL, "Cancel at the next revision, then quit (c)",
                                  "the running revision finishes; the later ones do not run",
                                  "c", "warning"))
    if not interrupt_requested:
        choices.append(QuitChoice(INTERRUPT, "Interrupt the statement, then quit (i)",
                                  "the running statement is cancelled on the server and its "
                                  "revision rolled back", "i", "error"))
    return choices


def restore_choices(*, cancel_requested: bool) -> list[QuitChoice]:
    """What can be asked of a running restore (one transaction: no boundaries inside)."""
    choices = [QuitChoice(KEEP, "Keep running (Esc)", "the restore goes on and the app stays",
                          "k", "primary")]
    if not cancel_requested:
        choices.append(QuitChoice(CANCEL, "Cancel the restore, then quit (c)",
                                  "it is rolled back: the database stays as it was", "c",
                                  "error"))
    return choices


class QuitModal(ModalScreen[str]):
    """Names what runs (``status()`` redrawn every half second) and offers ``choices``."""

    BINDINGS = [Binding("escape", "choose('keep')", "Keep running", id="quit-keep")]

    def __init__(self, title: str, status: Callable[[], Text | str],
                 choices: Sequence[QuitChoice]) -> None:
        super().__init__()
        self.title_text = title
        self.status = status
        self.choices = list(choices)

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-dialog", classes="dialog"):
            yield Label(self.title_text, id="quit-title", classes="dialog-title")
            yield Static(self.status(), id="quit-status")
            for choice in self.choices:
                yield Button(choice.label, id=f"quit-{choice.id}", variant=choice.variant,
                             compact=True)
                yield Static(Text(f"  {choice.explains}", style="dim"), classes="quit-explains")

    def on_mount(self) -> None:
        self.query_one(f"#quit-{KEEP}", Button).focus()
        self.set_interval(0.5, self._tick)

    def _tick(self) -> None:
        self.query_one("#quit-status", Static).update(self.status())

    def on_key(self, event: events.Key) -> None:
        for choice in self.choices:
            if event.key == choice.key:
                event.stop()
                self.dismiss(choice.id)
                return

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(str(event.button.id).removeprefix("quit-"))

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)
