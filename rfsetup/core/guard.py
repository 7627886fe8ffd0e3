"""The production guard: which targets are production, and what is refused on them.

A target is production when any of these says so (each is a reason, shown to people):

- ``RFSETUP_ENV=production`` in the process environment;
- the env file is named ``.env.production`` or ``.env.prod``;
- the .env sets ``ENVIRONMENT`` or ``APP_ENV`` to ``production`` (or ``prod``).

Any one is enough, and none can be cancelled by another (``RFSETUP_ENV=development`` does not
make a ``.env.production`` safe): a wrong "production" costs a typed name, a wrong "not
production" can cost the data. The sandbox (``--sandbox``) is a throwaway local server and is
never production unless RFSETUP_ENV says so.

On a production target: upgrades need the database name typed (``--yes`` in the CLI), like
every downgrade; ``--no-backup`` is refused; a stamp needs ``--force``; dev fixtures are never
written; the terminal app marks its frame and panel PRODUCTION and polls every 15 s.

Standard library only, and no import of ``rfsetup.core.settings`` (which calls ``detect``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from rfsetup.core.errors import bad_input

if TYPE_CHECKING:
    from rfsetup.core.settings import Settings

#: the process environment's say: ``RFSETUP_ENV=production``
ENV_RFSETUP_ENV = "RFSETUP_ENV"
#: env file names that mean production
PRODUCTION_FILE_NAMES = (".env.production", ".env.prod")
#: .env keys naming the app's environment
ENVIRONMENT_KEYS = ("ENVIRONMENT", "APP_ENV")
_PRODUCTION_VALUES = ("production", "prod")
#: how often the terminal app's live panel polls a production server (seconds)
PRODUCTION_POLL_INTERVAL = 15.0


def _is_production_word(value: str | None) -> bool:
    return (value or "").strip().strip("'\"").lower() in _PRODUCTION_VALUES


def declared_by_environment(rfsetup_env: str | None) -> bool:
    """Whether ``RFSETUP_ENV`` itself says production (the one reason the sandbox keeps)."""
    return _is_production_word(rfsetup_env)


def detect(env_file: Path, env_values: Mapping[str, str], rfsetup_env: str | None
           ) -> str | None:
    """Why the target of ``env_file`` (with its values ``env_values``) is production, or None.

    The reasons are joined when several apply: ``"RFSETUP_ENV=production; APP_ENV=production
    in .env"``.
    """
    reasons = []
    if declared_by_environment(rfsetup_env):
        reasons.append(f"{ENV_RFSETUP_ENV}={(rfsetup_env or '').strip()}")
    if env_file.name.lower() in PRODUCTION_FILE_NAMES:
        reasons.append(f"the env file is {env_file.name}")
    for key in ENVIRONMENT_KEYS:
        value = env_values.get(key)
        if _is_production_word(value):
            reasons.append(f"{key}={(value or '').strip()} in {env_file.name}")
    return "; ".join(reasons) or None


def _database(settings: Settings) -> str:
    try:
        return str(settings.url().database)
    except Exception:  # an unusable URL fails later, with its own message
        return "?"


def _refused(settings: Settings, what: str, hint: str) -> Exception:
    return bad_input(
        f"database {_database(settings)} is a production target: {what}; nothing was changed",
        cause=f"production because {settings.production}", hint=hint, kind="production_guard")


def check_backup(settings: Settings, backup: bool) -> None:
    """``--no-backup`` on a production target: refused (bad input, nothing changed)."""
    if settings.production and not backup:
        raise _refused(settings, "--no-backup is refused",
                       "drop --no-backup: a pg_dump backup is taken before the first change")


def check_stamp(settings: Settings, force: bool) -> None:
    """A stamp on a production target needs ``force`` (``--force``)."""
    if settings.production and not force:
        raise _refused(settings, "a stamp needs --force",
                       "a stamp rewrites the revision without running any SQL: add --force "
                       "(and --yes or the typed name) when that is what production needs")


def check_dev_seed(settings: Settings) -> None:
    """Dev fixtures are never written to (or removed from) a production target."""
    if settings.production:
        raise _refused(settings, "dev fixtures are never written there",
                       "seed --dev is for a local or sandbox database (rfsetup --sandbox "
                       "seed --dev)")


def upgrade_needs_confirmation(settings: Settings) -> bool:
    """Whether an upgrade needs the typed database name (or ``--yes``): on production."""
    return bool(settings.production)
