"""One Alembic project: its Config, its ScriptDirectory and the files they come from.

``AlembicProject`` is what every migration function works on. It reads ``alembic.ini`` (and a
``pyproject.toml`` beside it that has a ``[tool.alembic]`` table, as ``alembic init -t
pyproject`` writes), points the Config at the database rfsetup targets, and loads the revision
scripts once per change on disk. What env.py really does with that Config is observed
separately (``observe``), because env.py, not the ini, has the last word.

The target reaches env.py three ways, so that stock and hand-written env.py files alike
migrate the database the user named: ``sqlalchemy.url`` in the Config (``%`` escaped, the ini's
own driver kept, so an asyncpg project stays asyncpg), ``attributes["database_url"]`` and,
during a run, rfsetup's locked connection in ``attributes["connection"]``.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from rfsetup.core.errors import RfsetupError, bad_input
from rfsetup.core.projectcache import file_fingerprint, folder_fingerprint
from rfsetup.core.settings import Settings

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import URL

    from rfsetup.core.revgraph import RevisionGraph

# drivers an asyncio env.py (alembic init -t async) can be handed; a bare postgresql:// maps
# to psycopg 3 in SQLAlchemy 2.1, which this project does not ship, so it becomes psycopg2
_EXPLICIT_DRIVERS = ("postgresql+psycopg2", "postgresql+asyncpg", "postgresql+psycopg",
                     "postgresql+pg8000", "postgresql+psycopg2cffi")

_SCRIPTS_LOCK = threading.Lock()
_SCRIPTS: dict[tuple[str, ...], tuple[Any, ScriptDirectory]] = {}



def check_ini(path: Path) -> Path:
    """The config file, or bad input (exit 2) saying why it cannot be used."""
    if path.is_dir():
        raise bad_input(f"{path} is a directory, not an Alembic config file",
                        hint="pass the file: -c path/to/alembic.ini")
    if not path.exists():
        raise bad_input(f"no Alembic config at {path}",
                        hint="run rfsetup in the project directory or pass "
                             "-c path/to/alembic.ini")
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise bad_input(f"cannot read the Alembic config {path}: {exc.strerror}") from None
    if not path.is_file():
        raise bad_input(f"{path} is not a regular file")
    return path


def url_for_env_py(target: URL, ini_url: str | None, raw: str | None) -> str:
    """The target as ``sqlalchemy.url`` for env.py: the ini's driver if it names one, else the
    driver DATABASE_URL was written with, else psycopg2 (password included, unescaped)."""
    from sqlalchemy.engine import make_url

    driver = "postgresql+psycopg2"
    for candidate in (ini_url, raw):
        if not candidate:
            continue
        try:
            name = make_url(candidate).drivername
        except Exception:  # the template's placeholder driver://… and the like
            continue
        if name in _EXPLICIT_DRIVERS:
            driver = name
            break
    url = target.set(drivername=driver)
    if driver == "postgresql+asyncpg" and "sslmode" in url.query:
        # asyncpg spells libpq's sslmode as ssl
        query = dict(url.query)
        query["ssl"] = query.pop("sslmode")
        url = url.set(query=query)
    return url.render_as_string(hide_password=False)


class AlembicProject(msgspec.Struct, dict=True):
    """A project's Config and scripts, pointed at the target of ``settings``."""

    settings: Settings
    config: Config
    ini_url: str | None

    @classmethod
    def load(cls, settings: Settings, *, output_buffer: io.StringIO | None = None
             ) -> AlembicProject:
        """Read the config (bad input, exit 2, when it is missing or unusable)."""
        ini = check_ini(Path(settings.alembic_ini))
        from alembic.config import Config

        toml = ini.parent / "pyproject.toml"
        kwargs: dict[str, Any] = {}
        if ini.name == "pyproject.toml":
            beside = ini.parent / "alembic.ini"
            kwargs["toml_file"] = str(ini)
            file_ = str(beside) if beside.is_file() else None
        else:
            file_ = str(ini)
            if toml.is_file() and _has_tool_alembic(toml):
                kwargs["toml_file"] = str(toml)
        cfg = Config(file_, stdout=io.StringIO(), output_buffer=output_buffer, **kwargs)
        cfg.attributes["rfsetup"] = True
        try:
            ini_url = cfg.get_main_option("sqlalchemy.url") if file_ else None
        except Exception as exc:  # configparser: a malformed ini or a bad %(interpolation)s
            raise bad_input(f"cannot read the Alembic config {ini}",
                            cause=f"{type(exc).__name__}: {exc}") from None
        project = cls(settings, cfg, ini_url or None)
        project._point_at_target()
        return project

    def _point_at_target(self) -> None:
        with contextlib.suppress(RfsetupError):  # no URL is fine for the scripts alone
            target = self.settings.url()
            self.config.attributes["database_url"] = target.render_as_string(
                hide_password=False)
            env_url = url_for_env_py(target, self.ini_url, self.settings.database_url)
            self.config.set_main_option("sqlalchemy.url", env_url.replace("%", "%%"))

    # -- files ---------------------------------------------------------------------------
    @property
    def ini_path(self) -> Path:
        return Path(self.settings.alembic_ini).resolve()

    def unloaded_script(self) -> ScriptDirectory:
        """ScriptDirectory.from_config: cheap, as no revision file is read until needed."""
        from alembic.script import ScriptDirectory
        from alembic.util import CommandError

        try:
            return ScriptDirectory.from_config(self.config)
        except CommandError as exc:
            raise bad_input(f"the Alembic config {self.ini_path} is unusable",
                            cause=str(exc), hint="check script_location in alembic.ini") from None
        except Exception as exc:  # configparser errors and the like
            raise bad_input(f"cannot read the Alembic config {self.ini_path}",
                            cause=f"{type(exc).__name__}: {exc}") from None

    def version_locations(self) -> tuple[list[Path], bool]:
        script = self.unloaded_script()
        locations = [Path(p) for p in getattr(script, "_version_locations", [])]
        return locations, bool(script.recursive_version_locations)

    def env_py(self) -> Path:
        return Path(self.unloaded_script().env_py_location)

    def config_files(self) -> list[Path]:
        """The files whose change can change what env.py does: ini, pyproject, env.py."""
        files = [self.ini_path]
        toml = getattr(self.config, "toml_file_name", None)
        if toml:
            files.append(Path(toml).resolve())
        files.append(self.env_py().resolve())
        return files

    def fingerprint(self) -> dict[str, Any]:
        """What a cache of anything derived from this project is keyed by."""
        locations, recursive = self.version_locations()
        versions = folder_fingerprint(locations, recursive)
        mine = self.__dict__.get("_script")
        if mine is not None and mine[0] != versions:  # files changed since: load them again
            del self.__dict__["_script"]
        return {"config": file_fingerprint(self.config_files()),
                "locations": [str(p) for p in locations], "recursive": recursive,
                "versions": versions}

    # -- scripts -------------------------------------------------------------------------
    @property
    def script(self) -> ScriptDirectory:
        """The ScriptDirectory with every revision loaded, reused while files are unchanged.

        Loading imports every revision file (a second for a thousand revisions), so the TUI's
        repeated calls hit a cache keyed by the config and invalidated by any change on disk
        (checked on each project's first access: a stat of every revision file, no import).
        A project is loaded per operation, and the operation sees one set of scripts: the
        check is not repeated on every access (a run accesses it several times, and on a
        thousand revisions each check is a thousand stats); ``fingerprint`` checks again, so
        whatever is keyed by a fingerprint is built from the scripts it describes.
        """
        mine = self.__dict__.get("_script")
        if mine is not None:
            return mine[1]  # type: ignore[no-any-return]
        script = self.unloaded_script()
        locations, recursive = self.version_locations()
        key = (str(self.ini_path), str(script.dir), *map(str, locations))
        fingerprint = folder_fingerprint(locations, recursive)
        with _SCRIPTS_LOCK:
            hit = _SCRIPTS.get(key)
        if hit is not None and hit[0] == fingerprint:
            script = hit[1]
        else:
            try:
                _ = script.revision_map.heads  # loads and links every revision now
            except Exception as exc:
                raise RfsetupError(
                    f"the migration scripts in {', '.join(map(str, locations))} cannot be "
                    "loaded", cause=f"{type(exc).__name__}: {exc}",
                    hint="fix the revision file named above (rfsetup changed nothing)",
                    kind="scripts_broken") from None
            with _SCRIPTS_LOCK:
                _SCRIPTS[key] = (fingerprint, script)
        self.__dict__["_script"] = (fingerprint, script)
        return script

    def heads(self) -> tuple[str, ...]:
        return tuple(self.script.get_heads())

    def graph(self) -> RevisionGraph:
        """The revision graph, from the on-disk cache when nothing changed."""
        cached = self.__dict__.get("_graph")
        if cached is None:
            from rfsetup.core.revgraph import load_graph

            cached = load_graph(self, self.cache_dir)
            self.__dict__["_graph"] = cached
        return cached

    @property
    def cache_dir(self) -> Path:
        return self.settings.state_dir / "cache"

    def known(self, rev: str) -> bool:
        from alembic.script.revision import RevisionError

        try:
            found = self.script.revision_map.get_revision(rev)
        except RevisionError:
            return False
        return found is not None and found.revision == rev

    def unknown(self, revisions: Sequence[str]) -> list[str]:
        """Revisions in the version table that these scripts do not have."""
        return [r for r in revisions if not self.known(r)]

    def revision(self, rev: str) -> Any:
        return self.script.revision_map.get_revision(rev)

    def parents(self, rev: str) -> tuple[str, ...]:
        down = self.revision(rev).down_revision
        if down is None:
            return ()
        return (down,) if isinstance(down, str) else tuple(down)

    @property
    def database(self) -> str:
        """The target database's name, for messages."""
        try:
            return str(self.settings.url().database)
        except RfsetupError:
            return "(no DATABASE_URL)"


def _has_tool_alembic(path: Path) -> bool:
    import tomllib

    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except (OSError, ValueError):
        return False
    return isinstance(doc.get("tool"), dict) and "alembic" in doc["tool"]
