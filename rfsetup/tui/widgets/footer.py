"""Which keys the footer (widgets/keys_footer.py) shows: at 80 columns the least needed make room.

Textual's Footer shows every shown binding and cuts the last ones at the edge ("f5 Refre").
Ours drops whole keys instead, the least needed first (``PRIORITY``; unknown ids in the
middle), keeping their order; every binding stays in the command palette (Ctrl+P) and in the
README's key table, so nothing dropped here is out of reach.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.binding import Binding

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
