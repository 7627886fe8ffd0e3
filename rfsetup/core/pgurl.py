"""A PostgreSQL URL read with the standard library: the read path's parser.

``settings.normalize_database_url`` parses with SQLAlchemy, which costs more to import than a
warm ``rfsetup status`` needs in all. ``parse`` applies the same rules (SQLAlchemy's URL grammar,
the accepted schemes, asyncpg's query names, the psycopg2 driver) and returns a ``PgURL`` with
the attributes the connection code reads from a SQLAlchemy URL, rendered the same way. Anything
it is not sure of — an invalid URL above all — returns None, and the full parser decides and
words the error. A test holds the two parsers to the same answers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote

SCHEMES = frozenset({"postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg",
                     "postgresql+psycopg2", "postgresql+psycopg2cffi", "postgresql+pg8000"})
_ASYNCPG_QUERY_RENAMES = {"ssl": "sslmode", "prepared_statement_cache_size": None}

# SQLAlchemy 2's own URL grammar (sqlalchemy.engine.url._parse_url)
_PATTERN = re.compile(r"""
    (?P<name>[\w\+]+)://
    (?:
        (?P<username>[^:/]*)
        (?::(?P<password>[^@]*))?
    @)?
    (?:
        (?:
            \[(?P<ipv6host>[^/\?]+)\] |
            (?P<ipv4host>[^/:\?]+)
        )?
        (?::(?P<port>[^/\?]*))?
    )?
    (?:/(?P<database>[^\?]*))?
    (?:\?(?P<query>.*))?
    """, re.X)


@dataclass(frozen=True)
class PgURL:
    """The parts of a URL that ``connect`` and ``libpq_params`` read, as SQLAlchemy names them."""

    drivername: str
    username: str | None
    password: str | None
    host: str | None
    port: int | None
    database: str | None
    query: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)

    def set(self, **changes: Any) -> PgURL:
        return replace(self, **changes)

    def render_as_string(self, hide_password: bool = True) -> str:
        """As ``sqlalchemy.engine.URL.render_as_string`` renders it."""
        text = self.drivername + "://"
        if self.username is not None:
            text += quote(self.username, safe=" +")
            if self.password is not None:
                text += ":" + ("***" if hide_password else quote(self.password, safe=" +"))
            text += "@"
        if self.host is not None:
            text += f"[{self.host}]" if ":" in self.host else self.host
        if self.port is not None:
            text += f":{self.port}"
        if self.database is not None:
            text += "/" + quote(self.database, safe=" +/")
        if self.query:
            text += "?" + "&".join(
                f"{quote_plus(k)}={quote_plus(v)}" for k in sorted(self.query)
                for v in ((self.query[k],) if isinstance(self.query[k], str) else self.query[k]))
        return text

    def __str__(self) -> str:
        return self.render_as_string()


def parse(raw: str | None) -> PgURL | None:
    """``raw`` normalised as ``normalize_database_url`` does (psycopg2 driver), or None when it
    is not plainly a valid PostgreSQL URL."""
    text = (raw or "").strip()
    match = _PATTERN.match(text) if text else None
    if match is None:
        return None
    parts = match.groupdict()
    name = parts["name"]
    host = parts["ipv4host"] or parts["ipv6host"]
    if name not in SCHEMES or (host and "@" in host):
        return None
    port: int | None = None
    if parts["port"]:
        if not parts["port"].isdigit():
            return None
        port = int(parts["port"])
        if not 0 < port < 65536:
            return None
    database = unquote(parts["database"]) if parts["database"] is not None else None
    if not database:
        return None
    query: dict[str, str | tuple[str, ...]] = {}
    for key, value in parse_qsl(parts["query"] or ""):
        old = query.get(key)
        query[key] = value if old is None else (*((old,) if isinstance(old, str) else old),
                                                 value)
    if name == "postgresql+asyncpg":
        for old_key, new_key in _ASYNCPG_QUERY_RENAMES.items():
            if old_key in query:
                value = query.pop(old_key)
                if new_key and new_key not in query:
                    first = value if isinstance(value, str) else value[0]
                    query[new_key] = {"true": "require", "false": "disable"}.get(
                        first.lower(), first)
    return PgURL("postgresql+psycopg2",
                 unquote(parts["username"]) if parts["username"] is not None else None,
                 unquote(parts["password"]) if parts["password"] is not None else None,
                 host, port, database, query)
