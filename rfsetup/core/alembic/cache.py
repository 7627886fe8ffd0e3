"""What a project's files imply, cached on disk: the revision graph and env.py's observed setup.

Loading a ScriptDirectory executes every revision file, and observing env.py runs it: most of
the cost of `rfsetup status`. Both results are kept in ``.rfsetup/cache/project-<key>.json``:

* the graph, valid while the config files (alembic.ini, pyproject.toml, env.py) and every file
  in the version locations keep their name, size and mtime;
* one observation of env.py per target database, valid while the config files are unchanged.

This module is stdlib only, so that a warm cache can be checked without importing Alembic or
SQLAlchemy. Reads are forgiving (a damaged cache is a miss) and writes atomic and best effort
(a cache that cannot be written only costs speed).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from rfsetup import __version__

FORMAT = 2


def cache_file(cache_dir: Path, ini_path: Path) -> Path:
    """The cache document of the project configured by ``ini_path``."""
    key = hashlib.sha256(json.dumps([__version__, str(ini_path)]).encode()).hexdigest()
    return cache_dir / f"project-{key[:16]}.json"


def target_key(url_text: str) -> str:
    """A key for one target database that does not reveal its password."""
    return hashlib.sha256(url_text.encode()).hexdigest()[:24]


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
                json.dump(doc, fh)
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
            merged.update(value)
            doc[key] = merged
        else:
            doc[key] = value
    write(path, doc)
