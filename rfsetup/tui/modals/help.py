"""HelpModal: rfsetup's help for the step on screen (F1, or ``?`` outside a text field).

What the step does, its keys as they are mapped now (the keymap applied: the config file's
``[keys]`` and RFSETUP_KEYMAP), the keys that work everywhere, what the step list's markers mean
(``rfsetup.tui.state.StepState``) and the incident path. F1, Esc and q close it (and whatever
key the help binding was remapped to).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from rfsetup.tui.keys import key_text
from rfsetup.tui.state import StepState, step

if TYPE_CHECKING:
    from rfsetup.tui.keys import Keymap

#: what each step does, in a person's words (the README's "The terminal app" list)
STEP_HELP: dict[str, str] = {
    "prerequisites": "Runs doctor's checks: Python and the packages, PostgreSQL reachable and "
                     "new enough, psql and pg_dump, Redis, the .env and the Alembic scripts. "
                     "The highlighted check shows its fix for this OS below the list.",
    "environment": "The .env as a form grouped like the guide, validated as you type; secrets "
                   "and URL passwords stay hidden until revealed. Saving first lists what will "
                   "change, then writes the file atomically (comments and order kept).",
    "database": "Creates the login role and its database as an admin (what exists is kept). "
                "The admin password comes from its field, else PGPASSWORD or ~/.pgpass. The "
                "SQL is shown before it runs; optionally DATABASE_URL in the .env is pointed "
                "at the new database.",
    "migrations": "The revision history (● current, ◆ head, ⑂ branch, ⑃ merge). Highlighting "
                  "a revision shows the exact SQL from the current revision to it, up or down, "
                  "with squawk's findings. Upgrades run at once; every downgrade and stamp "
                  "asks for the database name first. Up and down take a backup first; "
                  "Alembic's output streams into the log.",
    "seed": "The plans from seeds/plans.json and what would be inserted or updated; applying "
            "is idempotent.",
    "verify": "The guide's \\dt and \\d: every table (missing ones marked) and, for the chosen "
              "table, its columns, keys, indexes, foreign keys and checks.",
}
#: what a marker means (the step list shows StepState's symbol)
MARKER_HELP: dict[StepState, str] = {
    StepState.DONE: "done",
    StepState.ATTENTION: "needs attention (the step says what)",
    StepState.NOT_YET: "not yet done",
    StepState.UNKNOWN: "checking: not known yet (its check has not reported)",
}
#: keys that are not bindings of their own, per step
EXTRA_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    "migrations": (("Enter", "on a revision: go to it, like g"),),
    "environment": (("Tab / Shift+Tab", "next / previous field"),),
    "database": (("Tab / Shift+Tab", "next / previous field"),),
}


def keys_of(keymap: Keymap, binding_id: str, default: str) -> str:
    """Every key of a binding as mapped now, for a person: ``F1 / ?``."""
    raw = keymap.keys.get(binding_id, default)
    return " / ".join(dict.fromkeys(key_text(k) for k in raw.split(",") if k.strip()))


def help_text(step_id: str, bindings: Sequence[Binding], shared: Sequence[Binding],
              hint: Callable[[str, str], str]) -> Group:
    """The help for ``step_id``: ``bindings`` are its screen's, ``shared`` the app's; ``hint``
    gives a binding id's keys as mapped (``keys_of``). Key rows wrap under their description."""
    info = step(step_id)
    parts: list[Any] = [Text("What it does", style="bold"), Text(STEP_HELP.get(step_id, ""))]

    def rows(title: str, entries: list[tuple[str, str]]) -> None:
        if not entries:
            return
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold cyan", no_wrap=True)
        grid.add_column(ratio=1)
        for keys, what in entries:
            grid.add_row(keys, what)
        parts.extend([Text(f"\n{title}", style="bold"), Padding(grid, (0, 0, 0, 2))])

    here = [(hint(b.id or "", b.key), b.tooltip or b.description) for b in bindings if b.id]
    rows(f"Keys in {info.number} {info.title}", here + list(EXTRA_KEYS.get(step_id, ())))
    everywhere: list[tuple[str, str]] = []
    numbers = [b for b in shared if (b.id or "").startswith("step-")]
    if numbers:
        first, last = hint(numbers[0].id or "", "1"), hint(numbers[-1].id or "", "6")
        everywhere.append((f"{first}…{last}", "go to that step (outside a text field)"))
    words = {"focus-steps": "leave a text field (then the number keys work); again: the steps",
             "refresh-status": "read the live panel now", "help": "this help; F1, Esc or q "
             "closes it", "quit": "quit (asks while a migration runs)"}
    for binding in shared:
        if binding.id in words:
            everywhere.append((hint(binding.id, binding.key), words[binding.id]))
    everywhere.append(("Ctrl+P", "the command palette: every action by name, and the theme"))
    rows("Everywhere", everywhere)
    rows("Step markers", [(f"[{state.symbol}]", meaning) for state, meaning in
                          MARKER_HELP.items()])
    down = hint("migrate-down-one", "d")
    parts.append(Text("\nAn incident: one revision back", style="bold"))
    parts.append(Padding(Text(
        f"rfsetup rollback (or {hint('step-4', '4')} here), read the SQL, {down}, type the "
        "database name, Enter. A backup is taken first and its path shown; rfsetup backup "
        "restore FILE --yes brings the data back. The live panel shows the revision "
        "throughout."), (0, 0, 0, 2)))
    return Group(*parts)


def plain(renderable: Any, width: int = 100) -> str:
    """A renderable as plain text (for tests and for reading the help outside the app)."""
    console = Console(file=io.StringIO(), width=width, color_system=None, legacy_windows=False)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


class HelpModal(ModalScreen[None]):
    """The current step's help; F1, Esc, q (or the help key as mapped) close it."""

    BINDINGS = [Binding("escape,q,f1", "close", "Close", id="help-close")]

    def __init__(self, step_id: str, bindings: Sequence[Binding], shared: Sequence[Binding],
                 keymap: Keymap) -> None:
        super().__init__()
        self.step_id = step_id
        self.keymap = keymap
        self.body = help_text(step_id, bindings, shared,
                              lambda bid, default: keys_of(keymap, bid, default))
        # the help key as mapped closes it too (a remapped help=f2 toggles)
        self._close_keys = {k.strip() for k in keymap.keys.get("help", "f1").split(",")}

    def compose(self) -> ComposeResult:
        info = step(self.step_id)
        with Vertical(id="help-dialog", classes="dialog"):
            yield Label(f"rfsetup help · {info.number} {info.title}", classes="dialog-title")
            with VerticalScroll(id="help-scroll"):
                yield Static(self.body, id="help-body")
            yield Label("F1, Esc or q closes · ↑↓ PgUp PgDn scroll", id="help-footer")

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    def on_key(self, event: events.Key) -> None:
        if event.key in self._close_keys:
            event.stop()
            self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
