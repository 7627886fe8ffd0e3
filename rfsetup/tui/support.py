"""The app's support actions: every environment beside the .env (F8) and the support bundle
(F9), a mixin of RfsetupApp so the app module stays about its layout and live status."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.app import App

from rfsetup.core.errors import RfsetupError
from rfsetup.tui.messages import OperationFailed, SupportBundleWritten
from rfsetup.tui.screens.base import unexpected_error
from rfsetup.tui.warmup import ensure_imported

if TYPE_CHECKING:
    from rfsetup.core.settings import Settings


class SupportActions(App[int]):
    """``action_status_all`` and ``action_support_bundle`` for the app (its bindings name
    them); the bundle is written in a thread worker that posts ``SupportBundleWritten``."""

    settings: Settings

    def known_secrets(self) -> list[str]:
        """Secrets to scrub from an unexpected error (the app knows them)."""
        return []

    def action_status_all(self) -> None:
        """F8: every environment beside the .env, as `rfsetup status --all` prints it."""
        from rfsetup.tui.modals.targets import TargetsModal

        self.push_screen(TargetsModal(self.settings))

    # -- the support bundle (rfsetup support-bundle) -----------------------------------------
    def action_support_bundle(self) -> None:
        self.notify("writing a support bundle: doctor, status, versions, history, server, "
                    "run logs…", title="Support bundle")
        self._write_bundle()

    @work(thread=True, exclusive=True, exit_on_error=False, group="bundle")
    def _write_bundle(self) -> None:
        ensure_imported()
        from rfsetup.commands.bundle import bundle_documents
        from rfsetup.core.bundle import write_bundle

        try:
            path = write_bundle(self.settings, bundle_documents(self.settings))
        except RfsetupError as exc:
            self.post_message(OperationFailed("write the support bundle", exc))
            return
        except Exception as exc:  # a bug guard: shown, never a traceback
            self.post_message(OperationFailed("write the support bundle", unexpected_error(
                "write the support bundle", exc, self.known_secrets())))
            return
        self.post_message(SupportBundleWritten(path))

    def on_support_bundle_written(self, message: SupportBundleWritten) -> None:
        self.notify(f"written to {message.path}\nno .env value or URL password is in it",
                    title="Support bundle", timeout=15)
