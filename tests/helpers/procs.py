"""Watching real processes in tests (psutil): is it still running, wait until it is gone."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import psutil


def alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped by whoever adopted it, is not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_gone(pids: Iterable[int], timeout: float = 5.0) -> list[int]:
    """Wait up to ``timeout`` seconds for ``pids`` to end; returns those still running."""
    pending = list(pids)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        pending = [p for p in pending if alive(p)]
        time.sleep(0.05)
    return [p for p in pending if alive(p)]


def wait_for(predicate: Callable[[], object], timeout: float = 20.0, what: str = "it") -> object:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def programs(name: str) -> list[int]:
    """Pids of running processes whose executable is called ``name`` (e.g. pg_dump)."""
    found = []
    for proc in psutil.process_iter(["name", "status"]):
        if proc.info["name"] == name and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc.pid)
    return found
