"""AskModal: one question with a few answers, each a button with its key (unsaved edits,
rotating SECRET_KEY). Escape is always the answer that changes nothing (dismisses with None)."""

from __future__ import annotations

from typing import NamedTuple

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class Answer(NamedTuple):
    """A button: the id the modal dismisses with, its label and the key that presses it."""

    id: str
    label: str
    key: str
    primary: bool = False


class AskModal(ModalScreen[str | None]):
    """Dismisses with the chosen answer's id, or None (Escape: nothing is done)."""

    BINDINGS = [Binding("escape", "answer('')", "Cancel", id="ask-cancel")]

    def __init__(self, title: str, body: str | Text, answers: list[Answer], *,
                 warning: bool = False) -> None:
        super().__init__(classes="-warning" if warning else "")
        self.title_text = title
        self.body = body
        self.answers = answers

    def compose(self) -> ComposeResult:
        with Vertical(id="ask-dialog", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.body, id="ask-body")
            with Horizontal(classes="dialog-buttons"):
                for answer in self.answers:
                    yield Button(f"{answer.label} ({answer.key})", id=f"ask-{answer.id}",
                                 variant="primary" if answer.primary else "default",
                                 compact=True)
                yield Button("Cancel (Esc)", id="ask-", compact=True)

    def on_mount(self) -> None:
        for answer in self.answers:
            key = answer.key.lower()
            self._bindings.bind(key, f"answer('{answer.id}')", answer.label, show=False)
        first = next((a for a in self.answers if a.primary), None)
        if first is not None:
            self.query_one(f"#ask-{first.id}", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_answer((event.button.id or "ask-").removeprefix("ask-"))

    def action_answer(self, answer_id: str) -> None:
        self.dismiss(answer_id or None)
