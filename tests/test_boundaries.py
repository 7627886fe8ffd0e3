"""The structure holds: the core never imports textual, the headless CLI path loads neither
textual nor rich, the layer contracts of pyproject.toml ([tool.importlinter]) are kept, and no
two rfsetup modules import each other, lazy imports included."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from grimp import ImportGraph

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


# the toolkits themselves: `import textual`, `from rich.text import …`; not a package whose name
# only starts so (textual_serve's process relay, which imports neither: rfsetup serve)
_TOOLKIT_IMPORT = re.compile(r"\s*(import|from)\s+(textual|rich)(\.|\s|$)")


def test_core_sources_never_import_textual() -> None:
    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "rfsetup" / "core").rglob("*.py")
        if any(_TOOLKIT_IMPORT.match(line) for line in path.read_text().splitlines())
    ]
    assert offenders == []


def test_serving_the_app_loads_no_toolkit(tmp_path: Path) -> None:
    """rfsetup serve's own process (its server and textual-serve's relay) loads neither
    textual nor rich: only the app processes it starts do."""
    code = ("import sys, rfsetup.commands.serve, rfsetup.core.webserve as w\n"
            "w._textual_serve(); import textual_serve.app_service, aiohttp.web\n"
            "w.WebServer.create('true').make_app()\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def _lint_imports() -> str:
    script = Path(sys.executable).with_name("lint-imports")
    return str(script) if script.exists() else (shutil.which("lint-imports") or "lint-imports")


def test_import_contracts_are_kept() -> None:
    """lint-imports, as CI or a developer runs it: layers, the UI-free core, the app protected."""
    proc = subprocess.run([_lint_imports(), "--no-cache"], cwd=REPO, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def _graph() -> ImportGraph:
    import grimp

    # what import-linter analyses too: imports under `if TYPE_CHECKING:` never run, others do
    return grimp.build_graph("rfsetup", exclude_type_checking_imports=True, cache_dir=None)


def _cycles(graph: ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(
                        child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles_lazy_imports_included() -> None:
    graph = _graph()
    # the graph holds lazy imports (cli imports the app inside a function) and leaves out the
    # TYPE_CHECKING-only ones (the step screens name the app's type that way)
    assert graph.direct_import_exists(importer="rfsetup.cli", imported="rfsetup.tui.app")
    assert not graph.direct_import_exists(importer="rfsetup.tui.screens.base",
                                          imported="rfsetup.tui.app")
    cycles = _cycles(graph)
    assert cycles == [], [_imports_within(graph, cycle) for cycle in cycles]


def _imports_within(graph: ImportGraph, modules: list[str]) -> list[str]:
    """``a -> b (l.N)`` for each import between the modules of a cycle: what to break."""
    lines = []
    for a in modules:
        for b in modules:
            for detail in graph.get_import_details(importer=a, imported=b):
                lines.append(f"{a} -> {b} (l.{detail['line_number']})")
    return lines


def test_the_cycle_search_finds_a_cycle() -> None:
    """The search itself, on a graph with a lazy two-module cycle added (as main had)."""
    graph = _graph()
    graph.add_import(importer="rfsetup.core.provision", imported="rfsetup.core.sandbox")
    graph.add_import(importer="rfsetup.core.sandbox", imported="rfsetup.core.provision")
    assert ["rfsetup.core.provision", "rfsetup.core.sandbox"] in _cycles(graph)


def test_ruff_check_is_clean() -> None:
    """`ruff check .` as a developer runs it: the lint rules and the textual ban of pyproject."""
    ruff = Path(sys.executable).with_name("ruff")
    command = [str(ruff)] if ruff.exists() else [sys.executable, "-m", "ruff"]
    proc = subprocess.run([*command, "check", "--no-cache", "."], cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
