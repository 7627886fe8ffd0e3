"""The doctor checks as a table: a text symbol and word for each status, never colour alone."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

SYMBOLS = {"ok": ("✓ ok", "green"), "warn": ("! warn", "yellow"), "fail": ("✗ fail", "red")}


def status_cell(status: str) -> Text:
    label, style = SYMBOLS.get(status, (f"? {status}", ""))
    return Text(label, style=f"bold {style}".strip())


class CheckTable(DataTable):
    """One row per CheckResult, keyed by the check's name (a re-run replaces the rows)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, id=id)
        self.results: dict[str, Any] = {}

    def on_mount(self) -> None:
        self.add_column("status", key="status", width=6)
        self.add_column("check", key="check")
        self.add_column("detail", key="detail")

    def reset(self) -> None:
        self.results.clear()
        self.clear()

    def add_result(self, result: Any) -> None:
        """Add a check's row, or replace it when the same check arrives again."""
        if result.name in self.results:
            self.update_cell(result.name, "status", status_cell(result.status))
            self.update_cell(result.name, "detail", result.detail)
        else:
            self.add_row(status_cell(result.status), result.name, result.detail, key=result.name)
        self.results[result.name] = result

    def selected_result(self) -> Any | None:
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key((self.cursor_row, 0))
        return self.results.get(str(row_key.value))
