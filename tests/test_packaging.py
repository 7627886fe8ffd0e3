"""What a wheel carries: every package, the stylesheet, and the seed data, read from the wheel
itself (not from the source checkout an editable install points at)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys
import rfsetup
from rfsetup.core import seeding
print(json.dumps({"package": rfsetup.__file__, "seeds": str(seeding.seeds_dir()),
                  "plans": seeding.load_plans()}))
"""


def _declared_packages() -> list[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    return config["tool"]["setuptools"]["packages"]


def test_every_package_under_rfsetup_is_declared() -> None:
    """pyproject lists its packages (seeds/ is mapped in, which discovery cannot do): a new
    package directory missing from the list would be missing from every wheel."""
    found = {".".join(init.parent.relative_to(REPO).parts)
             for init in (REPO / "rfsetup").rglob("__init__.py")}
    assert found <= set(_declared_packages()), sorted(found - set(_declared_packages()))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the sources (pip builds in the tree it is given, and a
    stale build/ there could carry files the sources no longer have)."""
    out = tmp_path_factory.mktemp("wheel")
    src = out / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".rfsetup",
        ".hypothesis", "screenshots"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps",
                           "--quiet", "-w", str(out)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (built,) = out.glob("rfsetup-*.whl")
    return built


def test_the_wheel_holds_the_packages_and_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in _declared_packages():
        assert f"{package.replace('.', '/')}/__init__.py" in names, package
    assert {"rfsetup/seeds/plans.json", "rfsetup/tui/app.tcss", "rfsetup/py.typed"} <= names
    assert not any(name.startswith(("tests/", "seeds/")) for name in names)
    assert "rfsetup/tui/showcase.py" not in names  # fixture data lives in tests/


def test_the_plans_load_from_the_installed_wheel(wheel: Path, tmp_path: Path) -> None:
    """Unpacked as pip installs it, in a directory far from the checkout; run without site
    (so the editable install's path hook cannot send ``rfsetup`` back to the checkout)."""
    site = tmp_path / "site-packages"
    zipfile.ZipFile(wheel).extractall(site)
    proc = subprocess.run([sys.executable, "-S", "-c", PROBE], cwd=tmp_path,
                          env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert Path(found["package"]).is_relative_to(site)
    assert Path(found["seeds"]) == site / "rfsetup" / "seeds"
    assert found["plans"] == json.loads((REPO / "seeds" / "plans.json").read_text())
