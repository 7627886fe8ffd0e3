"""What every step screen shares: its place in the guide, and the one way workers call the core.

Workers (``@work(thread=True, exclusive=True, exit_on_error=False, group=...)`` on plain defs)
call one core function through ``attempt``, which turns any failure into an ``OperationFailed``
message carrying an RfsetupError: a user never sees a traceback, and widgets change only in
message handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from textual.containers import Vertical

from rfsetup.core.errors import RfsetupError
from rfsetup.core.errors import unexpected as unexpected_error  # one mechanism, CLI and TUI
from rfsetup.tui.messages import OperationFailed
from rfsetup.tui.state import StepState, next_step_text, step

if TYPE_CHECKING:
    from rfsetup.core.settings import Settings
    from rfsetup.core.status import StatusReport
    from rfsetup.tui.app import RfsetupApp

T = TypeVar("T")


def display_path(path: Path) -> str:
    """The path relative to the working directory when it is inside it (shorter, and free of
    a temporary directory's random name in screenshots)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class StepScreen(Vertical):
    """A step's screen inside the app's ContentSwitcher; ``STEP_ID`` names its step."""

    STEP_ID = ""
    can_focus = False

    def __init__(self) -> None:
        info = step(self.STEP_ID)
        super().__init__(id=info.id, classes="step")
        self.border_title = f"{info.number} {info.title}"

    @classmethod
    def for_app(cls, app: RfsetupApp) -> StepScreen:
        """The screen as the app composes it (the step registry calls this)."""
        return cls()

    @property
    def rf_app(self) -> RfsetupApp:
        return self.app  # type: ignore[return-value]

    @property
    def live(self) -> bool:
        """False when the app was started with autoload=False: nothing loads by itself."""
        return self.rf_app.autoload

    @property
    def settings(self) -> Settings:
        return self.rf_app.settings

    def key(self, binding_id: str) -> str:
        """The key that runs ``binding_id`` now (the user's keymap applied), for hints."""
        return self.rf_app.key_hint(binding_id)

    def next_text(self) -> str:
        """"Next: …" from this step: the next one not done yet, as the step list has them."""
        from rfsetup.tui.widgets.step_list import StepList

        try:
            states = self.rf_app.query_one(StepList).states
        except Exception:  # not mounted in an app with a step list (a unit test's screen)
            states = None
        return next_step_text(self.STEP_ID, self.key, states)

    def attempt(self, operation: str, call: Callable[[], T], *, silent: bool = False
                ) -> T | None:
        """Run ``call`` (in a worker thread); post OperationFailed and return None on failure."""
        try:
            return call()
        except RfsetupError as exc:
            self.post_message(OperationFailed(operation, exc, silent=silent))
        except Exception as exc:  # never a traceback on screen; see unexpected_error
            self.post_message(OperationFailed(
                operation, unexpected_error(operation, exc, self.rf_app.known_secrets()),
                silent=silent))
        return None

    # -- hooks the app calls --------------------------------------------------------------
    def steps_changed(self) -> None:
        """The step list's states changed (a "Next: …" hint shown here may now be stale)."""

    def activated(self) -> None:
        """The step was just shown: focus its main widget."""
        target = self.first_focus()
        if target is not None:
            target.focus()

    def first_focus(self) -> Any:
        for widget in self.query("*"):
            if widget.focusable:
                return widget
        return None

    def status_changed(self, report: StatusReport, previous: StatusReport | None) -> None:
        """A new StatusReport arrived (the default does nothing)."""

    def step_state(self, report: StatusReport | None) -> StepState:
        """Done / needs attention / not yet, from what this step and the report know."""
        return StepState.UNKNOWN

    def start(self) -> None:
        """Load what the step shows (called once at launch when the app autoloads)."""

    def confirm_leave(self, proceed: Callable[[], object], *, quitting: bool = False) -> bool:
        """Whether the step may be left (or the app quit) now. A step holding unsaved work
        asks first, returns False, and calls ``proceed`` once the user chose to go on."""
        return True
