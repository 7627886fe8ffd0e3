"""The warm read path: status from the cache and two queries, without Alembic or SQLAlchemy,
giving the same StatusReport as the full path on every shape."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rfsetup.core import alembic as migrations
from rfsetup.core import pgurl, status
from rfsetup.core.embedded import EmbeddedPostgres
from rfsetup.core.errors import RfsetupError
from rfsetup.core.settings import Settings, libpq_params, normalize_database_url
from tests.conftest import ALEMBIC_INI, FAST, PgTestServer
from tests.helpers.alembic_project import SyntheticProject, make_project
from tests.helpers.db import query, settings_for


def _both(settings: Settings) -> tuple[status.StatusReport, status.StatusReport]:
    full = status._full_status(settings)  # also warms the cache
    warm = status._warm_status(settings)
    assert warm is not None, "the cache should answer after a full read"
    return full, warm


def _same(full: status.StatusReport, warm: status.StatusReport) -> None:
    # errors are values: compare what they say
    assert full.to_json() == warm.to_json()
    assert (full.current, full.heads, full.pending) == (warm.current, warm.heads, warm.pending)


# -- the two URL parsers agree ----------------------------------------------------------------
EXAMPLES = [
    "postgresql://u:p@h:5432/db", "postgres://u@h/db", "postgresql+asyncpg://u:p%40x@h/db?ssl=true",
    "postgresql+asyncpg://u@h/db?ssl=false&prepared_statement_cache_size=0",
    "postgresql+psycopg2://u:p@[::1]:5433/d%20b?sslmode=require&application_name=x",
    "postgresql://u:a%3Ab@h/db?password=q&password=r", "postgresql://h/db", "postgresql:///db",
    "postgresql+psycopg://user@host/database?options=-c%20search_path%3Dpublic",
]
BAD = ["", "mysql://u@h/db", "postgresql://u:p@h:notaport/db", "postgresql://u:p@h:70000/db",
       "postgresql://u:p@h/", "postgresql://u:p@x@h/db", "not a url", "postgresql//u:p@h/db"]


@pytest.mark.parametrize("raw", EXAMPLES)
def test_the_stdlib_parser_reads_urls_as_sqlalchemy_does(raw: str) -> None:
    lean = pgurl.parse(raw)
    full = normalize_database_url(raw)
    assert lean is not None
    assert libpq_params(lean) == libpq_params(full)
    assert lean.render_as_string(hide_password=False) == \
        full.render_as_string(hide_password=False)
    assert lean.render_as_string() == full.render_as_string()


@pytest.mark.parametrize("raw", BAD)
def test_what_the_full_parser_refuses_the_stdlib_one_leaves_to_it(raw: str) -> None:
    assert pgurl.parse(raw) is None
    with pytest.raises(RfsetupError):
        normalize_database_url(raw)


_part = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8)


@settings(max_examples=300, deadline=None)
@given(user=_part, password=_part, db=_part.filter(bool), port=st.integers(1, 65535),
       query=st.dictionaries(st.sampled_from(["sslmode", "ssl", "application_name",
                                              "password", "options"]), _part, max_size=3),
       scheme=st.sampled_from(sorted(pgurl.SCHEMES)))
@example(user="", password="", db="@/", port=1, query={}, scheme="postgres")  # CI found it
def test_the_parsers_agree_on_any_url(user: str, password: str, db: str, port: int,
                                      query: dict[str, str], scheme: str) -> None:
    from urllib.parse import quote, urlencode

    raw = (f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@host:{port}/"
           f"{quote(db, safe='')}" + (f"?{urlencode(query)}" if query else ""))
    lean = pgurl.parse(raw)
    try:
        full = normalize_database_url(raw)
    except RfsetupError:
        assert lean is None
        return
    if lean is None:  # the lean parser may step aside; it must never disagree
        return
    assert libpq_params(lean) == libpq_params(full)
    assert lean.render_as_string(hide_password=False) == \
        full.render_as_string(hide_password=False)


# -- the same report, warm or not -------------------------------------------------------------
def test_raptorflow_at_head_and_below(fresh_db: str, redis_server, project_dir: Path) -> None:
    settings = replace(settings_for(ALEMBIC_INI, fresh_db, project_dir),
                       redis_url=redis_server.url())
    _same(*_both(settings))  # empty database
    migrations.upgrade(settings, "0003_intel", backup=False)
    _same(*_both(settings))
    migrations.upgrade(settings, backup=False)
    full, warm = _both(settings)
    _same(full, warm)
    assert warm.pending == 0 and warm.current == ("0004_production_indexes",)


def test_the_revision_first_and_redis_after_is_the_same_report(
        fresh_db: str, redis_server, project_dir: Path) -> None:
    # the TUI's first read leaves Redis out (redis-py's import is ~90 ms) and asks it next
    settings = replace(settings_for(ALEMBIC_INI, fresh_db, project_dir),
                       redis_url=redis_server.url())
    migrations.upgrade(settings, backup=False)
    full, _ = _both(settings)
    first = status.warm_status(settings, redis=False)
    assert first is not None and not first.redis_checked and first.redis is None
    assert first.current == full.current and first.pending == full.pending
    then = status.with_redis(settings, first)
    assert then.redis_checked and then.redis is not None and then.redis.reachable
    _same(full, then)
    assert status.with_redis(settings, then) is then  # asked once
    # a project without Redis has nothing to ask: checked from the start
    plain = settings_for(ALEMBIC_INI, fresh_db, project_dir)
    if not (plain.profile.uses_redis or plain.redis_url):
        report = status.warm_status(plain, redis=False)
        assert report is not None and report.redis_checked


@pytest.fixture(scope="module")
def branched(tmp_path_factory: pytest.TempPathFactory) -> SyntheticProject:
    return make_project(tmp_path_factory.mktemp("warm") / "b", 30, branch_every=5, open_heads=2)


def test_branches_merges_and_an_unknown_revision(branched: SyntheticProject, fresh_db: str,
                                                 project_dir: Path) -> None:
    settings = settings_for(branched.ini, fresh_db, project_dir)
    migrations.upgrade(settings, branched.ids[12], backup=False)
    _same(*_both(settings))
    query(fresh_db, "UPDATE alembic_version SET version_num = 'not_in_these_scripts'")
    full, warm = _both(settings)
    _same(full, warm)
    assert warm.pending is None and warm.scripts_error is not None
    assert warm.scripts_error.kind == "unknown_revision"


def test_a_changed_revision_file_sends_status_down_the_full_path(
        branched: SyntheticProject, fresh_db: str, project_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(branched.root, copy)
    settings = settings_for(copy / "alembic.ini", fresh_db, project_dir)
    _both(settings)
    touched = next((copy / "migrations" / "versions").glob("*.py"))
    touched.write_text(touched.read_text() + "\n# edited\n")
    assert status._warm_status(settings) is None
    env_py = copy / "migrations" / "env.py"
    _both(settings)
    env_py.write_text(env_py.read_text() + "\n# edited\n")
    assert status._warm_status(settings) is None


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path / "pg", server_settings=FAST)
    server.start()
    try:
        yield server
    finally:
        server.destroy()


def test_an_outage_reads_the_same_warm_or_not(own_server: EmbeddedPostgres,
                                              project_dir: Path) -> None:
    settings = settings_for(ALEMBIC_INI, own_server.url("postgres"), project_dir)
    migrations.upgrade(settings, backup=False)
    _both(settings)
    own_server.stop()
    full, warm = _both(settings)
    _same(full, warm)
    assert not warm.database.reachable and warm.database.error is not None


STATUS_PROBE = """
import json, sys
from rfsetup.cli import main
code = main(["-c", sys.argv[1], "status", "--json"])
print(json.dumps({"code": code, "heavy": sorted(m for m in sys.modules
                   if m.split(".")[0] in ("alembic", "sqlalchemy"))}))
"""


def test_status_on_a_warm_cache_imports_neither_alembic_nor_sqlalchemy(
        pg: PgTestServer, fresh_db: str, project_dir: Path) -> None:
    settings = settings_for(ALEMBIC_INI, fresh_db, project_dir)
    migrations.upgrade(settings, backup=False)
    status.collect_status(settings)  # warms the cache
    env = {"DATABASE_URL": fresh_db, "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", STATUS_PROBE, str(ALEMBIC_INI)],
                          cwd=project_dir, env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    report = json.loads("\n".join(proc.stdout.strip().splitlines()[:-1]))
    assert last["code"] == 0, proc.stderr
    assert report["current"] == ["0004_production_indexes"] and report["pending"] == 0
    assert last["heavy"] == []
