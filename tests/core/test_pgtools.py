"""rfsetup.core.pgtools: one discovery and version parser, the conninfo, and running a tool tied
to rfsetup (real programs, real signals; psutil watches the processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from rfsetup.core import pgtools, prereqs
from rfsetup.core.errors import RfsetupError
from rfsetup.core.settings import normalize_database_url
from tests.helpers.procs import alive, wait_gone

SYSTEM_PG_DUMP_DIR = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture(scope="module")
def server_version(pg) -> int:
    with pg.admin_connect() as conn:
        return int(conn.server_version)


def test_one_version_parser_for_every_output() -> None:
    assert pgtools.parse_version("pg_dump (PostgreSQL) 16.2\n") == "16.2"
    assert pgtools.parse_version("psql (PostgreSQL) 15.4 (Debian 15.4-2.pgdg120+1)") == "15.4"
    assert pgtools.parse_version("pg_dump (PostgreSQL) 17beta1") == "17beta1"
    assert pgtools.parse_version("not postgres 1.2") is None
    assert pgtools.version_major("16.2") == (16,)
    assert pgtools.version_major("17beta1") == (17,)  # prereqs used int("17beta1"): ValueError
    assert pgtools.version_major("9.6.24") == (9, 6)
    assert pgtools.server_major(90624) == (9, 6) and pgtools.server_major(160002) == (16,)


def test_doctor_and_backups_use_the_same_discovery(server_version: int,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    tools = pgtools.choose_tools(server_version, need=("pg_dump", "pg_restore", "psql"))
    assert tools.bin_dir in pgtools.candidate_bin_dirs("pg_dump")
    assert prereqs._client_dirs("pg_dump") == pgtools.candidate_bin_dirs("pg_dump")
    assert prereqs.tool_version(tools.path("pg_dump")) == tools.version
    # RFSETUP_PG_BINDIR narrows both to that directory (doctor used to list PATH's as well)
    monkeypatch.setenv(pgtools.ENV_BINDIR, str(tmp_path))
    assert prereqs._client_dirs("psql") == pgtools.candidate_bin_dirs("psql") == [tmp_path]
    result = prereqs.check_client_tool("pg_dump", 16)
    assert result.status == "fail" and "not found" in result.detail


def test_tools_match_the_server_version(server_version: int) -> None:
    tools = pgtools.choose_tools(server_version, need=("pg_dump", "pg_restore", "psql"))
    assert tools.major == pgtools.server_major(server_version)
    assert tools.has("pg_restore") and tools.has("psql")


@pytest.mark.skipif(not (SYSTEM_PG_DUMP_DIR / "pg_dump").is_file(), reason="no pg_dump 15 here")
def test_an_older_pg_dump_is_detected_and_explained(server_version: int) -> None:
    major = pgtools.server_major(server_version)[0]
    with pytest.raises(RfsetupError) as info:
        pgtools.choose_tools(server_version, candidates=[SYSTEM_PG_DUMP_DIR])
    err = info.value
    assert err.kind == "pg_dump_too_old"
    assert "pg_dump 15." in err.message and f"PostgreSQL {major}" in err.message
    assert f"postgresql-client-{major}" in (err.hint or "") and pgtools.ENV_BINDIR in err.hint


def test_no_pg_dump_at_all(server_version: int, tmp_path: Path) -> None:
    with pytest.raises(RfsetupError) as info:
        pgtools.choose_tools(server_version, candidates=[tmp_path])
    assert info.value.kind == "pg_dump_missing"
    assert "postgresql-client-" in (info.value.hint or "")


def test_conninfo_never_carries_the_password_wherever_the_url_has_it(
        fresh_db: str, server_version: int) -> None:
    url = normalize_database_url(fresh_db)
    secret = str(url.password)
    # the password as libpq's ?password= instead of the userinfo, and a value needing quotes
    moved = normalize_database_url(
        fresh_db.replace(f":{secret}@", "@")
        + f"?password={secret}&options=-c%20search_path%3Dpublic")
    for candidate in (url, moved):
        info = pgtools.conninfo(candidate, "rfsetup backup")
        assert secret not in info
        assert f"dbname={url.database}" in info and "host=127.0.0.1" in info
        assert "options='-c search_path=public'" in info or candidate is url
        assert pgtools.tool_env(candidate)["PGPASSWORD"] == secret
        assert pgtools.scrub(f"failed for {secret}", candidate) == "failed for ***"
    # and the tools really connect with it: a psql run through the same path
    tools = pgtools.choose_tools(server_version, need=("psql",))
    run = pgtools.run_tool([str(tools.path("psql")), "--no-psqlrc", "-tAc", "SHOW search_path",
                            f"--dbname={pgtools.conninfo(moved, 'rfsetup test')}"],
                           env=pgtools.tool_env(moved), capture_stdout=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "public"


def test_a_cancelled_tool_is_killed_and_reported() -> None:
    cancel = threading.Event()
    ticks: list[float] = []
    threading.Timer(1.3, cancel.set).start()
    started = time.monotonic()
    run = pgtools.run_tool([sys.executable, "-c", "import time; time.sleep(60)"],
                           env=dict(os.environ), cancel=cancel, on_tick=ticks.append)
    assert run.cancelled and run.returncode != 0
    assert time.monotonic() - started < 5
    assert ticks and 0.9 < ticks[0] < 1.5  # about once a second while it ran


def test_an_exception_in_the_waiting_code_kills_the_tool() -> None:
    seen: list[int] = []

    def tick(_elapsed: float) -> None:
        seen.extend(p.pid for p in psutil.Process().children())
        raise KeyboardInterrupt  # what a second Ctrl-C does in the poll loop

    with pytest.raises(KeyboardInterrupt):
        pgtools.run_tool([sys.executable, "-c", "import time; time.sleep(60)"],
                         env=dict(os.environ), on_tick=tick)
    assert seen and not alive(seen[0])


_ARMED: list[int] = []  # a pipe's write end while armed


def _after_fork_in_child() -> None:
    if _ARMED:
        os.write(_ARMED[0], b"x")  # Python code ran between fork and exec


os.register_at_fork(after_in_child=_after_fork_in_child)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_no_python_code_runs_between_fork_and_exec() -> None:
    """A preexec_fn (Python in the forked child) can hang forever on a lock another thread
    held at the fork, and Popen with it (cpython#120998): the TUI starts tools and its runner
    from worker threads. After-fork hooks run wherever Python code runs in such a child."""
    read, write = os.pipe()
    _ARMED.append(write)
    try:
        run = pgtools.run_tool([sys.executable, "-c", "pass"], env=dict(os.environ))
        assert run.returncode == 0
        proc = subprocess.Popen(pgtools.tied(["true"]), start_new_session=True)
        assert proc.wait(10) == 0
    finally:
        _ARMED.clear()
        os.close(write)
    try:
        assert os.read(read, 10) == b"", "an after-fork hook ran in a child before its exec"
    finally:
        os.close(read)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_tool_dies_with_rfsetup_even_when_rfsetup_is_sigkilled(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    script = textwrap.dedent(f"""
        import os, sys
        from rfsetup.core import pgtools
        pgtools.run_tool([sys.executable, "-c",
                          "import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); "
                          "time.sleep(120)"], env=dict(os.environ))
    """)
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 20
        while not (marker.is_file() and marker.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        child = int(marker.read_text())
        assert alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert not wait_gone([child]), "the tool outlived rfsetup"
    finally:
        parent.kill()
