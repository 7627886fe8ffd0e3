"""The keymap: the config file's ``[keys]`` under RFSETUP_KEYMAP, checked before it is applied.

Textual's own ``set_keymap`` takes any binding id and lets a remapped key silently replace
the binding that had it (``migrate-down-one=u`` took ``u`` from Upgrade). Here an unknown id
and a key another binding of the same place already has are refused and said, and the rest
is applied; ``hint`` names a binding's key as it is now, for the in-pane hints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from textual.binding import Binding
from textual.keys import _normalize_key_list


@dataclass(frozen=True)
class Remap:
    """A requested key for a binding id, and where it was asked for."""

    binding_id: str
    keys: str
    source: str


@dataclass(frozen=True)
class Keymap:
    """What is applied ({binding id: keys}), what was refused (said at start), and every
    binding's key as it is now (defaults included)."""

    applied: dict[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    keys: dict[str, str] = field(default_factory=dict)

    def hint(self, binding_id: str) -> str:
        """The key of ``binding_id`` as a person reads it: ``d``, ``Ctrl+S``, ``F5``."""
        return key_text(self.keys.get(binding_id, binding_id))


def requests(file_keys: Mapping[str, str], file_name: str, env_keys: Mapping[str, str],
             env_name: str = "RFSETUP_KEYMAP") -> list[Remap]:
    """The config file's keys, then the environment's (which win for the same id)."""
    merged = {bid: Remap(bid, keys, file_name) for bid, keys in file_keys.items()}
    merged.update({bid: Remap(bid, keys, env_name) for bid, keys in env_keys.items()})
    return list(merged.values())


def resolve(shared: Sequence[Binding], places: Mapping[str, Sequence[Binding]],
            wanted: Iterable[Remap]) -> Keymap:
    """Check ``wanted`` against the bindings: ``shared`` work everywhere (the app's), each of
    ``places`` (a step's title -> its bindings) only there, beside the shared ones."""
    every = [b for b in shared if b.id] + [b for group in places.values() for b in group if b.id]
    defaults = {b.id: b.key for b in every if b.id}
    descriptions = {b.id: b.tooltip or b.description or b.id for b in every if b.id}
    problems: list[str] = []
    accepted: dict[str, Remap] = {}
    for remap in wanted:
        if remap.binding_id not in defaults:
            problems.append(f"{remap.source}: unknown binding id {remap.binding_id!r} (not "
                            f"applied; the ids are in the palette, Ctrl+P, and the README)")
        else:
            accepted[remap.binding_id] = remap
    scopes = [("everywhere", [b.id for b in shared if b.id])] + [
        (title, [b.id for b in shared if b.id] + [b.id for b in group if b.id])
        for title, group in places.items()]
    while True:
        clash = _first_clash(scopes, defaults, accepted)
        if clash is None:
            break
        place, key, ids = clash
        refused = [bid for bid in ids if bid in accepted]
        for bid in refused:
            remap = accepted.pop(bid)
            others = [o for o in ids if o != bid]
            holder = ", ".join(f"{descriptions[o]} ({o})" for o in others)
            problems.append(f"{remap.source}: {bid}={remap.keys} not applied: "
                            f"{key_text(key)} is already {holder}"
                            + ("" if place == "everywhere" else f" in {place}"))
    keys = dict(defaults)
    keys.update({bid: remap.keys for bid, remap in accepted.items()})
    return Keymap({bid: r.keys for bid, r in accepted.items()}, tuple(problems), keys)


def _first_clash(scopes: Sequence[tuple[str, Sequence[str]]], defaults: Mapping[str, str],
                 accepted: Mapping[str, Remap]) -> tuple[str, str, list[str]] | None:
    """The first key two bindings of one place would share, once the accepted remaps apply;
    only a clash that a remap causes counts (the defaults are the app's own design)."""
    for place, ids in scopes:
        holders: dict[str, list[str]] = {}
        for bid in ids:
            raw = accepted[bid].keys if bid in accepted else defaults[bid]
            for key in _normalize_key_list(raw).split(","):
                holders.setdefault(key, []).append(bid)
        for key, owners in holders.items():
            if len(owners) > 1 and any(o in accepted for o in owners):
                return place, key, owners
    return None


_NAMES = {"escape": "Esc", "enter": "Enter", "space": "Space", "tab": "Tab",
          "backspace": "Backspace", "delete": "Del", "question_mark": "?"}


def key_text(keys: str) -> str:
    """``ctrl+s`` -> ``Ctrl+S``, ``f5`` -> ``F5``, ``d`` -> ``d`` (the first of several)."""
    first = keys.split(",")[0].strip()
    *modifiers, key = first.split("+") if first != "+" else ["+"]
    key = _NAMES.get(key, key)
    if (len(key) > 1 and key[0] in "fF" and key[1:].isdigit()) or (modifiers and len(key) == 1):
        key = key.upper()
    return "+".join([m.capitalize() for m in modifiers] + [key])
