"""Which steps are done, need attention or are not started yet: pure functions of what is known.

Derived only from core results already on screen (StatusReport, doctor results, .env
validation, the seed plan), so the step list never does I/O of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any


class StepState(Enum):
    """A step's state, always shown as a text symbol too (never colour alone)."""

    DONE = ("✓", "done")
    ATTENTION = ("!", "needs attention")
    NOT_YET = ("·", "not yet")
    UNKNOWN = ("?", "checking")

    @property
    def symbol(self) -> str:
        return self.value[0]

    @property
    def label(self) -> str:
        return self.value[1]


@dataclass(frozen=True)
class Step:
    id: str
    number: int
    title: str


STEPS: tuple[Step, ...] = (
    Step("prerequisites", 1, "Prerequisites"),
    Step("environment", 2, "Environment"),
    Step("database", 3, "Database & role"),
    Step("migrations", 4, "Migrations"),
    Step("seed", 5, "Seed"),
    Step("verify", 6, "Verify"),
)
STEP_IDS = tuple(step.id for step in STEPS)


def step(step_id: str) -> Step:
    return next(s for s in STEPS if s.id == step_id)


#: what a step is for, said after "Next:" (the guide's order)
_NEXT_PURPOSE = {
    "environment": "fill in the .env",
    "database": "create the role and the database",
    "migrations": "build the tables",
    "seed": "insert the plans",
    "verify": "check the tables",
}

#: the marker legend, for the README and the help (one line each)
LEGEND = tuple(f"[{state.symbol}] {text}" for state, text in (
    (StepState.DONE, "done"),
    (StepState.ATTENTION, "needs attention (the step says what)"),
    (StepState.NOT_YET, "not yet (nothing to check until an earlier step is done)"),
    (StepState.UNKNOWN, "not known yet: being checked, or waiting for the first reading"),
))


def next_step(step_id: str) -> Step | None:
    """The step after ``step_id`` in the guide (None after the last)."""
    ids = [s.id for s in STEPS]
    index = ids.index(step_id) + 1
    return STEPS[index] if index < len(STEPS) else None


def next_step_text(step_id: str, key: Callable[[str], str]) -> str:
    """``Next: 3 Database & role (press 3) to create the role and the database.`` ``key``
    maps a binding id to its key as mapped (StepScreen.key)."""
    following = next_step(step_id)
    if following is None:
        return ""
    purpose = _NEXT_PURPOSE.get(following.id)
    return (f"Next: {following.number} {following.title} (press "
            f"{key(f'step-{following.number}')})" + (f" to {purpose}." if purpose else "."))


def checks_state(results: Sequence[Any] | None) -> StepState:
    """Doctor results: any fail needs attention; warnings alone are done (they are honest)."""
    if results is None:
        return StepState.UNKNOWN
    if not results:
        return StepState.NOT_YET
    if any(r.status == "fail" for r in results):
        return StepState.ATTENTION
    return StepState.DONE


def env_state(exists: bool | None, problems: Iterable[Any], missing: Iterable[str]) -> StepState:
    """The .env: absent -> not yet; an error or a guide key unset -> attention; else done."""
    if exists is None:
        return StepState.UNKNOWN
    if not exists:
        return StepState.NOT_YET
    if any(getattr(p, "level", "error") == "error" for p in problems) or any(True for _ in missing):
        return StepState.ATTENTION
    return StepState.DONE


def database_state(report: Any | None) -> StepState:
    """Reachable -> done; no URL -> not yet; any other connection failure -> attention."""
    if report is None:
        return StepState.UNKNOWN
    db = report.database
    if db.reachable:
        return StepState.DONE
    if db.url is None:
        return StepState.NOT_YET
    return StepState.ATTENTION


def migrations_state(report: Any | None) -> StepState:
    """At the single head -> done; never migrated -> not yet; part-way or several heads -> !"""
    if report is None:
        return StepState.UNKNOWN
    if not report.database.reachable:
        return StepState.NOT_YET
    if len(report.heads) > 1 or report.scripts_error is not None:
        return StepState.ATTENTION
    if report.at_head:
        return StepState.DONE
    return StepState.ATTENTION if report.current else StepState.NOT_YET


def seed_state(report: Any | None, seed_report: Any | None) -> StepState:
    """Seeded when a dry run finds nothing to insert or update."""
    if report is None or not report.database.reachable or not report.at_head:
        return StepState.NOT_YET
    if seed_report is None:
        return StepState.UNKNOWN
    if seed_report.inserted or seed_report.updated:
        return StepState.ATTENTION if seed_report.unchanged else StepState.NOT_YET
    return StepState.DONE


def verify_state(report: Any | None, expected: Sequence[str] | None,
                 seeded: bool | None = None, *, checked: bool = True) -> StepState:
    """Done only when every table the models define is there (without the models: the
    database at head with tables) AND the seed is in as the profile expects (``seeded``:
    core.seeding.is_seeded, None when the profile has no seed). ``checked`` False: the
    tables changed since Verify last looked, so it does not know yet."""
    if report is None or not report.database.reachable:
        return StepState.NOT_YET
    present = {t.name for t in report.tables}
    if expected:
        missing = [name for name in expected if name not in present]
        if missing:
            return StepState.ATTENTION if present else StepState.NOT_YET
    elif not (report.at_head and present):
        return StepState.NOT_YET
    if not checked:
        return StepState.UNKNOWN
    return StepState.ATTENTION if seeded is False else StepState.DONE

#: which step fixes a failing doctor check (flutter doctor's "go to it"); None: outside rfsetup
FIXED_IN: dict[str, str | None] = {
    "python": None, "packages": None, "sandbox extras": None, "psql": None, "pg_dump": None,
    "postgresql": "database", "redis": "environment", ".env": "environment",
    "alembic": "migrations",
}


def fixing_step(check: str, *, url_usable: bool = True) -> str | None:
    """The step that fixes ``check``: the .env for REDIS_URL and the guide's keys, and for
    PostgreSQL when DATABASE_URL is unset or malformed (``url_usable`` False); the Database
    step when the URL is usable (the role or database may be missing); Migrations for the
    scripts. None for what is fixed outside rfsetup (Python, packages, client tools)."""
    if check == "postgresql" and not url_usable:
        return "environment"
    return FIXED_IN.get(check)
