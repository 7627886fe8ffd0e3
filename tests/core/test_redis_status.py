"""Redis failures named by the exception redis-py raises, on a real redis-server: refused,
a password rejected, a password missing, a malformed URL; doctor's fix follows the kind."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from rfsetup.core.embedded import EmbeddedRedis, free_port
from rfsetup.core.prereqs import check_redis
from rfsetup.core.settings import load_settings
from rfsetup.core.status import redis_status

PASSWORD = "redis-s3cret-pw"


@pytest.fixture
def locked_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A redis-server of its own that requires a password (the session's one stays open)."""
    server = EmbeddedRedis(tmp_path / "locked")
    server.start()
    server.client().config_set("requirepass", PASSWORD)
    try:
        yield server
    finally:
        server.stop()


def _settings(tmp_path: Path, redis_url: str):  # -> Settings
    return load_settings(cwd=tmp_path, environ={"REDIS_URL": redis_url})


def test_the_right_password_works(locked_redis: EmbeddedRedis, tmp_path: Path) -> None:
    status = redis_status(_settings(tmp_path, f"redis://:{PASSWORD}@127.0.0.1:"
                                              f"{locked_redis.port}/0"))
    assert status.reachable and status.error_kind is None and status.version


def test_a_wrong_password_is_auth_failed(locked_redis: EmbeddedRedis, tmp_path: Path) -> None:
    settings = _settings(tmp_path, f"redis://:not-it@127.0.0.1:{locked_redis.port}/0")
    status = redis_status(settings)
    assert (status.reachable, status.error_kind) == (False, "auth_failed")
    assert status.error == "Redis rejected the password in REDIS_URL"
    doctor = check_redis(settings, "Linux")
    # the server runs: the fix is REDIS_URL, not starting Redis
    assert doctor.status == "fail" and "check REDIS_URL" in (doctor.remedy or "")
    assert "systemctl" not in (doctor.remedy or "") and "not-it" not in doctor.detail


def test_no_password_is_password_missing(locked_redis: EmbeddedRedis, tmp_path: Path) -> None:
    status = redis_status(_settings(tmp_path, f"redis://127.0.0.1:{locked_redis.port}/0"))
    assert (status.reachable, status.error_kind) == (False, "password_missing")
    assert "requires a password" in (status.error or "")


def test_nothing_listening_is_server_down(tmp_path: Path) -> None:
    settings = _settings(tmp_path, f"redis://:pw-hidden@127.0.0.1:{free_port()}/0")
    status = redis_status(settings)
    assert (status.reachable, status.error_kind) == (False, "server_down")
    assert "not running" in (status.error or "")
    doctor = check_redis(settings, "Linux")
    assert "sudo systemctl start redis" in (doctor.remedy or "")
    assert "rfsetup --sandbox" in (doctor.remedy or "")
    assert "pw-hidden" not in doctor.detail + (doctor.remedy or "")


def test_a_malformed_url_is_bad_url(tmp_path: Path) -> None:
    status = redis_status(_settings(tmp_path, "redis://:pw-hidden@127.0.0.1:99999/0"))
    assert (status.reachable, status.error_kind) == (False, "bad_url")
    assert "pw-hidden" not in (status.error or "")


def test_a_server_that_never_answers_is_timeout(tmp_path: Path) -> None:
    """Something accepts the connection (the kernel's backlog) and says nothing."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        port = silent.getsockname()[1]
        status = redis_status(_settings(tmp_path, f"redis://127.0.0.1:{port}/0"), timeout=0.3)
        assert (status.reachable, status.error_kind) == (False, "timeout")
        assert status.error == "Redis did not answer within 0.3s"
    finally:
        silent.close()
