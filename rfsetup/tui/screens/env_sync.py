"""The Environment step's file side: load, watch, merge, save — and never drop an edit unasked.

The form remembers the file as it loaded it (``core.envmerge.DiskState``). The file is checked
again on every live-panel poll, whenever the step is shown, and before the list of changes is
shown on save; a change on disk is reloaded when the form has no edits, and merged per key
when it has (``envmerge.merge``): the file's changes taken, the form's edits kept, a key
changed on both sides decided by the user (MergeModal). The write itself (envfile.update,
under the writer lock) refuses when the file moved after the list of changes was shown, and
the merge starts again. Leaving the step, quitting and Ctrl+L ask first when there are edits.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work

from rfsetup.tui.messages import (
    EnvChangedOnDisk,
    EnvLoaded,
    EnvSaveChecked,
    EnvSaved,
    OperationFailed,
)
from rfsetup.tui.modals.ask import Answer, AskModal
from rfsetup.tui.modals.changes import ChangesModal
from rfsetup.tui.modals.merge import MergeDecision, MergeModal
from rfsetup.tui.screens.base import display_path
from rfsetup.tui.warmup import ensure_imported

if TYPE_CHECKING:
    from rfsetup.core.envfile import EnvFile
    from rfsetup.core.envmerge import DiskState, Merge
    from rfsetup.core.settings import Settings


def apply_edits(document: Any, edits: dict[str, str]) -> Any:
    """``document`` with each edited key set (envfile keeps every other byte; a key only on a
    line dotenv cannot parse gets that line replaced, never a duplicate)."""
    from rfsetup.core.envmerge import set_value

    for key, value in edits.items():
        document = set_value(document, key, value)
    return document


class _Moved(Exception):
    """The file changed between the list of changes and the write: nothing was written."""


class EnvSync:
    """Mixed into EnvironmentScreen, which supplies the form (``form_values``, ``edits``,
    ``show_document``, ``form_keys``) and the StepScreen plumbing."""

    path: Path | None
    document: Any | None
    exists: bool | None
    state: DiskState | None
    #: a modal of this step is open (no second one, and no poll prompts meanwhile)
    asking: bool
    #: the file changed on disk and the user chose to decide later (saving merges first)
    pending_disk: bool
    #: run once the save that was asked for (leaving the step, quitting) is written
    after_save: Callable[[], object] | None

    if TYPE_CHECKING:  # what the screen provides
        settings: Settings
        live: bool

        def attempt(self, operation: str, call: Callable[[], Any], *, silent: bool = False
                    ) -> Any: ...
        def post_message(self, message: Any) -> bool: ...
        def notify(self, message: str, **kwargs: Any) -> None: ...
        def form_values(self) -> dict[str, str]: ...
        def form_keys(self) -> list[str]: ...
        def edits(self) -> dict[str, str]: ...
        def key(self, binding_id: str) -> str: ...
        def show_document(self, path: Path, document: Any, exists: bool, *,
                          state: DiskState | None = None,
                          values: dict[str, str] | None = None) -> None: ...
        def show_intro(self, note: Any = None) -> None: ...
        def form_errors(self) -> list[str]: ...
        def env_saved(self, message: EnvSaved) -> None: ...
        @property
        def app(self) -> Any: ...

    # -- loading ----------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="env-load")
    def load(self) -> None:
        ensure_imported()
        from rfsetup.core import envmerge

        path = self.settings.env_file
        loaded = self.attempt("read the .env", lambda: envmerge.load(path))
        if loaded is not None:
            doc, state = loaded
            self.post_message(EnvLoaded(path, doc, state.exists, state=state))

    def on_env_loaded(self, message: EnvLoaded) -> None:
        if self.document is None or message.path != self.path or not self.edits():
            self.show_document(message.path, message.document, message.exists,
                               state=message.state)
        elif message.state is not None:
            # edits in the form (e.g. step 3 just wrote DATABASE_URL): merged, never dropped
            self.disk_changed(message.document, message.state, saving=False)

    # -- watching the file ------------------------------------------------------------------
    def check_disk(self) -> None:
        """Compare the file with what the form loaded (in a worker; posts only on change)."""
        if self.path is None or self.state is None or self.asking or not self.live:
            return
        self._check_disk(self.path, self.state)

    @work(thread=True, exclusive=True, exit_on_error=False, group="env-check")
    def _check_disk(self, path: Path, state: DiskState) -> None:
        from rfsetup.core import envmerge

        checked = self.attempt("read the .env", lambda: envmerge.check(path, state),
                               silent=True)
        if checked is None:
            return
        now, doc = checked
        if doc is not None:
            self.post_message(EnvChangedOnDisk(path, doc, now))
        elif now is not state and self.state is state:
            self.state = now  # touched, not changed: the next check starts from the new stat

    def on_env_changed_on_disk(self, message: EnvChangedOnDisk) -> None:
        if message.path == self.path:
            self.disk_changed(message.document, message.state, saving=message.saving)

    def disk_changed(self, doc: EnvFile, state: DiskState, *, saving: bool) -> None:
        """The file on disk is ``doc``: reload (no edits), merge, or ask about conflicts."""
        from rfsetup.core import envmerge

        assert self.path is not None
        if self.document is not None and doc.text == self.document.text:
            self.state, self.pending_disk = state, False
            if saving:
                self.confirm_save()
            return
        shown = display_path(self.path)
        if not self.edits():
            self.show_document(self.path, doc, state.exists, state=state)
            self.notify(f"{shown} changed on disk: the form shows it as it is now")
            if saving:
                self.after_save = None
            return
        base = self.document.values() if self.document is not None else {}
        merged = envmerge.merge(base, self.form_values(), doc.values(), keys=self.form_keys())
        if not merged.conflicts:
            self._apply_merge(doc, state, merged, MergeDecision())
            self.notify(f"{shown} changed on disk: {_list(merged.theirs + merged.same)} taken "
                        f"from it, your edits to {_list(merged.mine)} kept", timeout=8)
            if saving:
                self.confirm_save()
            return
        self.asking = True

        def decided(decision: MergeDecision | None) -> None:
            self.asking = False
            if decision is None:  # later: the form stays as it is; saving merges first
                self.state, self.pending_disk = state, True
                self.after_save = None
                self.show_intro()
            elif decision.reload:
                self.after_save = None
                self.show_document(self.path, doc, state.exists, state=state)  # type: ignore
            else:
                self._apply_merge(doc, state, merged, decision)
                if saving:
                    self.confirm_save()

        self.app.push_screen(MergeModal(shown, merged, self._mask, saving=saving), decided)

    def _apply_merge(self, doc: EnvFile, state: DiskState, merged: Merge,
                     decision: MergeDecision) -> None:
        """The file's document becomes the form's base; the form shows the merged values."""
        assert self.path is not None
        values = merged.values(self.form_values(), doc.values(), keep_mine=decision.keep_mine)
        self.pending_disk = False
        self.show_document(self.path, doc, state.exists, state=state, values=values)

    @staticmethod
    def _mask(key: str, value: str) -> str:
        from rfsetup.core.envfile import mask

        return mask(key, value)

    # -- saving -----------------------------------------------------------------------------
    def action_save(self) -> None:
        from rfsetup.core.errors import bad_input

        if self.path is None or self.asking:
            return
        errors = self.form_errors()
        if errors:
            self.after_save = None
            self.post_message(OperationFailed("save the .env", bad_input(
                "the form has invalid values; nothing was saved", cause="; ".join(errors),
                hint="fix the fields marked ✗")))
            return
        if not self.edits() and not self.pending_disk:
            self.notify("nothing to save: the form matches the file")
            self._saved_nothing()
            return
        self._prepare_save(self.path)

    def _saved_nothing(self) -> None:
        proceed, self.after_save = self.after_save, None
        if proceed is not None:
            proceed()

    @work(thread=True, exclusive=True, exit_on_error=False, group="env-save")
    def _prepare_save(self, path: Path) -> None:
        from rfsetup.core import envmerge

        loaded = self.attempt("save the .env", lambda: envmerge.load(path))
        if loaded is not None:
            self.post_message(EnvSaveChecked(path, *loaded))

    def on_env_save_checked(self, message: EnvSaveChecked) -> None:
        if message.path != self.path:
            return
        base = self.document.text if self.document is not None else ""
        if message.document.text != base:
            # the list of changes must show the file as it is now, not as it was loaded
            self.disk_changed(message.document, message.state, saving=True)
        else:
            self.pending_disk = False
            self.confirm_save()

    def confirm_save(self) -> None:
        """The list of changes against the file as it is now; Save writes exactly that."""
        from rfsetup.core.envfile import EnvFile, changes
        from rfsetup.core.errors import RfsetupError

        assert self.path is not None
        base = self.document if self.document is not None else EnvFile(())
        edits = self.edits()
        try:
            changed = changes(base, apply_edits(base, edits))
        except RfsetupError as exc:
            self.after_save = None
            self.post_message(OperationFailed("save the .env", exc))
            return
        if not changed:
            self.notify("nothing to save: the form matches the file")
            self._saved_nothing()
            return
        path, expected = self.path, base.text
        self.asking = True

        def confirmed(ok: bool | None) -> None:
            self.asking = False
            if ok:
                self.write(path, edits, changed, expected)
            else:
                self.after_save = None

        self.app.push_screen(ChangesModal(display_path(path), changed), confirmed)

    @work(thread=True, exclusive=True, exit_on_error=False, group="env-save")
    def write(self, path: Path, edits: dict[str, str], changed: list[tuple[str, str, str]],
              expected: str | None = None) -> None:
        """The edits onto the file under the writer lock; refused when the file is no longer
        ``expected`` (what the list of changes was computed on): the merge starts again."""
        ensure_imported()
        from rfsetup.core import envfile, envmerge

        def edit(doc: EnvFile) -> EnvFile:
            if expected is not None and doc.text != expected:
                raise _Moved
            return apply_edits(doc, edits)

        moved: list[bool] = []

        def save() -> Any:
            try:
                return envfile.update(path, edit).after
            except _Moved:
                moved.append(True)
                return None

        document = self.attempt("save the .env", save)
        if moved:
            now = self.attempt("read the .env", lambda: envmerge.load(path))
            if now is not None:
                self.post_message(EnvChangedOnDisk(path, now[0], now[1], saving=True))
            return
        if document is None:
            return
        after = self.attempt("read the .env", lambda: envmerge.load(path), silent=True)
        state = after[1] if after is not None and after[0].text == document.text else None
        self.post_message(EnvSaved(path, document, changed, state=state))

    def on_env_saved(self, message: EnvSaved) -> None:
        self.env_saved(message)
        proceed, self.after_save = self.after_save, None
        if proceed is not None:
            proceed()

    # -- never dropping edits unasked -------------------------------------------------------
    def confirm_leave(self, proceed: Callable[[], object], *, quitting: bool = False) -> bool:
        """True when nothing would be lost; else asks Save / Discard / Cancel and calls
        ``proceed`` after a save or a discard."""
        if self.asking:
            return False
        edits = self.edits()
        if not edits and not self.pending_disk:
            return True
        self.asking = True
        going = "quitting" if quitting else "leaving the step"

        def answered(answer: str | None) -> None:
            self.asking = False
            if answer == "save":
                self.after_save = proceed
                self.action_save()
            elif answer == "discard":
                self.discard_edits()
                proceed()

        self.app.push_screen(AskModal(
            "Unsaved edits in the .env form",
            f"You changed {_list(tuple(edits))} and did not save. Save before {going}?",
            [Answer("save", "Save", "Ctrl+S", primary=True),
             Answer("discard", "Discard the edits", "d")]), answered)
        return False

    def discard_edits(self) -> None:
        """The form back to the document it was loaded from (empty before any load)."""
        from rfsetup.core.envfile import EnvFile

        self.pending_disk = False
        document = self.document if self.document is not None else EnvFile(())
        self.show_document(self.path or self.settings.env_file, document, bool(self.exists),
                           state=self.state)

    def action_reload(self) -> None:
        """Ctrl+L: the file as it is on disk; unsaved edits are dropped only when confirmed."""
        if self.asking:
            return
        edits = self.edits()
        if not edits:
            self.load()
            return
        self.asking = True

        def answered(answer: str | None) -> None:
            self.asking = False
            if answer == "discard":
                self.discard_edits()
                self.load()

        self.app.push_screen(AskModal(
            "Reload the .env from disk?",
            f"Reloading drops your unsaved edits to {_list(tuple(edits))}.",
            [Answer("discard", "Discard them and reload", "d", primary=True)]), answered)


def _list(keys: tuple[str, ...]) -> str:
    return ", ".join(keys) or "nothing"
