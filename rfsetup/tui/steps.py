"""The step registry: each step of the guide with its screen, from which the app builds its
screens, their number keys, and the palette's "Go to" entries.

``rfsetup.tui.state.STEPS`` says which steps there are (id, number, title: pure data, which
the step list and the state functions read); ``SCREENS`` says which screen shows each. A step
without a screen, or a screen for no step, fails at import.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

from rfsetup.tui.screens.base import StepScreen
from rfsetup.tui.screens.database import DatabaseScreen
from rfsetup.tui.screens.environment import EnvironmentScreen
from rfsetup.tui.screens.migrations import MigrationsScreen
from rfsetup.tui.screens.prerequisites import PrerequisitesScreen
from rfsetup.tui.screens.seed import SeedScreen
from rfsetup.tui.screens.verify import VerifyScreen
from rfsetup.tui.state import STEPS, Step

SCREENS: dict[str, type[StepScreen]] = {screen.STEP_ID: screen for screen in (
    PrerequisitesScreen, EnvironmentScreen, DatabaseScreen, MigrationsScreen, SeedScreen,
    VerifyScreen)}


@dataclass(frozen=True)
class RegisteredStep:
    """A step, its screen class and the key that shows it."""

    step: Step
    screen: type[StepScreen]

    @property
    def binding(self) -> Binding:
        """``1``…``6``: the first shown in the footer as "1-6 Steps", the others hidden."""
        n = self.step.number
        first = n == STEPS[0].number
        return Binding(str(n), f"step('{self.step.id}')",
                       "Steps" if first else self.step.title, id=f"step-{n}",
                       show=first, key_display=f"{STEPS[0].number}-{STEPS[-1].number}"
                       if first else None)


if set(SCREENS) != {s.id for s in STEPS}:  # pragma: no cover - a mistake in this file
    raise RuntimeError(f"steps {sorted(s.id for s in STEPS)} != screens {sorted(SCREENS)}")

REGISTRY: tuple[RegisteredStep, ...] = tuple(RegisteredStep(s, SCREENS[s.id]) for s in STEPS)


def step_bindings() -> list[Binding]:
    """The number keys of every step, in order."""
    return [entry.binding for entry in REGISTRY]


def screen_bindings() -> dict[str, list[Binding]]:
    """Each step's title -> the bindings of its screen (what the keymap is checked against)."""
    return {entry.step.title: [b for b in entry.screen.BINDINGS if isinstance(b, Binding)]
            for entry in REGISTRY}
