"""The core never imports textual; the headless CLI path loads neither textual nor rich."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys, io, contextlib
import rfsetup.cli as cli
import rfsetup.core
import pkgutil, importlib
for mod in pkgutil.iter_modules(rfsetup.core.__path__):
    importlib.import_module(f"rfsetup.core.{mod.name}")
for mod in pkgutil.iter_modules(__import__("rfsetup.commands").commands.__path__):
    importlib.import_module(f"rfsetup.commands.{mod.name}")
buf = io.StringIO()
with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
    for argv in ARGVS:
        try:
            cli.main(argv)
        except SystemExit:
            pass
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "rich"))))
"""


@pytest.mark.parametrize("argvs", [
    [["status", "--json"], ["migrate", "history"], ["doctor", "--json"], ["env", "show"]],
    [["--help"]],
])
def test_headless_path_imports_no_textual(argvs: list[list[str]], tmp_path: Path) -> None:
    code = f"ARGVS = {argvs!r}\n" + PROBE
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgresql://u:p@127.0.0.1:1/db",
           "REDIS_URL": "redis://127.0.0.1:1/0", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == [], f"headless path imported {loaded}"


def test_core_sources_never_import_textual() -> None:
    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "rfsetup" / "core").rglob("*.py")
        if any(line.lstrip().startswith(("import textual", "from textual", "import rich",
                                         "from rich"))
               for line in path.read_text().splitlines())
    ]
    assert offenders == []
