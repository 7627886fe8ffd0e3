"""Alembic projects as other people write them: made by Alembic's own ``init`` templates
(generic, async, pyproject), then given the hand edits real projects carry.

Nothing here imports rfsetup: these projects know nothing about it, which is the point. The
revisions are ordinary Alembic revisions over two tables:

* ``r1`` creates table ``a``; ``r2`` fills it with 100 rows; ``r3`` creates table ``b``;
* optional extras: a revision that asks the database before deciding (``queries``), one that
  fails (``fails``), one that builds an index in an autocommit block (``autocommit``).
"""

from __future__ import annotations

import contextlib
import io
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from alembic import command
from alembic.config import Config

from tests.helpers.db import query

TEMPLATES = ("generic", "async", "pyproject")

_REVISION = '''\
"""{message}

Revision ID: {rev}
Revises: {down}
"""
import sqlalchemy as sa
from alembic import op

revision = {rev!r}
down_revision = {down_value}
branch_labels = None
depends_on = None


def upgrade():
{upgrade}


def downgrade():
{downgrade}
'''

BODIES: dict[str, tuple[str, str, str]] = {
    "create_a": ("create table a",
                 'op.create_table("a", sa.Column("id", sa.Integer, primary_key=True),\n'
                 '                sa.Column("name", sa.Text))',
                 'op.drop_table("a")'),
    "fill_a": ("fill a with 100 rows",
               "op.execute(\"INSERT INTO a (name) SELECT 'row ' || g "
               "FROM generate_series(1, 100) g\")",
               'op.execute("DELETE FROM a")'),
    "create_b": ("create table b",
                 'op.create_table("b", sa.Column("id", sa.Integer, primary_key=True),\n'
                 '                sa.Column("a_id", sa.Integer, sa.ForeignKey("a.id")))',
                 'op.drop_table("b")'),
    "queries": ("a note on b, counted from a",
                'count = op.get_bind().execute(sa.text("SELECT count(*) FROM a")).scalar()\n'
                'op.add_column("b", sa.Column("note", sa.Text, server_default=str(count)))',
                'rows = op.get_bind().execute(sa.text("SELECT count(*) FROM b")).scalar()\n'
                'op.drop_column("b", "note")'),
    "fails": ("a revision that fails",
              'op.create_table("c", sa.Column("id", sa.Integer, primary_key=True))\n'
              'op.execute("SELECT no_such_function()")',
              'op.drop_table("c")'),
    "autocommit": ("an index built concurrently",
                   "with op.get_context().autocommit_block():\n"
                   '    op.create_index("ix_a_name", "a", ["name"], '
                   "postgresql_concurrently=True)",
                   "with op.get_context().autocommit_block():\n"
                   '    op.drop_index("ix_a_name", table_name="a", '
                   "postgresql_concurrently=True)"),
    "alter_a": ("a column on a",
                'op.add_column("a", sa.Column("extra", sa.Integer))',
                'op.drop_column("a", "extra")'),
}


@dataclass
class ForeignProject:
    """A project made by ``alembic init -t TEMPLATE`` in ``root``."""

    root: Path
    template: str
    revisions: list[str] = field(default_factory=list)

    @property
    def ini(self) -> Path:
        return self.root / "alembic.ini"

    @property
    def env_py(self) -> Path:
        return self.root / "migrations" / "env.py"

    @property
    def versions(self) -> Path:
        return self.root / "migrations" / "versions"

    @property
    def head(self) -> str:
        return self.revisions[-1]

    def set_ini_url(self, url: str) -> None:
        """Write ``sqlalchemy.url`` into alembic.ini, as its author would (``%`` escaped)."""
        text = self.ini.read_text()
        old = "sqlalchemy.url = driver://user:pass@localhost/dbname"
        assert old in text
        self.ini.write_text(text.replace(old, f"sqlalchemy.url = {url.replace('%', '%%')}"))

    def edit_env(self, old: str, new: str) -> None:
        """A hand edit of env.py (``old`` must be there)."""
        text = self.env_py.read_text()
        assert old in text, old
        self.env_py.write_text(text.replace(old, new))

    def configure_with(self, extra: str) -> None:
        """Add keyword arguments to the online ``context.configure`` call."""
        self.edit_env("connection=connection, target_metadata=target_metadata",
                      f"connection=connection, target_metadata=target_metadata, {extra}")

    def add(self, body: str, rev: str | None = None) -> str:
        """Append a revision (one of ``BODIES``) on top of the last one; returns its id."""
        message, up, down = BODIES[body]
        rev = rev or f"r{len(self.revisions) + 1}_{body}"
        parent = self.revisions[-1] if self.revisions else None
        indent = lambda code: textwrap.indent(code, "    ")  # noqa: E731
        (self.versions / f"{rev}.py").write_text(_REVISION.format(
            message=message, rev=rev, down=parent or "", down_value=repr(parent),
            upgrade=indent(up), downgrade=indent(down)))
        self.revisions.append(rev)
        return rev


def init_project(root: Path, template: str = "generic",
                 bodies: tuple[str, ...] = ("create_a", "fill_a", "create_b")) -> ForeignProject:
    """``alembic init -t template`` (through Alembic's own command) plus ``bodies``."""
    root.mkdir(parents=True)
    toml = root / "pyproject.toml" if template.startswith("pyproject") else None
    cfg = Config(str(root / "alembic.ini"), toml_file=str(toml) if toml else None)
    with contextlib.redirect_stdout(io.StringIO()):  # "Creating directory …"
        command.init(cfg, str(root / "migrations"), template=template)
    project = ForeignProject(root, template)
    for body in bodies:
        project.add(body)
    return project


def alembic_current(project: ForeignProject, url: str) -> set[str]:
    """What ``alembic current`` says for ``url`` (Alembic's own command, the ini's URL set)."""
    toml = project.root / "pyproject.toml"
    buf = io.StringIO()
    cfg = Config(str(project.ini), stdout=buf,
                 toml_file=str(toml) if toml.is_file() else None)
    if project.template == "async":
        url = url.replace("postgresql+psycopg2://", "postgresql+asyncpg://", 1)
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["rfsetup"] = True
    # the stock env.py configures logging for the whole process (fileConfig): undo it, as
    # rfsetup itself does, or its handlers outlive this test's captured stderr
    from rfsetup.core.alembic.observe import logging_restored

    with logging_restored():
        command.current(cfg)
    return {line.split(" ")[0] for line in buf.getvalue().splitlines() if line.strip()}


def relations(url: str) -> set[str]:
    """The tables in ``public``."""
    return {str(r[0]) for r in query(url, "SELECT relname FROM pg_class c JOIN pg_namespace n "
                                          "ON n.oid = c.relnamespace WHERE nspname = 'public' "
                                          "AND relkind = 'r'")}


def version_in(url: str, table: str = "alembic_version") -> tuple[str, ...]:
    """The rows of a version table (() when it does not exist)."""
    if not query(url, "SELECT to_regclass(%s)", (table,))[0][0]:
        return ()
    return tuple(sorted(str(r[0]) for r in query(url, f"SELECT version_num FROM {table}")))


def make_foreign(tmp_path: Path, template: str, b_url: str, **kw: object) -> ForeignProject:
    """``init_project`` whose alembic.ini names database ``b_url`` (the async template's with
    the asyncpg driver), as its author would have left it."""
    project = init_project(tmp_path / f"proj-{template}", template, **kw)  # type: ignore[arg-type]
    driver = "postgresql+asyncpg" if template == "async" else "postgresql+psycopg2"
    project.set_ini_url(b_url.replace("postgresql+psycopg2", driver, 1))
    return project
