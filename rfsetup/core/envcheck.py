"""What a .env's values mean: validation and masking against a schema (``rfsetup.profiles``).

The schema says which keys exist, which are required and secret, and how each value is
checked; this module adds the checks that need the core (a DATABASE_URL is parsed as
``rfsetup.core.settings`` parses it, for whichever schema names that key) and masks through the
one masker, ``rfsetup.core.redact``. Every function takes ``schema=``; the default is
RaptorFlow's, which the module-level ``GROUPS``/``KNOWN_KEYS``/``REQUIRED_KEYS`` describe.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rfsetup.core import redact
from rfsetup.core.errors import RfsetupError
from rfsetup.profiles.envschema import EnvSchema, Problem
from rfsetup.profiles.raptorflow_env import RAPTORFLOW_ENV

#: RaptorFlow's keys, grouped as the guide's .env example groups them
GROUPS: dict[str, list[str]] = RAPTORFLOW_ENV.group_map()
KNOWN_KEYS: tuple[str, ...] = RAPTORFLOW_ENV.known_keys
#: the keys the guide's .env sets; REDIS_URL is optional (it defaults to a local Redis)
REQUIRED_KEYS: tuple[str, ...] = RAPTORFLOW_ENV.required_keys

_KEY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

Values = Mapping[str, "str | None"]


def schema_named(name: str | None) -> EnvSchema:
    """The env schema called ``name`` (a ``Profile.env_schema``); unknown or None: generic."""
    from rfsetup.profiles.base import env_schema_named

    return env_schema_named(name)


def validate(key: str, value: str, context: Values | None = None, *,
             schema: EnvSchema = RAPTORFLOW_ENV) -> list[Problem]:
    """What is wrong with ``value`` for ``key`` (empty when nothing).

    Keys the schema knows are checked against what the project expects; other keys accept
    anything a .env can hold. ``context`` (the file's other values) enables cross-checks such
    as a Razorpay test key id paired with a live secret.
    """
    if not _KEY_NAME.match(key):
        return [Problem("error", f"{key!r} is not a valid variable name")]
    if "\x00" in value:
        return [Problem("error", "the value contains a NUL character")]
    if key not in schema.known_keys:
        return []
    if not value.strip():
        return [Problem("error", f"{key} is empty")]
    problems: list[Problem] = []
    if value != value.strip():
        problems.append(Problem("warn", "the value has leading or trailing whitespace"))
    checker = schema.checkers.get(key) or _CORE_CHECKERS.get(key)
    if checker is not None:
        problems.extend(checker(value, context or {}))
    if schema.placeholder is not None and schema.placeholder.search(value) and \
            not any(p.level == "error" for p in problems):
        problems.append(Problem("warn", "looks like the guide's placeholder, not a real value"))
    return problems


def validate_all(values: Values, *, schema: EnvSchema = RAPTORFLOW_ENV
                 ) -> dict[str, list[Problem]]:
    """``validate`` for every key that has a value, with the file as context."""
    return {key: found for key, value in values.items() if value is not None
            if (found := validate(key, value, values, schema=schema))}


def _check_database_url(value: str, _ctx: Values) -> list[Problem]:
    from rfsetup.core.settings import normalize_database_url, url_password

    try:
        url = normalize_database_url(value)
    except RfsetupError as exc:
        return [Problem("error", exc.message + (f" ({exc.hint})" if exc.hint else ""))]
    if url_password(url) is None:
        return [Problem("warn", "the URL has no password (fine only for trust/peer auth)")]
    return []


#: checks the core applies for any schema that names the key and has no check of its own
_CORE_CHECKERS = {"DATABASE_URL": _check_database_url}


# -- secrets ----------------------------------------------------------------------------------


def new_secret() -> str:
    """A fresh SECRET_KEY: 32 random bytes as hex (the guide's ``openssl rand -hex 32``)."""
    import secrets

    return secrets.token_hex(32)


def is_secret(key: str, *, schema: EnvSchema = RAPTORFLOW_ENV) -> bool:
    """Whether the whole value of ``key`` is a secret (URLs only hide their secrets): the
    schema's word first, else what the name says (``redact.looks_secret``)."""
    if key in schema.secrets:
        return True
    if key in schema.not_secret:
        return False
    return redact.looks_secret(key)


def mask(key: str, value: str | None, *, schema: EnvSchema = RAPTORFLOW_ENV) -> str:
    """The value as shown to people: secrets hidden, a URL's secrets replaced by ``***``."""
    return redact.mask_value(value, secret=is_secret(key, schema=schema))


def has_url_password(value: str) -> bool:
    """Whether ``value`` is a URL with a secret in it (a password in its userinfo or query)."""
    return "://" in value and redact.has_secret(value)


def mask_url_password(url: str) -> str:
    """The URL with its secrets replaced by ``***`` (``redact.mask_url``); never raises."""
    return redact.mask_url(url)


def changes(old: Any, new: Any, *, schema: EnvSchema = RAPTORFLOW_ENV
            ) -> list[tuple[str, str | None, str | None]]:
    """What differs between two documents (EnvFiles or mappings): (key, old masked, new
    masked), None when absent."""
    before = dict(old) if isinstance(old, Mapping) else old.values()
    after = dict(new) if isinstance(new, Mapping) else new.values()
    result: list[tuple[str, str | None, str | None]] = []
    for key in list(before) + [k for k in after if k not in before]:
        if key in before and key in after and before[key] == after[key]:
            continue
        result.append((key, mask(key, before[key], schema=schema) if key in before else None,
                       mask(key, after[key], schema=schema) if key in after else None))
    return result
