"""Which profile a project gets: the one its alembic.ini names, else the generic one.

``rfsetup_profile = raptorflow`` in the ``[alembic]`` section of this repository's alembic.ini
is what makes it RaptorFlow's; an alembic.ini without it is another project's (generic). With
no alembic.ini at all there is no other project to speak of, and rfsetup is RaptorFlow's tool:
RaptorFlow's profile (``rfsetup env set`` before the repository is checked out follows the
guide). Read with the standard library, so choosing costs no import of Alembic.
"""

from __future__ import annotations

import configparser
from pathlib import Path

from rfsetup.profiles.base import INI_OPTION, Profile
from rfsetup.profiles.generic import GENERIC


def profile_named(name: str | None) -> Profile:
    """The profile called ``name`` (unknown or None: the generic one)."""
    if name == "raptorflow":
        from rfsetup.profiles.raptorflow import RAPTORFLOW

        return RAPTORFLOW
    return GENERIC


def profile_for(alembic_ini: Path | str) -> Profile:
    """The profile of the project configured by ``alembic_ini`` (RaptorFlow's when there is no
    such file; generic when it is unreadable or names none)."""
    if not Path(alembic_ini).exists():
        return profile_named("raptorflow")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(alembic_ini, encoding="utf-8")
        name = parser.get("alembic", INI_OPTION, fallback=None)
    except (configparser.Error, OSError, UnicodeDecodeError):
        name = None
    return profile_named(name.strip() if name else None)
