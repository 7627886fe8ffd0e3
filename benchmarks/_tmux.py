"""A private tmux server to run terminal apps in, and to read their screens from, cheaply.

The benchmarks time what a user sees in a real terminal: each app runs in a detached tmux
session of a fixed size, and its screen is read with ``capture-pane -p`` until what is
looked for appears. The commands go through one control-mode client (``tmux -C``) kept open
for the whole run, so a poll is a line written to a pipe and a reply read back, not a new
tmux process every few milliseconds (which would take a core away from the app measured on a
2-core machine).

The server is private (``-L`` with a unique socket, ``-f /dev/null``: no user config), and its
global environment is the one it was started with: that is how the apps get DATABASE_URL
without a password in any argv. Leaving the block kills the server and then any process that
was started in one of its panes and is still alive (a pane's app, and its children).
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil


class TmuxError(RuntimeError):
    """tmux answered a command with %error, or went away."""


_ESCAPES = {"\\": "\\\\", '"': '\\"', "$": "\\$", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote(arg: str) -> str:
    """One argument for tmux's command parser, on one line (a control client sends one
    command per line): double-quoted, with the escapes that parser knows."""
    return '"' + "".join(_ESCAPES.get(c, c) for c in arg) + '"'


@dataclass
class Tmux:
    """A control-mode client of a private tmux server (see the module docstring)."""

    socket: str
    proc: subprocess.Popen[bytes]
    #: every pid that was a pane's process, so that none outlives the server
    pane_pids: set[int] = field(default_factory=set)
    _buffer: bytes = b""

    # -- the control protocol ---------------------------------------------------------------
    def _readline(self, deadline: float) -> bytes:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TmuxError("tmux did not answer in time")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise TmuxError("the tmux control client ended")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def command(self, line: str, timeout: float = 10.0) -> list[str]:
        """Run one tmux command; its output lines (TmuxError on %error)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        return self.reply(line.split()[0], timeout)

    def reply(self, what: str, timeout: float = 10.0) -> list[str]:
        """The output of the next command block (the attach itself has one, empty)."""
        deadline = time.monotonic() + timeout
        # notifications (%session-changed, ...) may come before the reply: skip them
        while not self._readline(deadline).startswith(b"%begin "):
            pass
        out: list[bytes] = []
        while True:
            got = self._readline(deadline)
            if got.startswith((b"%end ", b"%error ")):
                text = [o.decode(errors="replace") for o in out]
                if got.startswith(b"%error "):
                    raise TmuxError(f"tmux {what}: {' '.join(text)}")
                return text
            out.append(got)

    # -- what the benchmarks use --------------------------------------------------------------
    def start(self, name: str, argv: Sequence[str], cwd: Path, size: tuple[int, int],
              env: Mapping[str, str] | None = None) -> int:
        """A detached session ``name`` of ``size`` (columns, rows) running ``argv``, with
        ``env`` added to the server's environment; the pane's pid.

        ``env`` goes down the control client's pipe, so a password in it is in no argv.
        """
        cols, rows = size
        extra = "".join(f" -e {quote(f'{k}={v}')}" for k, v in (env or {}).items())
        self.command(f"new-session -d -s {quote(name)} -x {cols} -y {rows} -c {quote(str(cwd))}"
                     f"{extra} " + " ".join(quote(a) for a in argv))
        pid = int(self.command(f"display-message -p -t {quote(name)} '#{{pane_pid}}'")[0])
        self.pane_pids.add(pid)
        return pid

    def capture(self, name: str) -> str:
        """What the pane shows now, as text (no colours)."""
        return "\n".join(self.command(f"capture-pane -p -t {quote(name)}"))

    def dead(self, name: str) -> bool:
        """The pane's process ended (panes stay, with remain-on-exit, to show why)."""
        return self.command(f"display-message -p -t {quote(name)} '#{{pane_dead}}'")[0] == "1"

    def send(self, name: str, *keys: str) -> None:
        """Key presses, named as tmux names them (``4``, ``C-q``, ``Enter``)."""
        self.command(f"send-keys -t {quote(name)} " + " ".join(quote(k) for k in keys))

    def wait_for(self, name: str, found: Callable[[str], bool], timeout: float,
                 poll: float) -> tuple[float, str]:
        """Poll the pane until ``found(screen)``; (the perf_counter time it was seen, the screen).

        The time is taken right after the capture that showed it, so the answer is late by
        at most one poll interval plus one capture round trip.
        """
        deadline = time.monotonic() + timeout
        next_check = time.monotonic() + 0.25
        while True:
            screen = self.capture(name)
            seen = time.perf_counter()
            if found(screen):
                return seen, screen
            now = time.monotonic()
            if now > next_check:  # a dead app or a timeout, checked 4 times a second
                next_check = now + 0.25
                if now > deadline or self.dead(name):
                    raise TmuxError(f"{name}: not on screen after {timeout:.0f} s (the app "
                                    f"{'ended' if self.dead(name) else 'runs'}); the pane "
                                    f"shows:\n{self.capture(name)}")
            time.sleep(poll)

    def stop(self, name: str, keys: Sequence[str] = (), grace: float = 5.0) -> None:
        """Quit the app with ``keys`` (if given), then kill the session and what it ran."""
        with contextlib.suppress(TmuxError):
            pid = int(self.command(f"display-message -p -t {quote(name)} '#{{pane_pid}}'")[0])
            if keys and not self.dead(name):
                self.send(name, *keys)
                end = time.monotonic() + grace
                while time.monotonic() < end and not self.dead(name):
                    time.sleep(0.02)
            self.command(f"kill-session -t {quote(name)}")
            _reap([pid], grace)


def _reap(pids: Sequence[int], grace: float) -> None:
    """End ``pids`` and their descendants: SIGTERM, then SIGKILL after ``grace`` seconds."""
    procs: list[psutil.Process] = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            procs += [proc, *proc.children(recursive=True)]
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _gone, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=grace)


@contextlib.contextmanager
def tmux_server(env: dict[str, str], cwd: Path) -> Iterator[Tmux]:
    """A private tmux server with ``env`` as its global environment, for the block."""
    exe = shutil.which("tmux")
    if exe is None:
        raise SystemExit("tmux is not installed (apt-get install tmux): the terminal "
                         "measures need it")
    socket = f"rfsetup-bench-{uuid.uuid4().hex[:8]}"
    base = [exe, "-L", socket, "-f", "/dev/null"]
    # a keeper session keeps the server up between the measured ones; the control client
    # attaches to it with no-output, so pane output is never streamed to us
    subprocess.run([*base, "new-session", "-d", "-s", "keeper", "-x", "80", "-y", "24",
                    "sleep", "100000"], env=env, cwd=cwd, check=True)
    proc = subprocess.Popen([*base, "-C", "attach-session", "-f", "no-output", "-t", "keeper"],
                            env=env, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    tmux = Tmux(socket, proc)
    server_pid: int | None = None
    try:
        tmux.reply("attach-session")
        server_pid = int(tmux.command("display-message -p '#{pid}'")[0])
        tmux.pane_pids.add(int(tmux.command("display-message -p -t keeper '#{pane_pid}'")[0]))
        # the same terminal for every app: 256 colours, panes kept after exit to show why
        for option in ("default-terminal tmux-256color", "remain-on-exit on",
                       "history-limit 0", "status off"):
            tmux.command(f"set-option -g {option}")
        yield tmux
    finally:
        with contextlib.suppress(TmuxError, OSError, ValueError):
            tmux.command("kill-server", timeout=3)
        with contextlib.suppress(OSError):
            proc.stdin.close()  # type: ignore[union-attr]
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _reap([*tmux.pane_pids, *([server_pid] if server_pid else [])], 3.0)
