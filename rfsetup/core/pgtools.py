"""The PostgreSQL client programs: finding them, their versions, and running one.

Machines often carry several client versions (/usr/bin, /usr/lib/postgresql/*/bin, Homebrew,
pgserver's bundle) and pg_dump refuses a server newer than itself, so the tools are picked by
version: the same major as the server if present, else the newest one that is new enough. The
backups and ``rfsetup doctor`` use this one discovery and this one version parser.

A tool runs through ``run_tool``: its own process group (the terminal's Ctrl-C reaches rfsetup,
which decides), tied to rfsetup so it cannot outlive it (on Linux the kernel sends it SIGKILL
when rfsetup dies, even by SIGKILL: ``PR_SET_PDEATHSIG``; everywhere it is killed when the
waiting code is left by an exception), polled so that a ``cancel`` event stops it and progress
can report the elapsed time. Passwords reach the tools through PGPASSWORD, never argv.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rfsetup.core.embedded import postgres_bin_dir
from rfsetup.core.errors import RfsetupError
from rfsetup.core.settings import ENV_PG_BINDIR, libpq_params, process_pg_bindir

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

ENV_BINDIR = ENV_PG_BINDIR
# distribution (Debian/Ubuntu, RHEL), Homebrew, Postgres.app and Windows installer locations
_BIN_PATTERNS = (
    "/usr/lib/postgresql/*/bin",
    "/usr/pgsql-*/bin",
    "/opt/homebrew/opt/postgresql@*/bin",
    "/usr/local/opt/postgresql@*/bin",
    "/Applications/Postgres.app/Contents/Versions/*/bin",
    "C:/Program Files/PostgreSQL/*/bin",
)
# "pg_dump (PostgreSQL) 16.2", "psql (PostgreSQL) 15.4 (Debian 15.4-2)", "… 17beta1"
_VERSION_RE = re.compile(r"\(PostgreSQL\)\s+(\d+(?:\.\d+)?[0-9A-Za-z.]*)")
_POLL = 0.1


# -- versions --------------------------------------------------------------------------------
def parse_version(output: str) -> str | None:
    """The version in a tool's ``--version`` output ("16.2", "17beta1"), None if absent."""
    match = _VERSION_RE.search(output)
    return match.group(1) if match else None


def version_major(version: str) -> tuple[int, ...]:
    """"16.2" -> (16,); "9.6.24" -> (9, 6); "17beta1" -> (17,): a comparable major version."""
    parts = [int(p) for p in re.findall(r"\d+", version)[:2]] or [0]
    return (parts[0],) if parts[0] >= 10 else tuple(parts)


def server_major(server_version_num: int) -> tuple[int, ...]:
    """160002 -> (16,); 90624 -> (9, 6): PostgreSQL's major version as a comparable tuple."""
    if server_version_num >= 100000:
        return (server_version_num // 10000,)
    return (server_version_num // 10000, server_version_num // 100 % 100)


def format_major(major: tuple[int, ...]) -> str:
    return ".".join(str(p) for p in major)


@functools.lru_cache(maxsize=64)
def _cached_version(path: str) -> str | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10,
                             check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_version(out)


def tool_version(path: Path | str) -> str | None:
    """The version ``path --version`` reports (e.g. "16.2"), None if it does not run."""
    return _cached_version(str(path))


# -- discovery -------------------------------------------------------------------------------
def exe(bin_dir: Path, name: str) -> Path:
    """The program ``name`` in ``bin_dir`` (``name.exe`` on Windows)."""
    return bin_dir / (f"{name}.exe" if os.name == "nt" else name)


def candidate_bin_dirs(tool: str = "pg_dump", bin_dir: Path | None = None) -> list[Path]:
    """Directories holding ``tool``, most specific first (deduplicated).

    ``bin_dir`` (``Settings.pg_bindir``, RFSETUP_PG_BINDIR) alone when given; else PATH, the
    distribution and Homebrew locations, and pgserver's bundled binaries. Called without it
    (no Settings at hand), the process's RFSETUP_PG_BINDIR is asked (``process_pg_bindir``).
    """
    explicit = bin_dir if bin_dir is not None else process_pg_bindir()
    if explicit:
        return [explicit]
    dirs: list[Path] = []
    found = shutil.which(tool)
    if found:
        dirs.append(Path(found).parent)
    for pattern in _BIN_PATTERNS:
        dirs.extend(Path(p) for p in sorted(glob.glob(pattern), reverse=True))
    bundled = postgres_bin_dir()
    if bundled is not None:
        dirs.append(bundled)
    unique: list[Path] = []
    for d in dirs:
        if d not in unique and exe(d, tool).is_file():
            unique.append(d)
    return unique


@dataclass(frozen=True)
class PgTools:
    """A directory of PostgreSQL client programs of one version."""

    bin_dir: Path
    version: str
    major: tuple[int, ...]

    def path(self, name: str) -> Path:
        return exe(self.bin_dir, name)

    def has(self, name: str) -> bool:
        return self.path(name).is_file()


def install_hint(major: tuple[int, ...]) -> str:
    """How to get client tools of PostgreSQL ``major`` or newer."""
    wanted = format_major(major)
    return (f"install postgresql-client-{wanted} (Debian/Ubuntu: sudo apt-get install "
            f"postgresql-client-{wanted}; macOS: brew install postgresql@{wanted}) or point "
            f"{ENV_BINDIR} at a PostgreSQL {wanted}+ bin directory")


def choose_tools(
    server_version_num: int,
    *,
    need: Sequence[str] = ("pg_dump",),
    candidates: Sequence[Path] | None = None,
    bin_dir: Path | None = None,
) -> PgTools:
    """The client tools to use against a server: same major if present, else the newest newer.

    ``candidates``: the directories to consider (default ``candidate_bin_dirs(bin_dir=…)``).
    Raises RfsetupError when none is found or all are older than the server (with the fix).
    """
    want = server_major(server_version_num)
    dirs = candidate_bin_dirs(bin_dir=bin_dir) if candidates is None else list(candidates)
    usable: list[PgTools] = []
    too_old: list[PgTools] = []
    for d in dirs:
        version = tool_version(exe(d, "pg_dump"))
        if version is None:
            continue
        tools = PgTools(d, version, version_major(version))
        if not all(tools.has(name) for name in need):
            continue
        (usable if tools.major >= want else too_old).append(tools)
    if usable:
        exact = [t for t in usable if t.major == want]
        return exact[0] if exact else max(usable, key=lambda t: t.major)
    if too_old:
        newest = max(too_old, key=lambda t: t.major)
        raise RfsetupError(
            f"pg_dump {newest.version} ({newest.path('pg_dump')}) is older than the server "
            f"(PostgreSQL {format_major(want)}) and cannot dump it",
            hint=install_hint(want),
            cause="pg_dump only dumps servers of its own major version or older",
            kind="pg_dump_too_old",
        )
    raise RfsetupError(f"{', '.join(need)} not found", hint=install_hint(want),
                       kind="pg_dump_missing")


# -- connection parameters -------------------------------------------------------------------
def password(url: URL) -> str | None:
    """The password libpq would use: the URL's userinfo or its ``?password=``."""
    value = libpq_params(url).get("password")
    return None if value is None else str(value)


def conninfo(url: URL, application_name: str) -> str:
    """A libpq conninfo string for ``url`` WITHOUT the password (that goes through PGPASSWORD)."""
    from psycopg2.extensions import make_dsn

    params = {k: str(v) for k, v in libpq_params(url).items() if k != "password"}
    params["application_name"] = application_name
    return make_dsn(**params)


def tool_env(url: URL, **extra: str) -> dict[str, str]:
    """The tools' environment: PGPASSWORD from the URL; the user's PGPASSWORD/PGOPTIONS dropped
    (the URL is what rfsetup targets, and PGOPTIONS would change the sessions' settings)."""
    env = dict(os.environ)
    for key in ("PGPASSWORD", "PGOPTIONS"):
        env.pop(key, None)
    secret = password(url)
    if secret is not None:
        env["PGPASSWORD"] = secret
    env.update(extra)
    return env


def scrub(text: str, url: URL) -> str:
    """``text`` with the URL's password (userinfo or query) replaced by ``***``."""
    for secret in {str(url.password or ""), password(url) or ""}:
        if secret:
            text = text.replace(secret, "***")
    return text


def tail(text: str, url: URL, lines: int = 3) -> str:
    """The last few error lines of a tool's stderr (all lines when none says error), scrubbed."""
    kept = [ln.strip() for ln in scrub(text, url).strip().splitlines() if ln.strip()]
    errors = [ln for ln in kept if "error" in ln.lower() or "fatal" in ln.lower()]
    return " | ".join((errors or kept)[-lines:]) or "(no output)"


# -- running a tool --------------------------------------------------------------------------
@dataclass(frozen=True)
class ToolRun:
    """How a tool run ended: exit status, its output, and whether ``cancel`` stopped it."""

    returncode: int
    stdout: str
    stderr: str
    cancelled: bool
    elapsed: float


# Run by a fresh interpreter between rfsetup and the program, never in the forked child: Python
# code between fork and exec (a preexec_fn) can block forever on a lock another thread held at
# the fork, and Popen then waits for it forever (cpython#120998); the TUI starts its tools and
# its runner child from worker threads while others run.
_TIED_EXEC = """import os, sys
try:
    import ctypes
    ctypes.CDLL(None).prctl(1, int(sys.argv[1]), 0, 0, 0)  # PR_SET_PDEATHSIG
except Exception:
    pass
if os.getppid() != int(sys.argv[2]):
    os._exit(1)
try:
    os.execv(sys.argv[3], sys.argv[3:])
except OSError as exc:
    sys.stderr.write(f"{sys.argv[3]}: {exc.strerror}\\n")
    os._exit(127)
"""


def tied(argv: Sequence[str], sig: int = signal.SIGKILL) -> list[str]:
    """``argv`` to start so that Linux sends ``sig`` (SIGKILL) to the program when rfsetup
    dies (PR_SET_PDEATHSIG, kept across exec).

    A small ``python -I -S`` sets it and execs the program (about 10 ms), so no Python code
    runs between fork and exec here. The signal follows the starting *thread*; run_tool waits
    in that thread, so it outlives the program. A program that is not there raises
    FileNotFoundError / PermissionError as Popen would. Elsewhere (macOS, BSD) there is no
    equivalent: ``argv`` is returned as is, and the program is killed when the waiting code is
    left instead.
    """
    argv = [str(a) for a in argv]
    if not sys.platform.startswith("linux"):
        return argv
    program = argv[0] if os.sep in argv[0] else shutil.which(argv[0])
    if program is None or not os.path.isfile(program):
        raise FileNotFoundError(2, "No such file or directory", argv[0])
    if not os.access(program, os.X_OK):
        raise PermissionError(13, "Permission denied", program)
    return [sys.executable, "-I", "-S", "-c", _TIED_EXEC, str(int(sig)), str(os.getpid()),
            program, *argv[1:]]


def kill(proc: subprocess.Popen[str]) -> None:
    """Kill ``proc`` and its process group, and reap it."""
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            if os.name == "posix":
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
    with contextlib.suppress(Exception):
        proc.wait(timeout=10)


def run_tool(
    argv: Sequence[str],
    *,
    env: dict[str, str],
    cancel: threading.Event | None = None,
    on_tick: Callable[[float], None] | None = None,
    on_cancel: Callable[[], None] | None = None,
    grace: float = 10.0,
    capture_stdout: bool = False,
) -> ToolRun:
    """Run a client tool to completion, or until ``cancel`` is set.

    ``on_tick(elapsed)`` is called about once a second while it runs. On cancel, ``on_cancel``
    (default: kill it) is called once; if the tool has not ended ``grace`` seconds later it is
    killed. Any exception here (KeyboardInterrupt included) kills it before propagating.
    """
    start = time.monotonic()
    proc = subprocess.Popen(
        tied(argv), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if capture_stdout else subprocess.DEVNULL,
        stderr=subprocess.PIPE, env=env, encoding="utf-8", errors="replace",
        start_new_session=os.name == "posix")
    cancelled_at: float | None = None
    next_tick = start + 1.0
    try:
        while True:
            try:
                out, err = proc.communicate(timeout=_POLL)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if cancel is not None and cancel.is_set() and cancelled_at is None:
                cancelled_at = now
                try:
                    (on_cancel or (lambda: kill(proc)))()
                except Exception:  # e.g. the connection to cancel through is gone
                    kill(proc)
            elif cancelled_at is not None and now - cancelled_at > grace:
                kill(proc)
            if on_tick is not None and now >= next_tick and cancelled_at is None:
                on_tick(now - start)
                next_tick += 1.0
    except BaseException:
        kill(proc)
        raise
    return ToolRun(proc.returncode, out or "", err or "", cancelled_at is not None,
                   time.monotonic() - start)
