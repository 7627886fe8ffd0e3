"""Step 5, Seed: the guide's subscription plans, what will be inserted or updated, then apply.

The plan is a dry run of rfsetup.core.seeding.seed (nothing written); ``a`` applies it (an
idempotent upsert in one transaction) and shows the result.
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from rfsetup.tui.messages import DevSeedApplied, OperationFailed, SeedApplied, SeedPlanned
from rfsetup.tui.screens.base import StepScreen
from rfsetup.tui.state import StepState, next_step_text, seed_state
from rfsetup.tui.warmup import ensure_imported

ACTIONS = {"inserted": ("+ insert", "green"), "updated": ("~ update", "yellow"),
           "unchanged": ("= unchanged", "dim")}
#: the same rows after an apply: what was done, not what a second run would do
DONE = {"inserted": ("+ inserted", "bold green"), "updated": ("~ updated", "bold yellow"),
        "unchanged": ("= unchanged", "dim")}


def action_of(report: Any, plan_id: str) -> str:
    for attr in ("inserted", "updated", "unchanged"):
        if plan_id in getattr(report, attr):
            return attr
    return "unchanged"


def report_text(report: Any, *, applied: bool) -> Text:
    verbs = ("inserted", "updated", "unchanged") if applied else \
        ("to insert", "to update", "unchanged")
    text = Text()
    for verb, ids in zip(verbs, (report.inserted, report.updated, report.unchanged),
                         strict=True):
        text.append(f"{verb}: ", style="bold")
        text.append((", ".join(ids) or "none") + "   ")
    text.rstrip()
    return text


class SeedScreen(StepScreen):
    """The plans from seeds/plans.json with the action seeding would take on each."""

    STEP_ID = "seed"
    BINDINGS = [
        Binding("a", "apply", "Apply", id="seed-apply",
                tooltip="Insert or update the plans (idempotent)"),
        Binding("r", "plan", "Re-check", id="seed-plan",
                tooltip="Check again what seeding would do"),
        Binding("f", "dev_fixtures", "Dev data", id="seed-dev",
                tooltip="Add sample dev data (idempotent; never on production)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.report: Any | None = None
        self.plans: list[dict[str, Any]] = []
        self.applied: Any | None = None

    def compose(self) -> ComposeResult:
        yield Static("The guide's subscription plans (seeds/plans.json), upserted: running it "
                     "twice changes nothing.", classes="step-intro")
        yield DataTable(id="seed-table", cursor_type="row")
        yield Static("", id="seed-features")
        yield Static(Text("checking what seeding would do…", style="dim"), id="seed-summary")
        yield Static("", id="seed-dev")

    def on_mount(self) -> None:
        table = self.query_one("#seed-table", DataTable)
        for name in ("action", "id", "name", "price", "period", "api req/mo", "ai tokens/mo"):
            table.add_column(name, key=name)

    def first_focus(self) -> Any:
        return self.query_one("#seed-table", DataTable)

    def step_state(self, report: Any | None) -> StepState:
        return seed_state(report, self.report)

    def status_changed(self, report: Any, previous: Any | None) -> None:
        moved = previous is None or previous.current != report.current or \
            previous.database.reachable != report.database.reachable
        if moved:
            self.applied = None
        if moved and report.database.reachable and report.at_head and self.live:
            self.plan()
        elif moved and not report.at_head:
            self.report = None
            self.query_one("#seed-summary", Static).update(Text(
                "The database is not at head yet: run the migrations first (step 4).",
                style="yellow"))

    def action_plan(self) -> None:
        self.plan()

    def action_apply(self) -> None:
        self.query_one("#seed-summary", Static).update(Text("seeding…", style="italic"))
        self.apply()

    # -- workers ----------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="seed")
    def plan(self) -> None:
        ensure_imported()
        from rfsetup.core.seeding import load_plans, seed

        plans = self.attempt("read the seed file", load_plans)
        if plans is None:
            return
        report = self.attempt("check the seed", lambda: seed(self.settings, dry_run=True),
                              silent=True)
        if report is not None:
            self.post_message(SeedPlanned(report, plans))

    @work(thread=True, exclusive=True, exit_on_error=False, group="seed")
    def apply(self) -> None:
        ensure_imported()
        from rfsetup.core.seeding import load_plans, seed

        report = self.attempt("seed the plans", lambda: seed(self.settings))
        if report is None:
            return
        self.post_message(SeedApplied(report))
        # what a second run would do: nothing, which is what the step list shows as done
        again = self.attempt("check the seed", lambda: seed(self.settings, dry_run=True),
                             silent=True)
        if again is not None:
            self.post_message(SeedPlanned(again, load_plans()))

    # -- handlers ---------------------------------------------------------------------------
    def on_seed_planned(self, message: SeedPlanned) -> None:
        self.show_plan(message.report, message.plans)

    def show_plan(self, report: Any, plans: list[dict[str, Any]]) -> None:
        self.report, self.plans = report, plans
        table = self.query_one("#seed-table", DataTable)
        table.clear()
        # after an apply the rows say what it did (the dry run that follows finds nothing to
        # do, which would read as "unchanged" for the rows just inserted)
        shown, labels = (self.applied, DONE) if self.applied is not None else (report, ACTIONS)
        for plan in plans:
            label, style = labels[action_of(shown, plan["id"])]
            table.add_row(Text(label, style=style), plan["id"], plan["name"],
                          f"{plan['price_cents'] / 100:,.2f} {plan['currency']}",
                          plan["billing_period"], str(plan["api_requests_per_month"]),
                          str(plan["ai_tokens_per_month"]), key=plan["id"])
        features = Text()
        for plan in plans:
            features.append(f"{plan['id']}: ", style="bold")
            features.append(json.dumps(plan["features"]) + "\n")
        features.rstrip()
        self.query_one("#seed-features", Static).update(features)
        if self.applied is None:
            summary = report_text(report, applied=False)
            summary.append(f"\nPress {self.key('seed-apply')} to apply." if report.changed else
                           "\n✓ Seeded: nothing to do. " +
                           next_step_text(self.STEP_ID, self.key), style="bold")
            self.query_one("#seed-summary", Static).update(summary)

    def on_seed_applied(self, message: SeedApplied) -> None:
        self.applied = message.report
        if self.report is not None and self.plans:
            self.show_plan(self.report, self.plans)  # the rows: + inserted, ~ updated
        text = Text("✓ Seed applied. ", style="bold green")
        text.append_text(report_text(message.report, applied=True))
        text.append("\n" + next_step_text(self.STEP_ID, self.key), style="bold")
        self.query_one("#seed-summary", Static).update(text)

    def on_operation_failed(self, message: OperationFailed) -> None:
        # shown in place as well (e.g. "not migrated"): the modal is only for explicit actions
        text = Text(f"✗ {message.error.message}", style="red")
        if message.error.hint:
            text.append(f"\nhint: {message.error.hint}", style="italic")
        where = "#seed-dev" if message.operation == "add the dev fixtures" else "#seed-summary"
        self.query_one(where, Static).update(text)

    # -- dev fixtures (rfsetup seed --dev) ------------------------------------------------------
    def action_dev_fixtures(self) -> None:
        line = self.query_one("#seed-dev", Static)
        if self.settings.production:  # the production guard
            text = Text("✗ dev fixtures are never written to a production target",
                        style="bold red")
            text.append(f"\nproduction because {self.settings.production}", style="dim")
            line.update(text)
            return
        line.update(Text("adding the dev fixtures…", style="italic"))
        self.add_dev_fixtures()

    @work(thread=True, exclusive=True, exit_on_error=False, group="seed-dev")
    def add_dev_fixtures(self) -> None:
        ensure_imported()
        from rfsetup.core.devseed import seed_dev

        report = self.attempt("add the dev fixtures", lambda: seed_dev(self.settings))
        if report is not None:
            self.post_message(DevSeedApplied(report))

    def on_dev_seed_applied(self, message: DevSeedApplied) -> None:
        report = message.report
        if report.changed:
            added = sum(report.added.values())
            text = Text(f"✓ Dev fixtures added: {added} rows in {len(report.added)} tables",
                        style="bold green")
        else:
            text = Text(f"= Dev fixtures: all {sum(report.kept.values())} rows already there",
                        style="bold")
        text.append("\nremove them: rfsetup seed --dev --remove", style="dim")
        self.query_one("#seed-dev", Static).update(text)
