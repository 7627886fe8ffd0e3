"""The shape of a project's .env: groups, required and optional keys, secrets, value checks.

Pure data and pure functions over strings (standard library only): the core applies a schema
(``rfsetup.core.envfile.validate``) and adds the checks that need the core itself (a
DATABASE_URL is parsed by ``rfsetup.core.settings``) for whichever schema names that key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Literal
from urllib.parse import urlsplit

Level = Literal["error", "warn"]


@dataclass(frozen=True)
class Problem:
    """One finding about a value: an ``error`` refuses the write, a ``warn`` is shown only."""

    level: Level
    message: str

    def to_json(self) -> dict[str, str]:
        return asdict(self)


#: a value's check: (value, the file's other values) -> what is wrong with it
Checker = Callable[[str, Mapping[str, str | None]], list[Problem]]

#: the placeholders of the guides people copy from (your_password, xxxxxx, …, changeme)
COMMON_PLACEHOLDER = re.compile(r"your[_-]|xxxxxx|\.\.\.$|changeme|example\.com", re.IGNORECASE)


@dataclass(frozen=True)
class EnvSchema:
    """What a project's .env holds.

    ``groups`` order the keys for display (every required and optional key in exactly one
    group); ``secrets`` are hidden whole, ``not_secret`` never (whatever their names say; other
    keys are judged by ``rfsetup.core.redact.looks_secret``); ``checkers`` check one key's
    value; a value matching ``placeholder`` is warned about.
    """

    name: str
    groups: tuple[tuple[str, tuple[str, ...]], ...]
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    secrets: frozenset[str] = frozenset()
    not_secret: frozenset[str] = frozenset()
    checkers: Mapping[str, Checker] = field(default_factory=dict)
    placeholder: re.Pattern[str] | None = COMMON_PLACEHOLDER

    def __post_init__(self) -> None:
        grouped = [key for _, keys in self.groups for key in keys]
        if sorted(grouped) != sorted(set(self.required) | set(self.optional)) or \
                len(grouped) != len(set(grouped)):
            raise ValueError(f"{self.name}: every required and optional key must be in exactly "
                             "one group")

    @property
    def known_keys(self) -> tuple[str, ...]:
        """Every key the schema knows, in group order."""
        return tuple(key for _, keys in self.groups for key in keys)

    @property
    def required_keys(self) -> tuple[str, ...]:
        """The required keys, in group order."""
        return tuple(key for key in self.known_keys if key in self.required)

    def group_map(self) -> dict[str, list[str]]:
        """Group name -> its keys, in order (a fresh dict each call)."""
        return {name: list(keys) for name, keys in self.groups}


# -- checks every schema may use ------------------------------------------------------------------


def check_redis_url(value: str, _ctx: Mapping[str, str | None]) -> list[Problem]:
    """A ``redis://`` or ``rediss://`` URL with a host (and, when given, a numeric port)."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return [Problem("error", "not a valid URL; expected redis://HOST:6379/0")]
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        return [Problem("error", "must be redis://HOST:PORT/DB or rediss://… (TLS)")]
    return []


#: any other Alembic project: a database (checked by the core), Redis optional, nothing else
GENERIC_ENV = EnvSchema(
    name="generic",
    groups=(("Database", ("DATABASE_URL", "REDIS_URL")),),
    required=("DATABASE_URL",),
    optional=("REDIS_URL",),
    not_secret=frozenset({"DATABASE_URL", "REDIS_URL"}),
    checkers={"REDIS_URL": check_redis_url},
)
