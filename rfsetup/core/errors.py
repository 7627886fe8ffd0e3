"""One error family for everything a user can act on.

Every failure the CLI or the TUI shows is an ``RfsetupError``: a one-line ``message`` naming
what went wrong, the underlying ``cause`` (already scrubbed of secrets) and a ``hint`` saying
what to do. The CLI turns ``exit_code`` into the process status; the TUI shows a modal.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The CLI contract's exit codes."""

    OK = 0
    FAILED = 1
    USAGE = 2
    CONNECT = 3
    #: stopped by Ctrl-C (or its cancel event) before it changed anything, or between steps
    INTERRUPTED = 130


class RfsetupError(Exception):
    """A failure the user can act on: message, cause, hint and the exit code it maps to."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        cause: str | None = None,
        exit_code: ExitCode = ExitCode.FAILED,
        kind: str = "failed",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.cause = cause
        self.exit_code = exit_code
        #: a stable machine-readable name, e.g. ``password_rejected`` or ``database_missing``
        self.kind = kind

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, str | int | None]:
        return {
            "error": self.kind,
            "message": self.message,
            "cause": self.cause,
            "hint": self.hint,
            "exit_code": int(self.exit_code),
        }


def bad_input(message: str, *, hint: str | None = None, cause: str | None = None,
              kind: str = "bad_input") -> RfsetupError:
    """A usage or input error: nothing was changed (exit 2)."""
    return RfsetupError(message, hint=hint, cause=cause, exit_code=ExitCode.USAGE, kind=kind)


def unexpected(operation: str, exc: BaseException, secrets: list[str]) -> RfsetupError:
    """An exception no core function classified (a bug, or a failure nobody foresaw), as one
    error value scrubbed of every secret the caller knows: what the CLI prints and the TUI shows
    instead of a traceback."""
    if isinstance(exc, ImportError):
        return RfsetupError(f"{operation}: a module it needs is missing ({exc.name})",
                            hint="reinstall rfsetup: pip install -e '.[sandbox]'",
                            kind="missing_module")
    cause = f"{type(exc).__name__}: {exc}"
    for secret in secrets:
        if secret:
            cause = cause.replace(secret, "***")
    return RfsetupError(f"{operation} failed unexpectedly", cause=cause[:500],
                        hint="this is a bug in rfsetup; please report it with the cause above "
                             "(RFSETUP_DEBUG=1 shows the traceback)",
                        kind="unexpected")
