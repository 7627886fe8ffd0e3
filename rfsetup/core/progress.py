"""Progress lines the core reports while it works, and the one kind a UI may draw in place.

Long work (pg_dump, psql, waiting for the migration lock) reports its elapsed time about once a
second as a ``ProgressTick``: a line that replaces the previous tick instead of adding to a log.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str], None]


class ProgressTick(str):
    """A progress line that updates the previous one (elapsed time): a UI may overwrite it."""

    __slots__ = ()
