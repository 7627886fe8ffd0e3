"""ReadyModal: the guided setup is finished — what was set up, where it points (password
masked), and, on the sandbox, that it keeps running and how to stop it (core.ready)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

if TYPE_CHECKING:
    from rfsetup.core.ready import Ready


def ready_text(ready: Ready) -> Group:
    """The headline, then label / value rows (a value wraps in its own column)."""
    head = Text()
    for index, line in enumerate(ready.headline()):
        head.append(line + "\n", style=("bold green" if ready.ready else "bold yellow")
                    if index == 0 else "")
    head.rstrip()
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")  # a long URL wraps, never cut
    for label, value in ready.rows():
        grid.add_row(label, Text(value, style="bold" if value.startswith("stop it:") else ""))
    return Group(head, grid)


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
