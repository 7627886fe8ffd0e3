"""The profile of any Alembic project rfsetup knows nothing particular about."""

from __future__ import annotations

from rfsetup.profiles.base import Profile

GENERIC = Profile(name="generic")
