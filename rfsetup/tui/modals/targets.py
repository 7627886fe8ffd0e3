"""TargetsModal: ``rfsetup status --all`` in the app, every environment beside the .env.

The table is the CLI's own, read by running ``rfsetup status --all`` in a child process (each
target's env.py is observed in-process, which must not happen in the app's threads beside its
own status reads); the same text, the same masking. The arrows scroll it (it is wider than an
80-column dialog), ``r`` reads it again, Escape closes it.
"""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, ScrollableContainer, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from rfsetup.tui.messages import TargetsRead

if TYPE_CHECKING:
    from rfsetup.core.settings import Settings

TIMEOUT = 120


def status_all_text(settings: Settings) -> str:
    """What ``rfsetup status --all`` prints for these settings (stdout, then stderr)."""
    argv = [sys.executable, "-m", "rfsetup.cli", "--env-file", str(settings.env_file),
            "-c", str(settings.alembic_ini), "status", "--all"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT,
                              cwd=settings.state_dir.parent, stdin=subprocess.DEVNULL,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"rfsetup status --all could not run: {exc}"
    return (done.stdout + done.stderr).rstrip() or "(no output)"


class TargetsModal(ModalScreen[None]):
    """Every .env.* beside the .env: revision, pending, PRODUCTION; r again, Escape closes."""

    BINDINGS = [Binding("escape", "close", "Close", id="targets-close"),
                Binding("r", "reload", "Again", id="targets-reload")]

    def __init__(self, settings: Settings, text: str | None = None) -> None:
        super().__init__()
        self.settings = settings
        #: given (a snapshot), or read when the modal opens
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(id="targets-dialog", classes="dialog"):
            yield Label("Every environment beside the .env (rfsetup status --all)",
                        classes="dialog-title")
            # both ways: the CLI's table is wider than an 80-column terminal's dialog
            with ScrollableContainer(id="targets-scroll"):
                yield Static(Text(self.text or "reading every .env.* …", style="" if self.text
                                  else "dim"), id="targets-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close (Esc)", id="targets-close-button", variant="primary",
                             compact=True)

    def on_mount(self) -> None:
        self.query_one("#targets-scroll").focus()  # arrows scroll it; Escape closes
        if self.text is None:
            self.action_reload()

    def action_reload(self) -> None:
        self.query_one("#targets-body", Static).update(Text("reading every .env.* …",
                                                            style="dim"))
        self._read()

    @work(thread=True, exclusive=True, exit_on_error=False, group="targets")
    def _read(self) -> None:
        self.post_message(TargetsRead(status_all_text(self.settings)))

    def on_targets_read(self, message: TargetsRead) -> None:
        self.text = message.text
        self.query_one("#targets-body", Static).update(Text(message.text))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
