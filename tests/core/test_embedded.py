"""The embedded servers' lifecycle edge cases, on real redis-server processes."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from rfsetup.core.embedded import EmbeddedRedis, free_port, pid_alive


def test_redis_stop_finds_a_server_whose_pidfile_is_gone(tmp_path: Path) -> None:
    """A killed benchmark's cleanup can delete the pidfile of a server that keeps running:
    start() adopts it rather than run a second one on the same data, stop() still stops it."""
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    pid = server.pid()
    try:
        client = redis.Redis(host="127.0.0.1", port=server.port)
        client.set("kept", "yes")
        client.close()
        server.pidfile.unlink()

        again = EmbeddedRedis(tmp_path / "redis")  # as the next command sees the data dir
        assert again.is_running() and again.pid() == pid
        again.start()
        assert again.pid() == pid and again.port == server.port

        again.stop()
        assert not pid_alive(pid)
        assert not again.is_running()
    finally:
        if pid_alive(pid):
            redis.Redis(host="127.0.0.1", port=server.port).shutdown(nosave=True)
    # SHUTDOWN SAVE: the data survived
    restarted = EmbeddedRedis(tmp_path / "redis")
    restarted.start()
    try:
        client = redis.Redis.from_url(restarted.url())
        assert client.get("kept") == b"yes"
        client.close()
    finally:
        restarted.stop()
    assert not restarted.is_running()


def test_redis_stop_leaves_another_data_dirs_server_alone(tmp_path: Path) -> None:
    """A port recorded in a data dir may since have been taken by another Redis: not ours."""
    theirs = EmbeddedRedis(tmp_path / "theirs")
    theirs.start()
    try:
        ours = EmbeddedRedis(tmp_path / "ours", port=theirs.port)
        assert ours.pid() is None and not ours.is_running()
        ours.stop()
        assert theirs.is_running()
        assert redis.Redis.from_url(theirs.url()).ping()
    finally:
        theirs.stop()
    assert not theirs.is_running()


def test_a_recycled_pid_or_a_listener_on_the_port_is_not_our_redis(tmp_path: Path) -> None:
    """The pidfile may name a pid since reused by another process, and the recorded port may
    since be taken by someone else: neither is this data dir's server. The process table says
    so (psutil) without a connection to the port, and stop() signals nothing."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    try:
        data = tmp_path / "redis"
        data.mkdir()
        (data / "rfsetup.port").write_text(f"{listener.getsockname()[1]}\n")
        (data / "redis.pid").write_text(f"{os.getpid()}\n")  # alive, but this test, not Redis
        server = EmbeddedRedis(data)
        assert server.pid() is None and not server.is_running()
        server.stop()  # nothing to stop: this process must still be here to see the next line
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody knocked
    finally:
        listener.close()


def test_one_attempt_per_ping(tmp_path: Path) -> None:
    """start() polls PING until the server answers: a client that retried with redis-py's
    default backoff would wait seconds where nothing listens yet."""
    server = EmbeddedRedis(tmp_path / "redis", port=free_port())
    retry = server.client().get_retry()
    assert retry is not None and retry.get_retries() == 0
    assert server._ping() is False


SECRET_PROBE = """
import json, os, stat, sys
from pathlib import Path
root = Path(sys.argv[1])
os.umask(0o022)  # what a user's shell has: open() creates 0644 files
seen = []

def hook(event, args):
    # a file about to be chmod-ed, renamed into place or removed: the mode it has had since it
    # was created (written with open() and the umask, it would be 0644 here)
    if event in ("os.chmod", "os.rename", "os.remove") and isinstance(args[0], (str, Path)) \
            and str(args[0]).startswith(str(root)) and os.path.isfile(args[0]):
        seen.append([event, os.path.basename(args[0]), stat.S_IMODE(os.stat(args[0]).st_mode)])

sys.addaudithook(hook)
from rfsetup.core import sandbox
from rfsetup.core.embedded import EmbeddedPostgres

EmbeddedPostgres(root / "postgres").init()
sandbox._role_password(root)
print(json.dumps(seen))
"""


def test_secret_files_are_0600_from_the_start(tmp_path: Path) -> None:
    """The superuser's and the role's password files are created 0600 (a temp file made 0600,
    then renamed), never written world-readable and chmod-ed after: an audit hook sees the
    mode of every file at the moment it is chmod-ed, renamed or removed."""
    proc = subprocess.run([sys.executable, "-c", SECRET_PROBE, str(tmp_path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    renamed = {name for event, name, _ in seen if event == "os.rename"}
    assert any(name.startswith(".rfsetup.superuser.") for name in renamed), seen
    assert any(name.startswith(".raptorflow.password.") for name in renamed), seen
    assert all(mode == 0o600 for _, _, mode in seen), seen
    for secret in (tmp_path / "postgres" / "rfsetup.superuser", tmp_path / "raptorflow.password"):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
