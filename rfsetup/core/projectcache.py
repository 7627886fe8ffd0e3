"""What a project's files imply, cached on disk: the revision graph and env.py's observed setup.

Loading a ScriptDirectory executes every revision file, and observing env.py runs it: most of
the cost of `rfsetup status`. Both results are kept in ``.rfsetup/cache/project-<key>.json``:

* the graph, valid while the config files (alembic.ini, pyproject.toml, env.py) and every file
  in the version locations keep their name, size and mtime;
* one observation of env.py per target database, valid while the config files are unchanged.

This module is stdlib only, so that a warm cache can be checked without importing Alembic or
SQLAlchemy (``warm``): the document lists the config files and version locations it was built
from, and re-reading their names, sizes and mtimes is all a check costs. Reads are forgiving (a
damaged cache is a miss) and writes atomic and best effort (a cache that cannot be written only
costs speed).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from rfsetup import __version__

FORMAT = 2
#: the observations kept (the targets used most recently)
KEEP_OBSERVATIONS = 16


def cache_file(cache_dir: Path, ini_path: Path) -> Path:
    """The cache document of the project configured by ``ini_path``."""
    key = hashlib.sha256(json.dumps([__version__, str(ini_path)]).encode()).hexdigest()
    return cache_dir / f"project-{key[:16]}.json"


Fingerprint = list[list[Any]]


def target_key(params: Mapping[str, Any]) -> str:
    """A key for one target database (its libpq parameters, password included) that does not
    reveal the password; the same for a SQLAlchemy URL and a ``pgurl.PgURL``."""
    text = json.dumps(sorted((str(k), str(v)) for k, v in params.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def file_fingerprint(paths: Sequence[Path | str]) -> Fingerprint:
    """(path, mtime_ns, size) of each existing file: a change to any of them shows."""
    out: Fingerprint = []
    for path in paths:
        with contextlib.suppress(OSError):
            st = os.stat(path)
            out.append([str(path), st.st_mtime_ns, st.st_size])
    return out


def folder_fingerprint(locations: Sequence[Path | str], recursive: bool) -> Fingerprint:
    """Every ``.py``/``.pyc`` file in the version locations, without importing any."""
    entries: list[tuple[str, int, int]] = []
    for loc in locations:
        walker = os.walk(loc) if recursive else [(str(loc), [], None)]
        for folder, _dirs, _files in walker:
            with contextlib.suppress(OSError), os.scandir(folder) as it:
                for entry in it:
                    if entry.name.endswith((".py", ".pyc")) and entry.is_file():
                        st = entry.stat()
                        entries.append((entry.path, st.st_mtime_ns, st.st_size))
    return [list(e) for e in sorted(entries)]


class Warm(msgspec.Struct, frozen=True):
    """What a valid cache document says, checked without Alembic."""

    graph: dict[str, Any]
    observation: dict[str, Any] | None


def warm(cache_dir: Path, ini_path: Path, params: Mapping[str, Any]) -> Warm | None:
    """The cached graph (and this target's observation of env.py, when there is one), if no
    config file and no version file changed since they were cached; None otherwise."""
    doc = read(cache_file(cache_dir, ini_path))
    fp = doc.get("fingerprint")
    graph = doc.get("graph")
    if not isinstance(fp, dict) or not isinstance(graph, dict):
        return None
    config = fp.get("config") or []
    if file_fingerprint([entry[0] for entry in config]) != config or not config:
        return None
    if folder_fingerprint(fp.get("locations") or [], bool(fp.get("recursive"))) != \
            fp.get("versions"):
        return None
    entry = (doc.get("observations") or {}).get(target_key(params))
    seen = entry.get("observation") if entry and entry.get("config") == config else None
    return Warm(graph, seen)


def read(path: Path) -> dict[str, Any]:
    """The cache document, or an empty one."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return {}
    return doc


def write(path: Path, doc: dict[str, Any]) -> None:
    """Replace the document atomically; failures are ignored."""
    doc = {**doc, "format": FORMAT}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".project-")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps(doc))  # json.dump encodes in pure Python, chunk by chunk
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError:
        return


def update(path: Path, **parts: Any) -> None:
    """Merge ``parts`` into the document (read, change, write)."""
    doc = read(path)
    for key, value in parts.items():
        if key == "observations":
            merged = dict(doc.get("observations") or {})
            for target in value:  # re-inserted: the newest last
                merged.pop(target, None)
            merged.update(value)
            # one per target database ever used: a CI that makes a fresh database per run
            # would grow the document (read on every run) without end
            doc[key] = dict(list(merged.items())[-KEEP_OBSERVATIONS:])
        else:
            doc[key] = value
    write(path, doc)
