"""What the CLI tests share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rfsetup.cli import main
from tests.conftest import ALEMBIC_INI

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        project_dir: Path) -> Run:
    """rfsetup in-process, in its own project directory: run(url, *argv, ini=...) ->
    (exit code, stdout, stderr); never a traceback."""

    def _run(url: str, *argv: str, ini: Path = ALEMBIC_INI) -> tuple[int, str, str]:
        monkeypatch.setenv("DATABASE_URL", url)
        code = main(["-c", str(ini), *argv])
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err

    return _run
