"""The run log's file: masked lines, 0600 in 0700, rolled over at its size, shared by two
processes, and never opened (nor waited on) where a FIFO or a directory sits in its place."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from rfsetup.core import runlog
from rfsetup.core.settings import Settings

PASSWORD = "s3cr3t-Pa55/word"
URL = f"postgresql+psycopg2://app:{PASSWORD.replace('/', '%2F')}@db.example:5432/raptorflow"


def _settings(tmp_path: Path) -> Settings:
    return Settings(env_file=tmp_path / ".env", alembic_ini=tmp_path / "alembic.ini",
                    database_url=URL, redis_url="redis://:r3dis-pw-x@127.0.0.1:6379/0",
                    state_dir=tmp_path / ".rfsetup")


def _run(settings: Settings, lines: list[str], said: list[str] | None = None) -> None:
    @runlog.logged("migrate")
    def move(settings: Settings, target: str, *, on_progress: Any = None) -> None:
        for line in lines:
            on_progress(line)

    move(settings, "head", on_progress=(said.append if said is not None else None))


def test_lines_are_masked_stamped_and_private(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    said: list[str] = []
    _run(settings, [f"connecting with {PASSWORD}", "Running 0001 -> 0002\x1b[2J",
                    "r3dis-pw-x in a message", f"a url {URL} quoted"], said)
    (log,) = runlog.log_files(settings)
    text = log.read_text()
    assert PASSWORD not in text and "Pa55%2Fword" not in text and "r3dis-pw-x" not in text
    lines = text.splitlines()
    assert len(lines) == 6  # start, four lines, end
    assert lines[0].endswith("[migrate head] start: migrate head on database raptorflow "
                             "(postgresql+psycopg2://app:***@db.example:5432/raptorflow)")
    assert lines[1].endswith("connecting with ***")
    assert lines[2].endswith("Running 0001 -> 0002\\x1b[2J")  # escaped, one line
    assert lines[5].endswith("[migrate head] end")
    assert f" pid {os.getpid()} " in lines[1]
    # what the run's own callback got is the line as reported (the caller shows it)
    assert said[0] == f"connecting with {PASSWORD}"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700


def test_the_log_rolls_over_and_keeps_five(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    monkeypatch.setattr(runlog, "MAX_BYTES", 2000)
    settings = _settings(tmp_path)
    for run in range(12):
        _run(settings, [f"run {run} line {n} " + "x" * 60 for n in range(10)])
    files = runlog.log_files(settings)
    assert [f.name for f in files] == ["runs.log.5", "runs.log.4", "runs.log.3", "runs.log.2",
                                       "runs.log.1", "runs.log"]
    for f in files:
        assert f.stat().st_size <= 2000
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    newest = files[-1].read_text().splitlines()
    assert newest[-1].endswith("end") and "run 11" in newest[-2]
    # oldest first: each file's lines come before the next one's
    numbers = [int(line.split(" run ")[1].split()[0]) for f in files
               for line in f.read_text().splitlines() if " line " in line]
    assert numbers == sorted(numbers)


def test_a_folder_where_the_rollover_lock_goes_leaves_the_rollover_unlocked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runlog, "MAX_BYTES", 2000)
    settings = _settings(tmp_path)
    (runlog.logs_dir(settings) / runlog.LOCK_NAME).mkdir(parents=True)
    said: list[str] = []
    _run(settings, [f"line {n} " + "x" * 60 for n in range(60)], said)
    files = runlog.log_files(settings)
    assert [f.name for f in files][-2:] == ["runs.log.1", "runs.log"]
    lines = [line for f in files for line in f.read_text().splitlines() if " line " in line]
    assert len(lines) == 60 and not [s for s in said if "warning" in s]


def test_two_processes_share_the_log_line_by_line(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Two writers at once, rolling the file over under each other: every line whole, in
    some file, and each rollover done once (nothing renamed twice, nothing lost).

    A small file and room for 80 old ones make it ~40 rollovers a run, each a chance for both
    writers to find the file full at once (without the rollover's lock, lines were lost in 7
    runs of 10; at four rollovers a run, in 1 of 10)."""
    monkeypatch.setattr(runlog, "BACKUP_COUNT", 80)
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from rfsetup.core import runlog
        from rfsetup.core.settings import Settings
        runlog.MAX_BYTES = 2000
        runlog.BACKUP_COUNT = 80
        s = Settings(env_file=Path(".env"), alembic_ini=Path("alembic.ini"),
                     database_url={URL!r}, state_dir=Path({str(tmp_path / ".rfsetup")!r}))
        @runlog.logged("migrate")
        def move(settings, target, *, on_progress=None):
            for n in range(400):
                on_progress(f"writer {{sys.argv[1]}} line {{n:03d}} " + "y" * 40)
        move(s, "head")
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(w)], env=env)
             for w in (1, 2)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    files = runlog.log_files(_settings(tmp_path))
    lines = [line for f in files for line in f.read_text().splitlines()]
    for writer in ("1", "2"):
        mine = [line for line in lines if f"writer {writer} line " in line]
        assert sorted(mine, key=lambda line: line.split(" line ")[1]) == mine
        assert len(mine) == 400
    assert all(line.endswith("y" * 40) for line in lines if " line " in line)


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_fifo_or_a_folder_in_its_place_is_said_once_not_waited_on(
        tmp_path: Path, kind: str) -> None:
    settings = _settings(tmp_path)
    folder = runlog.logs_dir(settings)
    folder.mkdir(parents=True)
    if kind == "fifo":
        os.mkfifo(folder / runlog.LOG_NAME)
    else:
        (folder / runlog.LOG_NAME).mkdir()
    said: list[str] = []
    _run(settings, ["Running 0001", "Running 0002"], said)  # returns: nothing blocks
    warnings = [line for line in said if line.startswith("warning: the run log was not written")]
    assert len(warnings) == 1 and str(folder) in warnings[0]
    assert said[-2:] == ["Running 0001", "Running 0002"]
