"""Run measured commands from a small process, so that their peak RSS is theirs.

Linux counts in a process's peak RSS (``ru_maxrss``) the memory it had before exec: a command
forked (or vforked) straight from the benchmark starts with the benchmark's own ~60 MiB as its
high-water mark, and every tool then "peaks" at 60 MiB or more (``python -c pass`` measured so
reads 60 MiB). A bare ``python -S`` spawner started once forks each command instead, times it
and reports its rusage: the floor is the spawner's ~10 MiB, under any tool measured.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

SPAWNER = r"""
import json, os, sys, time
for line in sys.stdin:
    job = json.loads(line)
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.chdir(job["cwd"])
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
            os.dup2(os.open(job["stderr"], os.O_WRONLY | os.O_TRUNC), 2)
            os.execve(job["argv"][0], job["argv"], job["env"])
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - start
    print(json.dumps({"elapsed": elapsed, "code": os.waitstatus_to_exitcode(status),
                      "maxrss_kib": usage.ru_maxrss,
                      "cpu": usage.ru_utime + usage.ru_stime}), flush=True)
"""


@dataclass(frozen=True)
class Run:
    """One measured run: wall seconds, peak RSS (KiB), CPU seconds (user + system)."""

    seconds: float
    rss_kib: int
    cpu: float


class Spawner:
    """The small process that forks each measured command (see the module docstring)."""

    def __init__(self, proc: subprocess.Popen[str], err: Path) -> None:
        self.proc = proc
        self.err = err

    def run(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> Run:
        """Run ``argv`` to its end; SystemExit with its stderr when it fails."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        # the environment goes down a pipe: a password in it is in no argv
        job = {"argv": list(argv), "env": dict(env), "cwd": str(cwd), "stderr": str(self.err)}
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("the benchmark's spawner ended")
        got = json.loads(line)
        if got["code"] != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({got['code']}):\n"
                             f"{self.err.read_text(errors='replace')[-2000:]}")
        return Run(got["elapsed"], int(got["maxrss_kib"]), got["cpu"])


@contextlib.contextmanager
def spawner() -> Iterator[Spawner]:
    """A spawner for the block; on leaving it (Ctrl-C and SIGTERM too) the spawner and any
    command it still runs are ended."""
    with tempfile.TemporaryDirectory(prefix="rfsetup-bench-spawn-") as tmp:
        err = Path(tmp) / "stderr"
        err.touch(mode=0o600)
        proc = subprocess.Popen([sys.executable, "-S", "-E", "-c", SPAWNER], text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            yield Spawner(proc, err)
        finally:
            with contextlib.suppress(psutil.Error):
                running = psutil.Process(proc.pid).children(recursive=True)
                for child in running:
                    with contextlib.suppress(psutil.Error):
                        child.kill()
                psutil.wait_procs(running, timeout=5)
            with contextlib.suppress(OSError):
                proc.stdin.close()  # type: ignore[union-attr]
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
