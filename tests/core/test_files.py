"""rfsetup.core.files on real special files, real owners and modes, real file systems: what is
refused is refused before anything is opened or created, and what is written keeps its owner,
group and mode (issue 9, "The .env file")."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rfsetup.core import envfile, files
from rfsetup.core.envfile import EnvFile
from rfsetup.core.errors import ExitCode, RfsetupError

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="chown to another user, mknod and mount "
                                "need root")
NOBODY = 65534


def _in_thread(fn, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    """Run ``fn`` where a hang fails the test instead of freezing the suite."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # handed back to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"{fn} still blocked after {timeout} s"
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("value")


def _set(path: Path, key: str, value: str, **kwargs: bool) -> envfile.EnvUpdate:
    return envfile.update(path, lambda doc: doc.set(key, value), **kwargs)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory another user can reach (pytest's own temp dirs are 0700)."""
    path = Path(tempfile.mkdtemp(prefix="rfsetup-files-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# -- what is not a regular file is never read, never replaced ---------------------------------


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / ".env"
    os.mkfifo(fifo)
    for call in (lambda: files.read_bytes(fifo), lambda: EnvFile.load(fifo),
                 lambda: _set(fifo, "A", "1")):
        with pytest.raises(RfsetupError) as info:
            _in_thread(call)
        assert info.value.exit_code == ExitCode.USAGE
        assert "FIFO" in info.value.message and str(fifo) in info.value.message
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]  # no lock, no backup


def test_dev_zero_is_refused_not_read_until_memory_runs_out() -> None:
    with pytest.raises(RfsetupError) as info:
        _in_thread(lambda: EnvFile.load("/dev/zero"))
    assert info.value.exit_code == ExitCode.USAGE and "character device" in info.value.message


@needs_root
def test_a_character_device_node_is_not_replaced(tmp_path: Path) -> None:
    node = tmp_path / ".env"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a copy of /dev/null
    with pytest.raises(RfsetupError) as info:
        _set(node, "A", "1")
    assert info.value.exit_code == ExitCode.USAGE
    assert stat.S_ISCHR(os.lstat(node).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RfsetupError) as info:
        _set(tmp_path, "A", "1")
    assert info.value.exit_code == ExitCode.USAGE and "a directory" in info.value.message


def test_size_cap(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"#" * files.MAX_BYTES)
    assert files.read_bytes(path) == b"#" * files.MAX_BYTES
    path.write_bytes(b"#" * (files.MAX_BYTES + 1))
    before = path.read_bytes()
    with pytest.raises(RfsetupError) as info:
        _set(path, "A", "1")
    assert info.value.exit_code == ExitCode.USAGE and "1024 KiB" in info.value.message
    assert path.read_bytes() == before


# -- owner, group and mode ---------------------------------------------------------------------


def test_a_copy_of_etc_passwd_keeps_its_mode_and_owner(tmp_path: Path) -> None:
    """It is a regular file, so it is edited; but it was rewritten 0600 (issue 9)."""
    path = tmp_path / "passwd"
    shutil.copyfile("/etc/passwd", path)
    path.chmod(0o644)
    if ROOT:
        os.chown(path, NOBODY, NOBODY)
    original = path.read_bytes()
    before = os.stat(path)
    _set(path, "RFSETUP_TEST", "1")
    after = os.stat(path)
    assert stat.S_IMODE(after.st_mode) == 0o644
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)
    assert path.read_bytes() == original + b"RFSETUP_TEST=1\n"
    assert (tmp_path / "passwd.bak").read_bytes() == original


def test_a_symlink_is_followed_and_its_target_written(tmp_path: Path) -> None:
    real = tmp_path / "real" / "app.env"
    real.parent.mkdir()
    real.write_bytes(b"A=1\n")
    real.chmod(0o640)
    link = tmp_path / ".env"
    link.symlink_to(real)
    result = _set(link, "A", "2")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes() == b"A=2\n" and stat.S_IMODE(real.stat().st_mode) == 0o640
    assert result.backup == real.with_name("app.env.bak")
    assert not (tmp_path / ".env.bak").exists()
    # a symlink to something that is not a regular file is refused like the thing itself
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link.unlink()
    link.symlink_to(fifo)
    with pytest.raises(RfsetupError):
        _in_thread(lambda: _set(link, "A", "3"))
    assert link.is_symlink() and stat.S_ISFIFO(os.lstat(fifo).st_mode)


@needs_root
def test_another_users_0640_file_keeps_owner_group_and_mode(shared_dir: Path) -> None:
    """As root on another user's 0640 .env, `env set` left it root:root 0600 and its owner
    could no longer read it (issue 9)."""
    path = shared_dir / ".env"
    path.write_bytes(b"# theirs\nA=1\n")
    os.chown(path, NOBODY, NOBODY)
    path.chmod(0o640)
    _set(path, "B", "2")
    st = os.stat(path)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (NOBODY, NOBODY, 0o640)
    backup = os.stat(shared_dir / ".env.bak")
    assert (backup.st_uid, backup.st_gid, stat.S_IMODE(backup.st_mode)) == (NOBODY, NOBODY,
                                                                              0o640)
    # the lock file belongs to the owner too, so the owner can take the lock after root did
    assert os.stat(shared_dir / ".env.lock").st_uid == NOBODY
    read = subprocess.run(["cat", str(path)], user=NOBODY, group=NOBODY, capture_output=True,
                          check=False)
    assert read.returncode == 0 and read.stdout == b"# theirs\nA=1\nB=2\n"


def test_a_read_only_file_is_refused_unless_forced(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"A=1\n")
    path.chmod(0o400)
    with pytest.raises(RfsetupError) as info:
        _set(path, "A", "2")
    assert info.value.exit_code == ExitCode.USAGE and "read-only" in info.value.message
    assert path.read_bytes() == b"A=1\n" and not (tmp_path / ".env.bak").exists()
    # an edit that changes nothing is not refused: there is nothing to write
    assert not _set(path, "A", "1").written
    result = _set(path, "A", "2", force=True)
    assert result.written and path.read_bytes() == b"A=2\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o400


def test_a_new_file_is_0600(tmp_path: Path) -> None:
    path = tmp_path / "fresh.env"
    result = _set(path, "A", "1")
    assert result.written and result.backup is None and result.mode == 0o600
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# -- errors from the operating system name the path -------------------------------------------


def test_a_parent_that_is_a_file(tmp_path: Path) -> None:
    parent = tmp_path / "not-a-dir"
    parent.write_text("x")
    with pytest.raises(RfsetupError) as info:
        _set(parent / ".env", "A", "1")
    assert str(parent) in info.value.message
    assert info.value.kind in ("file_io", "bad_input")


@contextlib.contextmanager
def _tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@needs_root
def test_a_full_disk_names_the_file_and_leaves_it_whole(tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "small", "64k") as mount:
        path = mount / ".env"
        original = b"A=1\n" + b"#" * 20_000 + b"\n"
        path.write_bytes(original)
        with pytest.raises(RfsetupError) as info:
            _set(path, "BIG", "x" * 60_000)
        assert str(mount) in info.value.message and "disk is full" in (info.value.hint or "")
        assert path.read_bytes() == original
        assert not [p for p in mount.iterdir() if p.name.endswith(".tmp")]


@needs_root
def test_a_read_only_file_system_names_the_path(tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "ro", "1m") as mount:
        path = mount / ".env"
        path.write_bytes(b"A=1\n")
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        with pytest.raises(RfsetupError) as info:
            _set(path, "A", "2")
        assert str(mount) in info.value.message and "read-only" in (info.value.hint or "")
        assert path.read_bytes() == b"A=1\n"


@needs_root
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) runs the CLI "
                    "as another user")
def test_permission_denied_names_the_path(shared_dir: Path) -> None:
    """As a user who may not write the directory: an error naming it, no traceback."""
    import sys

    path = shared_dir / ".env"
    path.write_bytes(b"A=1\n")
    path.chmod(0o644)
    proc = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                           "--clear-groups", sys.executable, "-m", "rfsetup", "--env-file",
                           str(path), "env", "set", "A", "2"],
                          capture_output=True, text=True, timeout=60, check=False,
                          cwd=shared_dir)
    assert proc.returncode == 1, proc.stderr
    assert str(shared_dir) in proc.stderr and "Permission denied" in proc.stderr
    assert "Traceback" not in proc.stderr and path.read_bytes() == b"A=1\n"
