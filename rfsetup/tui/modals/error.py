"""ErrorModal: an RfsetupError as the user can act on it (message, cause, hint), no traceback."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from rfsetup.core.errors import RfsetupError


def error_text(error: RfsetupError) -> Text:
    text = Text()
    text.append(error.message + "\n", style="bold")
    if error.cause:
        text.append("\ncause: ", style="bold")
        text.append(error.cause + "\n")
    if error.hint:
        text.append("\nhint: ", style="bold green")
        text.append(error.hint + "\n")
    text.rstrip()
    return text


class ErrorModal(ModalScreen[None]):
    """Enter or Escape closes it."""

    BINDINGS = [Binding("escape,enter", "close", "Close", id="error-close")]

    def __init__(self, operation: str, error: RfsetupError) -> None:
        super().__init__()
        self.operation = operation
        self.error = error

    def compose(self) -> ComposeResult:
        with Vertical(id="error-dialog", classes="dialog"):
            yield Label(f"✗ {self.operation} failed", classes="dialog-title")
            yield Static(error_text(self.error), id="error-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="error-close", variant="primary", compact=True)

    def on_mount(self) -> None:
        # pushed while the app closes, it is mounted without its children: nothing to focus
        for button in self.query(Button):
            button.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
