"""PruneModal: how many of the newest backups to keep, what goes, then the database name.

The list of what would be removed is the core's own dry run (``backups.prune_backups(...,
dry_run=True)``: only files rfsetup wrote, never the newest), read again whenever the number
changes; it dismisses with the number to keep once the name is typed, None when cancelled.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from rfsetup.core.errors import RfsetupError
from rfsetup.tui.modals.confirm import PLACEHOLDER

if TYPE_CHECKING:
    from rfsetup.core.backupfiles import BackupInfo
    from rfsetup.core.settings import Settings


class PruneDryRun(Message):
    """The dry run for ``keep`` (a private message of this modal)."""

    def __init__(self, keep: int, doomed: list[BackupInfo] | None, error: str | None) -> None:
        super().__init__()
        self.keep, self.doomed, self.error = keep, doomed, error


class PruneModal(ModalScreen[int | None]):
    """Keep the newest N backups of ``database``."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prune-cancel")]

    def __init__(self, settings: Settings, database: str, count: int, *,
                 dry_run: bool = True) -> None:
        super().__init__()
        #: False: nothing read from disk by itself (the screenshots post the dry run)
        self.reads = dry_run
        self.settings = settings
        self.database = database
        self.count = count
        self.keep: int | None = max(1, min(5, count - 1))
        self.doomed: list[BackupInfo] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="prune-dialog", classes="dialog"):
            yield Label(f"Prune the backups of {self.database}", classes="dialog-title")
            yield Label(f"Keep the newest (of {self.count}):")
            yield Input(str(self.keep), id="prune-keep", type="integer", compact=True)
            with VerticalScroll(id="prune-list"):
                yield Static("", id="prune-doomed")
            yield Label(f"Type the database name ({self.database}) to confirm:")
            yield Input(placeholder=PLACEHOLDER, id="prune-name", compact=True)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Remove (Enter)", variant="error", id="prune-ok", disabled=True,
                             compact=True)
                yield Button("Cancel (Esc)", id="prune-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#prune-name", Input).focus()
        if self.keep is not None and self.reads:
            self.dry_run(self.keep)

    @work(thread=True, exclusive=True, exit_on_error=False, group="prune-dry-run")
    def dry_run(self, keep: int) -> None:
        from rfsetup.core.backups import prune_backups

        try:
            doomed = prune_backups(self.settings, keep, database=self.database, dry_run=True)
        except RfsetupError as exc:
            self.post_message(PruneDryRun(keep, None, exc.message))
            return
        self.post_message(PruneDryRun(keep, doomed, None))

    def on_prune_dry_run(self, message: PruneDryRun) -> None:
        if message.keep != self.keep:
            return  # an older number's answer
        view = self.query_one("#prune-doomed", Static)
        if message.doomed is None:
            self.doomed = []
            view.update(Text(f"✗ {message.error}", style="bold red"))
        elif not message.doomed:
            self.doomed = []
            view.update(Text(f"nothing to remove: keeping the newest {message.keep}",
                             style="dim"))
        else:
            self.doomed = message.doomed
            text = Text(f"removes {len(message.doomed)} backup(s):\n", style="bold")
            for info in message.doomed:
                text.append(f"  {Path(info.path).name}\n", style="")
            text.rstrip()
            view.update(text)
        self._update_ok()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "prune-keep":
            try:
                self.keep = int(event.value) if int(event.value) >= 1 else None
            except ValueError:
                self.keep = None
            if self.keep is None:
                self.doomed = []
                self.query_one("#prune-doomed", Static).update(
                    Text("keep at least 1 (the newest backup is never removed)", style="red"))
            elif self.reads:
                self.dry_run(self.keep)
        self._update_ok()

    def _ready(self) -> bool:
        return bool(self.doomed) and self.query_one("#prune-name", Input).value == self.database

    def _update_ok(self) -> None:
        self.query_one("#prune-ok", Button).disabled = not self._ready()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self._ready():
            self.dismiss(self.keep)
        elif event.input.id == "prune-name":
            event.input.select_all()
            self.notify(f"type {self.database} exactly, with something to remove",
                        severity="warning")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(self.keep if event.button.id == "prune-ok" and self._ready() else None)

    def action_cancel(self) -> None:
        self.dismiss(None)
