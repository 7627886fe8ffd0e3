"""ReadyModal: the guided setup is finished — what was set up, where it points (password
masked), and, on the sandbox, that it keeps running and how to stop it (core.ready)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

if TYPE_CHECKING:
    from rfsetup.core.ready import Ready


def ready_text(ready: Ready) -> Text:
    """The summary's lines, the first one (ready or not) bold."""
    text = Text()
    for index, line in enumerate(ready.lines()):
        if index == 0:
            text.append(line + "\n", style="bold green" if ready.ready else "bold yellow")
        elif line.lstrip().startswith("stop it:"):
            text.append(line + "\n", style="bold")
        else:
            text.append(line + "\n")
    text.rstrip()
    return text


class ReadyModal(ModalScreen[None]):
    """Enter or Escape closes it; the same text stays on the Verify step."""

    BINDINGS = [Binding("escape,enter", "close", "Close", id="ready-close")]

    def __init__(self, ready: Ready) -> None:
        super().__init__()
        self.ready = ready

    def compose(self) -> ComposeResult:
        with Vertical(id="ready-dialog", classes="dialog"):
            yield Label("✓ Setup complete" if self.ready.ready else "Setup: not ready yet",
                        classes="dialog-title")
            with VerticalScroll(id="ready-scroll"):
                yield Static(ready_text(self.ready), id="ready-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close (Enter)", id="ready-close", variant="primary",
                             compact=True)

    def on_mount(self) -> None:
        self.query_one(Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
