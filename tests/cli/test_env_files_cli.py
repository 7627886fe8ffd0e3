"""`--env-file` at what is not a .env, concurrent writers, read-only and foreign files, bytes
that are not UTF-8: the commands users run, as real processes where a process matters (a hang,
a race), with the end state of the file asserted (issue 9, "The .env file")."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dotenv import dotenv_values

from rfsetup.cli import main
from tests.cli.test_setup_cli import rfsetup
from tests.conftest import ALEMBIC_INI

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
INI = ["-c", str(ALEMBIC_INI)]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


# -- special files ------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [("env", "show"), ("env", "set", "A", "1"), ("status",),
                                  ("doctor", "--json")])
def test_a_fifo_as_env_file_is_exit_2_without_hanging(tmp_path: Path,
                                                      argv: tuple[str, ...]) -> None:
    """`--env-file` at a FIFO hung forever (issue 9)."""
    fifo = tmp_path / "pipe.env"
    os.mkfifo(fifo)
    try:
        proc = rfsetup("--env-file", str(fifo), *INI, *argv, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail(f"rfsetup {' '.join(argv)} blocked on a FIFO")
    assert proc.returncode == 2, proc.stderr
    assert "FIFO" in proc.stderr and "Traceback" not in proc.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.env"]


@pytest.mark.parametrize("argv", [("env", "show"), ("env", "set", "A", "1"), ("status",)])
def test_dev_zero_as_env_file_is_exit_2(project_dir: Path, capsys: pytest.CaptureFixture[str],
                                        argv: tuple[str, ...]) -> None:
    """It read until MemoryError (issue 9)."""
    code, _, err = _run(capsys, "--env-file", "/dev/zero", *INI, *argv)
    assert code == 2 and "character device" in err


@pytest.mark.skipif(not ROOT, reason="os.mknod of a character device needs root")
def test_a_character_device_is_not_replaced_by_env_set(project_dir: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """It replaced the device node with a regular file (issue 9)."""
    node = project_dir / "null.env"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    code, _, err = _run(capsys, "--env-file", str(node), "env", "set", "A", "1")
    assert code == 2 and "character device" in err and "nothing was" in err
    assert stat.S_ISCHR(os.lstat(node).st_mode)
    assert sorted(p.name for p in project_dir.iterdir()) == ["null.env"]


def test_a_copy_of_etc_passwd_is_edited_but_keeps_its_mode(
        project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It was rewritten 0600 (issue 9): a regular file is edited, its mode and owner kept."""
    path = project_dir / "passwd"
    shutil.copyfile("/etc/passwd", path)
    path.chmod(0o644)
    if ROOT:
        os.chown(path, 65534, 65534)
    original, before = path.read_bytes(), os.stat(path)
    code, _, err = _run(capsys, "--env-file", str(path), "env", "set", "RFSETUP_X", "1")
    assert code == 0, err
    after = os.stat(path)
    assert (after.st_uid, after.st_gid, stat.S_IMODE(after.st_mode)) == \
        (before.st_uid, before.st_gid, 0o644)
    assert path.read_bytes() == original + b"RFSETUP_X=1\n"
    assert "readable by every user" in err  # said, not silently changed


def test_a_read_only_env_is_refused_unless_forced(project_dir: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A 0400 .env was silently replaced (issue 9)."""
    env = project_dir / ".env"
    env.write_bytes(b"A=1\n")
    env.chmod(0o400)
    code, _, err = _run(capsys, "env", "set", "A", "2")
    assert code == 2 and "read-only" in err and "--force" in err
    assert env.read_bytes() == b"A=1\n"
    code, _, err = _run(capsys, "env", "generate-secret")
    assert code == 2 and env.read_bytes() == b"A=1\n"
    code, _, err = _run(capsys, "env", "set", "--force", "A", "2")
    assert code == 0, err
    assert env.read_bytes() == b"A=2\n" and stat.S_IMODE(env.stat().st_mode) == 0o400


@pytest.mark.skipif(not ROOT, reason="chown to another user needs root")
def test_root_keeps_another_users_0640_env(project_dir: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """As root, `env set` left another user's 0640 .env root:root 0600 (issue 9)."""
    env = project_dir / ".env"
    env.write_bytes(b"A=1\n")
    os.chown(env, 65534, 65534)
    env.chmod(0o640)
    code, _, err = _run(capsys, "env", "set", "B", "2")
    assert code == 0, err
    st = env.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65534, 0o640)
    assert dotenv_values(env) == {"A": "1", "B": "2"}


# -- concurrent writers ---------------------------------------------------------------------------

def test_eight_concurrent_env_sets_keep_all_eight_keys(tmp_path: Path) -> None:
    """Eight `env set` runs at once all exited 0 and only 4 of the 8 keys survived (issue 9).

    Real processes, started together; a file of some size widens the read-modify-write window.
    """
    env = tmp_path / ".env"
    env.write_text("".join(f"EXISTING_{i}=value-{i}\n" for i in range(3000)))
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("DATABASE_URL", "REDIS_URL", "PGPASSWORD")}
    procs = [subprocess.Popen([sys.executable, "-m", "rfsetup", "--env-file", str(env), "env",
                               "set", f"KEY_{i}", f"v{i}"], cwd=tmp_path, env=full_env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(8)]
    deadline = time.monotonic() + 120
    results = [p.communicate(timeout=max(1.0, deadline - time.monotonic())) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [err for _, err in results]
    values = dotenv_values(env)
    assert {k: values.get(k) for k in (f"KEY_{i}" for i in range(8))} == \
        {f"KEY_{i}": f"v{i}" for i in range(8)}
    assert len(values) == 3008


# -- bytes that are not UTF-8 ---------------------------------------------------------------------

def test_a_byte_that_is_not_utf8_breaks_nothing(project_dir: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """One such byte made every command fail "unexpectedly (UnicodeDecodeError)" (issue 9)."""
    env = project_dir / ".env"
    raw = (b"# caf\xe9 (latin-1)\n"
           b"DATABASE_URL=postgresql://u:pw@127.0.0.1:1/db\n"
           b"REDIS_URL=redis://127.0.0.1:1/0\n"
           b"NOTE=na\xefve \xff\n"
           b"SECRET_KEY=" + b"k" * 40 + b"\n")
    env.write_bytes(raw)
    for argv in (("env", "show"), ("env", "show", "--json"), ("status",), ("status", "--json"),
                 ("doctor",), ("doctor", "--json")):
        code, out, err = _run(capsys, *INI, *argv)
        assert "UnicodeDecodeError" not in out + err and "unexpectedly" not in err, argv
        assert code in (0, 1, 3), (argv, err)
    code, out, _ = _run(capsys, "env", "show")
    assert "na\\xefve \\xff" in out  # shown escaped, never as raw bytes
    code, out, _ = _run(capsys, "env", "show", "--json")
    assert json.loads(out)["values"]["NOTE"] == b"na\xefve \xff".decode("utf-8", "surrogateescape")
    code, _, err = _run(capsys, "env", "set", "APP", "raptor")
    assert code == 0, err
    assert env.read_bytes() == raw + b"APP=raptor\n"
    # and the key holding the bad bytes can itself be replaced, the rest intact
    code, _, err = _run(capsys, "env", "set", "NOTE", "naive")
    assert code == 0, err
    assert env.read_bytes() == raw.replace(b"na\xefve \xff", b"naive") + b"APP=raptor\n"


def test_a_value_given_as_undecodable_argv_bytes_round_trips(tmp_path: Path) -> None:
    """argv is decoded with surrogateescape on POSIX: such a value is written as its bytes."""
    env = tmp_path / ".env"
    proc = subprocess.run([os.fsencode(sys.executable), b"-m", b"rfsetup", b"--env-file",
                           os.fsencode(env), b"env", b"set", b"LABEL", b"caf\xe9"],
                          capture_output=True, timeout=120, check=False, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert env.read_bytes() == b'LABEL="caf\xe9"\n'
    assert b"\\xe9" in proc.stdout and b"\xe9" not in proc.stdout
