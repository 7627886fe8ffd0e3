"""A half-applied database: the version table says head, the schema says otherwise.

The models of a revision exist for one revision only, the head the code is at (RaptorFlow's
``rfsetup.schema.metadata``; any project's ``target_metadata``). So when the database is at the
head and env.py gives ``target_metadata``, the database is compared with it by Alembic's own
autogenerate comparison (``alembic.autogenerate.compare_metadata``), run inside env.py's live
MigrationContext so its ``compare_type``, ``include_object`` and other options apply, on a
read-only connection (``dont_mutate``: Alembic creates nothing). Each difference is said in a
sentence naming the object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rfsetup.core.errors import RfsetupError

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection

    from rfsetup.core.alembic.project import AlembicProject


@dataclass(frozen=True)
class Difference:
    """One object where the database and the models disagree."""

    kind: str
    object: str
    text: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "object": self.object, "text": self.text}


@dataclass(frozen=True)
class Drift:
    """The comparison: ``compared`` False (and ``note`` why) when it could not be made."""

    compared: bool
    differences: tuple[Difference, ...] = ()
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"compared": self.compared, "note": self.note,
                "differences": [d.to_json() for d in self.differences]}


def compare_with_models(project: AlembicProject, conn: PgConnection) -> Drift:
    """The database on ``conn`` against env.py's ``target_metadata`` (see the module doc)."""
    from rfsetup.core.alembic.observe import (
        Watch,
        env_failure,
        handed_connection,
        identify,
        project_env_py,
        run_env,
    )

    url = project.settings.url()
    watch = Watch(project_env_py(project), expected=identify(conn), ours=conn)
    found: dict[str, Any] = {}

    def compare(_heads: Any, context: Any) -> list[Any]:
        from alembic.autogenerate import compare_metadata

        metadata = context.opts.get("target_metadata")
        found["metadata"] = metadata
        if metadata is not None:
            found["diff"] = compare_metadata(context, metadata)
        return []

    with handed_connection(project, url, conn):
        try:
            run_env(project, compare, watch)
        except RfsetupError:
            raise
        except Exception as exc:
            raise env_failure(project, exc) from None
    if found.get("metadata") is None:
        return Drift(False, note=f"{project_env_py(project)} gives no target_metadata, so "
                                 "there are no models to compare the database with")
    return Drift(True, tuple(describe(item) for item in _flatten(found.get("diff") or [])))


def _flatten(diff: list[Any]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for item in diff:
        if isinstance(item, list):  # column modifications come grouped per column
            out.extend(item)
        else:
            out.append(item)
    return out


def _table(schema: str | None, name: str) -> str:
    return f"{schema}.{name}" if schema else str(name)


def describe(item: tuple[Any, ...]) -> Difference:
    """One of compare_metadata's diff tuples in words."""
    kind = str(item[0])
    if kind in ("add_table", "remove_table"):
        table = item[1]
        name = _table(table.schema, table.name)
        where = "the models have it, the database does not" if kind == "add_table" else \
            "the database has it, the models do not"
        return Difference(kind, f"table {name}", f"table {name}: {where}")
    if kind in ("add_column", "remove_column"):
        name = f"{_table(item[1], item[2])}.{item[3].name}"
        where = "missing from the database" if kind == "add_column" else \
            "in the database, not in the models"
        return Difference(kind, f"column {name}", f"column {name}: {where}")
    if kind.startswith("modify_"):
        name = f"{_table(item[1], item[2])}.{item[3]}"
        what = kind.removeprefix("modify_").replace("_", " ")
        return Difference(kind, f"column {name}", f"column {name}: {what} is {item[5]!r} in "
                                                  f"the database, {item[6]!r} in the models")
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint", "add_fk",
                "remove_fk"):
        obj = item[1]
        noun = {"index": "index", "constraint": "constraint", "fk": "foreign key"}[
            kind.split("_", 1)[1]]
        table = getattr(obj, "table", None)
        on = f" on {_table(table.schema, table.name)}" if table is not None else ""
        name = f"{noun} {obj.name or '(unnamed)'}{on}"
        where = "missing from the database" if kind.startswith("add") else \
            "in the database, not in the models"
        return Difference(kind, name, f"{name}: {where}")
    return Difference(kind, kind, f"{kind}: {item[1:]!r}"[:300])
