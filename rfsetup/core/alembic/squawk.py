"""squawk's findings on a preview's SQL, attributed to the revision they are in.

Each revision's SQL is linted as its own file. What is not the revision's own doing is left
out: Alembic's bookkeeping on the version table; the ``BEGIN``/``COMMIT`` that env.py wraps the
whole range in when revisions share one transaction (squawk is told the statements run inside a
transaction instead); and the "missing lock_timeout / statement_timeout" rules, because rfsetup
sets both on every connection of a run (``excluded_rules``, stated in ``timeout_note``; a
timeout turned off with 0 keeps its rule). A
revision with no offline SQL has nothing to lint.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rfsetup.core.alembic.failures import first_line
from rfsetup.core.alembic.sqlpreview import Preview, PreviewStep
from rfsetup.core.errors import RfsetupError

#: squawk rules that rfsetup's session settings answer (with both timeouts on, the defaults)
TIMEOUT_RULES = ("require-lock-timeout", "require-statement-timeout", "require-timeout-settings")
_WRAPPER = re.compile(r"^\s*(BEGIN|COMMIT)\s*;\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class LintFinding:
    """One squawk finding, attributed to the revision whose SQL it is in (line is 1-based)."""

    revision: str | None
    rule: str
    message: str
    level: str
    line: int | None
    help: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"revision": self.revision, "rule": self.rule, "message": self.message,
                "level": self.level, "line": self.line, "help": self.help}


def find_squawk() -> Path | None:
    """squawk (squawk-cli) next to this Python, else on PATH."""
    name = "squawk.exe" if os.name == "nt" else "squawk"
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return beside
    found = shutil.which("squawk")
    return Path(found) if found else None


#: each timeout setting and the squawk rule it answers
_RULE_OF = {"lock_timeout": "require-lock-timeout",
            "statement_timeout": "require-statement-timeout"}


def _disabled(value: str) -> bool:
    """``0`` (any unit) turns a PostgreSQL timeout off."""
    return re.fullmatch(r"0+(\.0*)?\s*[a-z]*", value.strip().lower()) is not None


def excluded_rules(timeouts: dict[str, str]) -> tuple[str, ...]:
    """The missing-timeout rules that rfsetup's session settings answer: a timeout set to 0
    (RFSETUP_STATEMENT_TIMEOUT=0) is off, so squawk's rule for it stands."""
    on = [name for name, value in timeouts.items() if name in _RULE_OF and not _disabled(value)]
    rules = [_RULE_OF[name] for name in on]
    if len(on) == len(_RULE_OF):
        rules.append("require-timeout-settings")  # squawk's combined rule, in newer versions
    return tuple(rules)


def timeout_note(timeouts: dict[str, str]) -> str:
    """What rfsetup sets on every connection of a run, and so which of squawk's
    missing-timeout rules are left out (true for the values in force)."""
    on = {k: v for k, v in timeouts.items() if k in _RULE_OF and not _disabled(v)}
    off = [k for k in timeouts if k in _RULE_OF and k not in on]
    if not on:
        return ("rfsetup sets no lock_timeout or statement_timeout (both 0), so squawk's "
                "missing-timeout findings stand")
    settings = ", ".join(f"{k}={v}" for k, v in on.items())
    note = (f"rfsetup sets {settings} on every connection of a run, so squawk's "
            f"missing-{'/'.join(k.removesuffix('_timeout') for k in on)}-timeout "
            f"{'rule does' if len(on) == 1 else 'rules do'} not apply")
    if off:
        note += f" ({', '.join(off)} is 0: off, its finding stands)"
    return note


def lintable_sql(preview: Preview, step: PreviewStep) -> str:
    """The step's SQL as squawk should see it (the shared transaction's wrapper blanked, line
    numbers kept)."""
    if preview.per_migration:
        return step.sql
    return "\n".join("" if _WRAPPER.match(line) else line for line in step.sql.split("\n"))


def default_timeouts() -> dict[str, str]:
    """The session timeouts when no Settings are at hand: rfsetup's defaults."""
    from rfsetup.core.settings import DEFAULT_LOCK_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT

    return {"lock_timeout": DEFAULT_LOCK_TIMEOUT, "statement_timeout": DEFAULT_STATEMENT_TIMEOUT}


def lint(preview: Preview, *, pg_version: str | None = None,
         timeouts: dict[str, str] | None = None) -> list[LintFinding]:
    """squawk's findings on each revision's SQL (see the module docstring for what is left out).

    ``timeouts`` are the session settings the run will have (``locking.session_timeouts(
    settings)``: RFSETUP_LOCK_TIMEOUT and RFSETUP_STATEMENT_TIMEOUT; default: rfsetup's
    defaults); only the rules they answer are left out."""
    rules = excluded_rules(default_timeouts() if timeouts is None else timeouts)
    steps = [s for s in preview.steps if s.offline and s.sql]
    if not steps:
        return []
    exe = find_squawk()
    if exe is None:
        raise RfsetupError("squawk is not installed, so the SQL cannot be linted",
                           hint="pip install squawk-cli (a dependency of rfsetup: reinstall it)",
                           kind="squawk_missing")
    table = preview.version_table.rsplit(".", 1)[-1]
    with tempfile.TemporaryDirectory(prefix="rfsetup-lint-") as tmp:
        files: dict[str, PreviewStep] = {}
        for index, step in enumerate(steps):
            path = Path(tmp) / f"{index:05d}.sql"
            path.write_text(lintable_sql(preview, step))
            files[str(path)] = step
        argv = [str(exe), "--reporter", "json"] + ([f"--exclude={','.join(rules)}"]
                                                    if rules else [])
        if not preview.per_migration:
            argv.append("--assume-in-transaction")
        if pg_version:
            argv.append(f"--pg-version={pg_version}")
        try:
            proc = subprocess.run([*argv, *files], capture_output=True, text=True,
                                  timeout=300, check=False, cwd=tmp)
        except (OSError, subprocess.SubprocessError) as exc:
            raise RfsetupError("squawk could not run", cause=str(exc),
                               kind="squawk_failed") from None
    try:
        raw = json.loads(proc.stdout or "[]")
    except ValueError:
        raw = None
    if proc.returncode not in (0, 1) or not isinstance(raw, list):
        raise RfsetupError(f"squawk failed (exit {proc.returncode})",
                           cause=first_line(proc.stderr or proc.stdout), kind="squawk_failed")
    findings: list[LintFinding] = []
    for item in raw:
        step = files.get(str(item.get("file")))
        line = item.get("line")
        line_no = int(line) + 1 if isinstance(line, int) else None  # squawk counts from 0
        if step is not None and line_no is not None and \
                table in _statement_at(step.sql, line_no):
            continue  # Alembic's bookkeeping (the version table), not the revision's DDL
        findings.append(LintFinding(
            revision=step.revision if step else None,
            rule=str(item.get("rule_name") or "?"),
            message=str(item.get("message") or ""),
            level=str(item.get("level") or "warning").lower(),
            line=line_no,
            help=item.get("help"),
        ))
    return findings


def _statement_at(sql: str, line_no: int) -> str:
    """The text of the ';'-terminated statement that covers 1-based ``line_no``."""
    lines = sql.splitlines()
    start = line_no - 1
    while start > 0 and not lines[start - 1].rstrip().endswith(";"):
        start -= 1
    end = line_no - 1
    while end < len(lines) - 1 and not lines[end].rstrip().endswith(";"):
        end += 1
    return "\n".join(lines[start:end + 1])
