"""The step list: 1-6 with done / needs attention / not yet, as text symbols as well as colour."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import var
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from rfsetup.tui.state import STEPS, StepState

_STYLES = {
    StepState.DONE: "bold green",
    StepState.ATTENTION: "bold yellow",
    StepState.NOT_YET: "dim",
    StepState.UNKNOWN: "dim",
}


class StepList(OptionList):
    """Selecting an option (Enter or click) asks the app to show that step. ``all_done``
    turns True when every step is done (the ready summary watches it); ``seen_unfinished``
    says whether one was not done earlier in this session."""

    all_done: var[bool] = var(False)

    def __init__(self, *, id: str | None = None) -> None:
        self.states: dict[str, StepState] = {s.id: StepState.UNKNOWN for s in STEPS}
        #: a step was seen not done in this session (the setup was finished here, not found
        #: finished at launch)
        self.seen_unfinished = False
        super().__init__(*[Option(self._prompt(s.id), id=s.id) for s in STEPS], id=id)

    def _prompt(self, step_id: str) -> Text:
        state = self.states[step_id]
        step = next(s for s in STEPS if s.id == step_id)
        text = Text()
        text.append(f"[{state.symbol}]", style=_STYLES[state])
        text.append(f" {step.number} {step.title}")
        return text

    def set_state(self, step_id: str, state: StepState) -> None:
        if self.states.get(step_id) is state:
            return
        self.states[step_id] = state
        if state in (StepState.ATTENTION, StepState.NOT_YET):
            self.seen_unfinished = True
        self.replace_option_prompt(step_id, self._prompt(step_id))
        self.all_done = all(s is StepState.DONE for s in self.states.values())

    def show_step(self, step_id: str) -> None:
        """Move the highlight to the step now on screen."""
        self.highlighted = self.get_option_index(step_id)
