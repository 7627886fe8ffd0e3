"""A failure nobody classified is one line and exit 1, with no traceback and no password."""

from __future__ import annotations

import pytest

from rfsetup import cli
from rfsetup.commands import status as status_command


def test_unexpected_failure_is_one_line_without_secrets(monkeypatch, capsys) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:hunter2secret@127.0.0.1:1/db")

    def broken(args, ctx):
        raise ValueError(f"boom while using {ctx.database_url}")

    monkeypatch.setattr(status_command, "status", broken)
    code = cli.main(["status"])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err
    assert "rfsetup status failed unexpectedly" in err
    assert "hunter2secret" not in err and "***" in err
    assert "RFSETUP_DEBUG=1" in err


def test_debug_shows_the_traceback(monkeypatch) -> None:
    monkeypatch.setenv("RFSETUP_DEBUG", "1")
    monkeypatch.setattr(status_command, "status", lambda args, ctx: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        cli.main(["status"])
