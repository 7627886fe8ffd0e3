"""The footer, fitted to the terminal: at 80 columns the least needed keys make room.

Textual's Footer shows every shown binding and cuts the last ones at the edge ("f5 Refre").
This one drops whole keys instead, the least needed first (``PRIORITY``; unknown ids in the
middle), keeping their order; every binding stays in the command palette (Ctrl+P) and in the
README's key table, so nothing dropped here is out of reach.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

#: binding id -> how much the key is needed in the footer (higher stays longer)
PRIORITY: dict[str, int] = {
    "quit": 100, "migrate-cancel": 95, "migrate-interrupt": 94, "migrate-down-one": 90,
    "migrate-upgrade-head": 85, "migrate-to-selected": 70, "step-1": 65, "migrate-backups": 60,
    "help": 45, "migrate-down-base": 40, "migrate-rehearse": 38, "migrate-stamp": 35,
    "focus-status": 30,
    "refresh-status": 20,
}
DEFAULT_PRIORITY = 50
#: the command palette's key on the right: its border, "^p" and " palette"
PALETTE_WIDTH = 12


def item_width(binding: Binding, key_display: str) -> int:
    """Cells a compact FooterKey takes: the key, a space, the description, its margin."""
    return len(key_display) + (1 + len(binding.description) if binding.description else 0) + 1


def fit(items: Sequence[tuple[Binding, int]], width: int) -> list[Binding]:
    """The bindings of ``items`` ((binding, cells)) that fit in ``width`` cells, dropping the
    lowest ``PRIORITY`` first; the order is kept."""
    kept = list(items)
    by_need = sorted(kept, key=lambda item: PRIORITY.get(item[0].id or "", DEFAULT_PRIORITY))
    total = sum(cells for _, cells in kept)
    for item in by_need:
        if total <= width:
            break
        kept.remove(item)
        total -= item[1]
    return [binding for binding, _ in kept]


class FittedFooter(Footer):
    """Footer(compact=True) whose keys always fit on its one line."""

    _fitted_for: tuple[int, tuple[str, ...]] | None = None

    def _shown(self) -> list[tuple[Binding, bool, str]]:
        by_action: defaultdict[str, list[tuple[Binding, bool, str]]] = defaultdict(list)
        for _node, binding, enabled, tooltip in self.screen.active_bindings.values():
            if binding.show:
                by_action[binding.action].append((binding, enabled, tooltip))
        return [group[0] for group in by_action.values()]

    def _fitted(self, width: int) -> list[tuple[Binding, bool, str]]:
        shown = self._shown()
        items = [(b, item_width(b, self.app.get_key_display(b))) for b, _, _ in shown]
        keep = {id(b) for b in fit(items, max(width - PALETTE_WIDTH, 0))}
        return [entry for entry in shown if id(entry[0]) in keep]

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        width = self.size.width or self.app.size.width
        fitted = self._fitted(width)
        self._fitted_for = (width, tuple(b.action for b, _, _ in fitted))
        for binding, enabled, tooltip in fitted:
            yield FooterKey(binding.key, self.app.get_key_display(binding),
                            binding.description, binding.action, disabled=not enabled,
                            tooltip=tooltip).data_bind(compact=Footer.compact)
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            try:
                _node, binding, enabled, tooltip = self.screen.active_bindings[
                    self.app.COMMAND_PALETTE_BINDING]
            except KeyError:
                return
            yield FooterKey(binding.key, self.app.get_key_display(binding),
                            binding.description, binding.action, classes="-command-palette",
                            disabled=not enabled,
                            tooltip=binding.tooltip or binding.description)

    def on_resize(self, event: events.Resize) -> None:
        if not self._bindings_ready or self._fitted_for is None:
            return
        actions = tuple(b.action for b, _, _ in self._fitted(event.size.width))
        if actions != self._fitted_for[1]:
            self.call_after_refresh(self.recompose)
