"""Alembic's version table: which one, and what it says.

Which table holds a project's revision is decided by its env.py (``context.configure(
version_table=..., version_table_schema=...)``), not by rfsetup: the table is learned by
observing env.py (``rfsetup.core.alembic.observe``) and passed to every reader here as a
``VersionTable``. Reads go through ``psycopg2.sql`` identifiers, so any name is safe.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection

DEFAULT_VERSION_TABLE = "alembic_version"


class VersionTable(msgspec.Struct, frozen=True):
    """A version table: its name and, when env.py names one, its schema."""

    name: str = DEFAULT_VERSION_TABLE
    schema: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> VersionTable:
        """``schema.table`` or ``table`` (None or empty: Alembic's default)."""
        if not text:
            return cls()
        schema, dot, name = text.rpartition(".")
        return cls(name, schema or None) if dot else cls(text)

    @property
    def qualified(self) -> str:
        """``schema.table`` or ``table``, as people read it."""
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def __str__(self) -> str:
        return self.qualified

    def regclass_text(self) -> str:
        """The name as ``to_regclass`` parses it (quoted, so case and dots survive)."""
        quoted = '"' + self.name.replace('"', '""') + '"'
        if self.schema:
            return '"' + self.schema.replace('"', '""') + '".' + quoted
        return quoted

    def identifier(self) -> Any:  # -> psycopg2.sql.Identifier
        from psycopg2 import sql

        return sql.Identifier(self.schema, self.name) if self.schema else sql.Identifier(self.name)

    def to_json(self) -> dict[str, str | None]:
        return {"name": self.name, "schema": self.schema}


def as_version_table(value: VersionTable | str | None) -> VersionTable:
    """Accept a VersionTable or its ``[schema.]table`` text."""
    return value if isinstance(value, VersionTable) else VersionTable.parse(value)


def read_revision(conn: PgConnection, version_table: VersionTable | str | None = None
                  ) -> tuple[str, ...]:
    """The revisions recorded in the version table (empty at base or without the table)."""
    vt = as_version_table(version_table)
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (vt.regclass_text(),))
        row = cur.fetchone()
        if not (row and row[0]):
            return ()
        return select_revisions(cur, vt)


def select_revisions(cur: Any, version_table: VersionTable | str | None) -> tuple[str, ...]:
    """SELECT the revisions from a version table known to exist."""
    from psycopg2 import sql

    vt = as_version_table(version_table)
    cur.execute(sql.SQL("SELECT version_num FROM {} ORDER BY 1").format(vt.identifier()))
    return tuple(str(r[0]) for r in cur.fetchall())


def revision_label(revisions: Iterable[str] | str | None) -> str | None:
    """Current heads as one string (``a,b`` for two heads); None at base."""
    if revisions is None or isinstance(revisions, str):
        return revisions or None
    joined = ",".join(sorted(revisions))
    return joined or None


def describe_revisions(revs: Iterable[str]) -> str:
    """Revisions for people: ``a, b``, or ``base`` when there are none."""
    revs = list(revs)
    return ", ".join(revs) if revs else "base"
