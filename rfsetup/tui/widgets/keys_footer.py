"""The footer: the fitted one (widgets/footer.py), recomposed only when its keys change, at once.

Textual's Footer rebuilds all its keys (a dozen widgets mounted and styled) after the refresh
that follows every change of the active bindings, and a step switch changes them twice (the
hidden step's widget loses focus, the new step's gains it): the new step's keys reached the
screen two frames after the step. This one recomposes once, in the same turn as the change,
and not at all when what it would show is what it shows (the same width, keys, words, enabled
state, tooltips): the same widgets, so the same pixels, a frame or two sooner (issue 11).
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen

from rfsetup.tui.widgets.footer import FittedFooter


class KeysFooter(FittedFooter):
    """A FittedFooter that skips recomposing to what it already shows."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shown_as: tuple[Any, ...] | None = None
        self._pending = False

    def _signature(self) -> tuple[Any, ...]:
        """Everything ``compose`` reads, in the order it reads it."""
        return (self.size.width or self.app.size.width, self.show_command_palette,
                self.app.ENABLE_COMMAND_PALETTE, tuple(
                    (binding.key, self.app.get_key_display(binding), binding.description,
                     binding.action, binding.id, binding.show, binding.tooltip, enabled,
                     tooltip)
                    for (_, binding, enabled, tooltip) in self.screen.active_bindings.values()
                    if binding.show or binding.action == "command_palette"))

    def bindings_changed(self, screen: Screen[Any]) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and not self._pending:
            # after the handlers of this turn (a switch changes focus twice), before the
            # refresh: one recompose, drawn with the step
            self._pending = True
            self.call_next(self._recompose_if_changed)

    async def _recompose_if_changed(self) -> None:
        self._pending = False
        if not self.is_attached:
            return
        shown = self._signature()
        if shown == self._shown_as:
            return
        self._shown_as = shown
        await self.recompose()

    async def recompose(self) -> None:
        # a recompose from elsewhere (a resize) shows what is current: remembered as shown
        if self.is_attached:
            self._shown_as = self._signature()
        await super().recompose()
