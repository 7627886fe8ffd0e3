"""The footer: the keys that work now, fitted to the terminal, drawn as one widget.

It looks like Textual's compact Footer, cell for cell, but is one line that is repainted when
the active bindings change. Textual's Footer is a container of a dozen FooterKey widgets that it
removes and mounts again on every change, and a step switch changes the bindings twice: the
mounting, styling and layout of those widgets was about a third of a step switch (issue 11).
Here a change is a repaint. Which keys fit is ``footer.fit`` (the least needed are dropped
first at 80 columns; every binding stays in the command palette). A key can be clicked (a
disabled one rings the bell), and hovering shows its tooltip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget

from rfsetup.tui.widgets.footer import PALETTE_WIDTH, fit, item_width


@dataclass(frozen=True)
class FooterItem:
    """One key as shown: where it starts, its cells (without the margin after it)."""

    binding: Binding
    key_display: str
    enabled: bool
    tooltip: str
    x: int
    width: int
    palette: bool = False

    @property
    def description(self) -> str:
        return self.binding.description


class KeysFooter(Widget, can_focus=False):
    """The active bindings' keys on one line, the command palette's key on the right."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"keys-footer--item", "keys-footer--key", "keys-footer--description",
                         "keys-footer--hover", "keys-footer--border"}
    # the looks of Textual's Footer(compact=True) and FooterKey, property for property
    DEFAULT_CSS = """
    KeysFooter {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        & > .keys-footer--item { background: $footer-item-background; }
        & > .keys-footer--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        & > .keys-footer--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        & > .keys-footer--hover {
            color: $footer-key-foreground;
            background: $block-hover-background;
        }
        & > .keys-footer--border { color: $foreground 20%; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._hover: int | None = None
        self._items: tuple[FooterItem, ...] = ()
        self._items_for: tuple[Any, ...] | None = None

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self.bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def bindings_changed(self, screen: Screen[Any]) -> None:
        # a repaint, drawn with the frame that shows the change (a step switch changes the
        # bindings twice in one turn: still one paint)
        if self.is_attached and screen is self.screen:
            self.refresh()

    # -- what is shown ------------------------------------------------------------------------
    def items(self) -> tuple[FooterItem, ...]:
        """The keys shown now, left to right, the palette's last."""
        width = self.size.width or self.app.size.width
        active = self.screen.active_bindings
        signature = (width, tuple((id(binding), enabled, tooltip, self.app.get_key_display(
            binding)) for _, binding, enabled, tooltip in active.values()))
        if signature == self._items_for:
            return self._items
        by_action: dict[str, tuple[Binding, bool, str]] = {}
        for _node, binding, enabled, tooltip in active.values():
            if binding.show:
                by_action.setdefault(binding.action, (binding, enabled, tooltip))
        shown = list(by_action.values())
        cells = [(b, item_width(b, self.app.get_key_display(b))) for b, _, _ in shown]
        keep = {id(b) for b in fit(cells, max(width - PALETTE_WIDTH, 0))}
        items: list[FooterItem] = []
        x = 0
        for binding, enabled, tooltip in shown:
            if id(binding) not in keep:
                continue
            display = self.app.get_key_display(binding)
            cells_wide = item_width(binding, display) - 1  # the margin is not the key's
            items.append(FooterItem(binding, display, enabled, tooltip, x, cells_wide))
            x += cells_wide + 1
        if self.app.ENABLE_COMMAND_PALETTE and self.app.COMMAND_PALETTE_BINDING in active:
            _node, binding, enabled, tooltip = active[self.app.COMMAND_PALETTE_BINDING]
            display = self.app.get_key_display(binding)
            # docked right: its border, the key and description, then one cell of margin
            wide = 1 + item_width(binding, display) - 1
            items.append(FooterItem(binding, display, enabled,
                                    binding.tooltip or binding.description,
                                    width - 1 - wide, wide, palette=True))
        self._items, self._items_for = tuple(items), signature
        return self._items

    def item_at(self, x: int) -> int | None:
        """The index of the key drawn at column ``x``, if any."""
        for index, item in enumerate(self.items()):
            if item.x <= x < item.x + item.width:
                return index
        return None

    # -- drawing ------------------------------------------------------------------------------
    def _item_styles(self, item: FooterItem, hovered: bool) -> tuple[Style, Style, Style]:
        """(the item's, its key's, its description's) styles, as FooterKey composes them."""
        base = self.rich_style + self.get_component_rich_style("keys-footer--item")
        if hovered:
            base += self.get_component_rich_style("keys-footer--hover")
        if not item.enabled:
            base += Style(dim=True)
        key, description = (self.get_component_rich_style(name) for name in (
            "keys-footer--key", "keys-footer--description"))
        # a transparent part shows the item's background (its hover), as in FooterKey
        return base, base + self._see_through(key, "keys-footer--key"), \
            base + self._see_through(description, "keys-footer--description")

    def _see_through(self, style: Style, name: str) -> Style:
        if self.get_component_styles(name).background.a == 0:
            return Style(color=style.color, bold=style.bold, dim=style.dim,
                         italic=style.italic, underline=style.underline)
        return style

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        background = self.rich_style
        if y != 0:
            return Strip.blank(width, background)
        segments: list[Segment] = []
        x = 0
        for index, item in enumerate(self.items()):
            if item.x < x or item.x + item.width > width:
                continue  # a terminal narrower than the palette's key
            if item.x > x:
                segments.append(Segment(" " * (item.x - x), background))
            base, key, description = self._item_styles(item, index == self._hover)
            if item.palette:
                border = self.get_component_rich_style("keys-footer--border")
                segments.append(Segment("▏", base + Style(color=border.color)))
            segments.append(Segment(item.key_display, key))
            if item.description:
                segments.append(Segment(" " + item.description, description))
            x = item.x + item.width
        if x < width:
            segments.append(Segment(" " * (width - x), background))
        return Strip(segments, width).simplify()

    # -- the mouse ----------------------------------------------------------------------------
    def on_mouse_move(self, event: events.MouseMove) -> None:
        index = self.item_at(event.x) if event.y == 0 else None
        if index != self._hover:
            self._hover = index
            self.tooltip = (self.items()[index].tooltip or None) if index is not None else None
            self.refresh()

    def on_leave(self, event: events.Leave) -> None:
        if self._hover is not None:
            self._hover = None
            self.tooltip = None
            self.refresh()

    def on_mouse_down(self, event: events.MouseDown) -> None:
        index = self.item_at(event.x)
        if index is None:
            return
        item = self.items()[index]
        if item.enabled:
            self.app.simulate_key(item.binding.key)
        else:
            self.app.bell()

