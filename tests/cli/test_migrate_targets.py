"""A target that cannot name a revision is refused before connecting or locking (exit 2)."""

from __future__ import annotations

import pytest

from rfsetup.cli import main
from tests.conftest import ALEMBIC_INI


@pytest.mark.parametrize("argv", [
    ["migrate", "up", "nonsense"],
    ["migrate", "up", "-1"],
    ["migrate", "down", "+1", "--yes"],
    ["migrate", "down", "nonsense", "--yes"],
    ["migrate", "down", "nonsense-1", "--yes"],
    ["migrate", "stamp", "nonsense", "--yes"],
    ["migrate", "stamp", "-1", "--yes"],
])
def test_bad_targets_exit_2_without_touching_the_server(argv: list[str], monkeypatch,
                                                         capsys) -> None:
    # nothing listens on port 1: a connection attempt would exit 3, not 2
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@127.0.0.1:1/raptorflow")
    code = main(["-c", str(ALEMBIC_INI), *argv])
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert "lock" not in captured.out + captured.err
    assert "hint:" in captured.err


@pytest.mark.parametrize("target", ["head-1", "0002_billing", "0003", "base", "heads", "-2"])
def test_good_targets_pass_the_check(target: str, fresh_db: str, monkeypatch, capsys) -> None:
    monkeypatch.setenv("DATABASE_URL", fresh_db)
    direction = "down" if target in ("-2", "base") else "up"
    argv = ["migrate", direction, target, "--no-backup"] + (["--yes"] if direction == "down"
                                                            else [])
    assert main(["-c", str(ALEMBIC_INI), *argv]) == 0, capsys.readouterr().err


def test_history_during_an_outage_shows_the_scripts_and_exits_3(monkeypatch, capsys) -> None:
    from rfsetup.core.embedded import free_port

    monkeypatch.setenv("DATABASE_URL", f"postgresql://u:secret@127.0.0.1:{free_port()}/db")
    code = main(["-c", str(ALEMBIC_INI), "migrate", "history"])
    captured = capsys.readouterr()
    assert code == 3
    for rev in ("0001_auth", "0002_billing", "0003_intel", "0004_production_indexes"):
        assert rev in captured.out
    assert "unknown" in captured.out
    assert "no PostgreSQL server is accepting connections" in captured.err
    assert "secret" not in captured.out + captured.err
    # scripts reading JSON get the error alone, never a history that looks current
    assert main(["-c", str(ALEMBIC_INI), "migrate", "history", "--json"]) == 3
    assert capsys.readouterr().out == ""
