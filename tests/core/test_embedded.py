"""The embedded servers' lifecycle edge cases, on real redis-server processes."""

from __future__ import annotations

from pathlib import Path

import redis

from rfsetup.core.embedded import EmbeddedRedis, pid_alive


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
