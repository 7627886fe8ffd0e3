"""Display lines kept where the garbage collector does not walk them.

A preview of hundreds of revisions is thousands of highlighted lines. Kept as Textual Strips,
each line is a dozen objects the cycle collector tracks (the Strip, its segment list, seven
caches, the segments): 15,000 lines were 190,000 objects, and every full collection walked
them all for ~130 ms of the UI's time, several times during a migration (issue 11: the UI loop
stalled, keys waited). None of them can be part of a cycle; reference counting frees them.

Here a line is its text (a str) and its runs (bytes: pairs of a length and an index into a
small palette of styles); neither is tracked. A Strip is built when a line is drawn, and the
few on screen are kept in a bounded cache.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator
from typing import Any

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.cache import LRUCache
from textual.strip import Strip

#: built Strips kept (a tall terminal's worth of lines, twice: scrolling back is free)
CACHED = 256
_ATTRIBUTES = ("bold", "dim", "italic", "underline", "blink", "blink2", "reverse", "conceal",
               "strike", "underline2", "frame", "encircle", "overline")


def _by_value(style: Style | None) -> tuple[Any, ...] | None:
    if style is None:
        return None
    return (style.color, style.bgcolor, tuple(getattr(style, a) for a in _ATTRIBUTES),
            style.link, style.meta or None)


def _from_value(value: tuple[Any, ...] | None) -> Style | None:
    if value is None:
        return None
    color, bgcolor, attributes, link, meta = value
    return Style(color=color, bgcolor=bgcolor, link=link, meta=meta,
                 **dict(zip(_ATTRIBUTES, attributes, strict=True)))


class DisplayLines:
    """An immutable sequence of display lines; ``lines[i]`` is a Strip, built on demand."""

    __slots__ = ("_built", "_cells", "_palette", "_runs", "_texts", "width")

    def __init__(self, lines: Iterable[Iterable[Segment]] = ()) -> None:
        self._texts: list[str] = []
        self._runs: list[bytes] = []
        self._cells = array("I")
        self._palette: list[Style | None] = []
        index: dict[Style | None, int] = {}
        for segments in lines:
            text: list[str] = []
            runs = array("I")
            last = -1
            for segment in segments:
                if segment.control or not segment.text:
                    continue  # zero width: nothing a pane shows
                style_id = index.get(segment.style)
                if style_id is None:
                    style_id = index[segment.style] = len(self._palette)
                    self._palette.append(segment.style)
                if style_id == last:  # the same style as the run before: one run
                    runs[-2] += len(segment.text)
                else:
                    runs.extend((len(segment.text), style_id))
                    last = style_id
                text.append(segment.text)
            joined = "".join(text)
            self._texts.append(joined)
            self._runs.append(runs.tobytes())
            self._cells.append(cell_len(joined))
        self.width = max(self._cells, default=0)
        self._built: LRUCache[int, Strip] = LRUCache(CACHED)

    def __getstate__(self) -> tuple[Any, ...]:
        # what crosses a process boundary (tui/offload.py): the lines, not the built Strips,
        # and the styles by value (a pickled Style keeps the hash it had in the process that
        # made it, and string hashes differ between processes)
        return self._texts, self._runs, self._cells, [_by_value(s) for s in self._palette], \
            self.width

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self._texts, self._runs, self._cells, palette, self.width = state
        self._palette = [_from_value(value) for value in palette]
        self._built = LRUCache(CACHED)

    @classmethod
    def of(cls, strips: Iterable[Strip]) -> DisplayLines:
        """The lines of ``strips`` (small texts rendered elsewhere)."""
        return cls(list(strip) for strip in strips)

    def __len__(self) -> int:
        return len(self._texts)

    def __bool__(self) -> bool:
        return bool(self._texts)

    def __getitem__(self, index: int) -> Strip:
        if index < 0:
            index += len(self._texts)
        strip = self._built.get(index)
        if strip is None:
            strip = self._build(index)
            self._built.set(index, strip)
        return strip

    def __iter__(self) -> Iterator[Strip]:
        # not through the cache: a whole pass (a test, a copy) would only evict what is shown
        return (self._build(index) for index in range(len(self._texts)))

    def text(self, index: int) -> str:
        """Line ``index`` as plain text."""
        return self._texts[index]

    @property
    def plain(self) -> str:
        """Every line, as plain text."""
        return "\n".join(self._texts)

    def _build(self, index: int) -> Strip:
        text = self._texts[index]
        runs = array("I")
        runs.frombytes(self._runs[index])
        segments = []
        start = 0
        for position in range(0, len(runs), 2):
            end = start + runs[position]
            segments.append(Segment(text[start:end], self._palette[runs[position + 1]]))
            start = end
        return Strip(segments, self._cells[index])
