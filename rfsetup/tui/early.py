"""The terminal app's first status, read while its own modules are still loading.

Importing Textual and the app's screens takes ~200 ms before the first frame; the warm status
path (psycopg2, the graph cache, two queries; no Redis yet) needs none of it. ``EarlyStatus``
starts that read in a thread before the app is imported, so the revision is there for the
first frames (issue 11, "the revision first"); the app takes it instead of reading again. This
module imports no Textual: it runs before any of it is loaded.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rfsetup.core.settings import Settings
    from rfsetup.core.status import StatusReport


class EarlyStatus:
    """One warm status read, started at once in a daemon thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._report: StatusReport | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._read, name="rfsetup-first-status",
                                        daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            from rfsetup.core.status import warm_status
            from rfsetup.tui.warmup import ensure_lean_imported

            ensure_lean_imported()
            self._report = warm_status(self.settings, redis=False)
        except Exception:  # the app reads again, and says what is wrong
            self._report = None
        finally:
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def result(self, timeout: float | None = None) -> StatusReport | None:
        """The report (Redis not asked yet), or None: not finished in ``timeout`` seconds, or
        the cache could not answer, or the read failed (the app's full read says why)."""
        self._done.wait(timeout)
        return self._report if self._done.is_set() else None
