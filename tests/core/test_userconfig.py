"""rfsetup's config file and the environment knobs, each read once into Settings.

RFSETUP_PG_BINDIR, RFSETUP_KEYMAP, RFSETUP_DEBUG and PGPASSWORD were read from os.environ deep
inside pgtools, the app, the CLI and the Database screen; a config file did not exist.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rfsetup.core import prereqs
from rfsetup.core.errors import ExitCode, RfsetupError
from rfsetup.core.settings import load_settings
from rfsetup.core.userconfig import load_user_config, save_theme, with_theme
from tests.conftest import ALEMBIC_INI


def _settings(tmp_path: Path, **environ: str):
    return load_settings(None, ALEMBIC_INI, environ=environ, cwd=tmp_path)


def test_every_knob_lands_in_settings(tmp_path: Path) -> None:
    s = _settings(tmp_path, RFSETUP_PG_BINDIR=str(tmp_path), RFSETUP_DEBUG="1",
                  RFSETUP_KEYMAP="migrate-down-one=ctrl+d;quit=ctrl+x", PGPASSWORD="hunter2",
                  XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    assert s.pg_bindir == tmp_path and s.debug
    assert dict(s.keymap) == {"migrate-down-one": "ctrl+d", "quit": "ctrl+x"}
    assert s.pgpassword == "hunter2" and "hunter2" not in repr(s)
    assert s.config_file == tmp_path / "xdg" / "rfsetup" / "config.toml"
    assert _settings(tmp_path, RFSETUP_CONFIG=str(tmp_path / "c.toml")).config_file == \
        tmp_path / "c.toml"
    plain = _settings(tmp_path, RFSETUP_DEBUG="0")
    assert plain.pg_bindir is None and not plain.debug and plain.pgpassword is None


def test_a_malformed_keymap_is_bad_input_named(tmp_path: Path) -> None:
    with pytest.raises(RfsetupError) as info:
        _settings(tmp_path, RFSETUP_KEYMAP="migrate-down-one=ctrl+d,oops")
    assert info.value.exit_code == ExitCode.USAGE
    assert "RFSETUP_KEYMAP" in info.value.message and "'oops'" in info.value.message


def test_doctor_looks_only_in_the_bin_dir_of_its_settings(tmp_path: Path) -> None:
    s = _settings(tmp_path, RFSETUP_PG_BINDIR=str(tmp_path))
    assert prereqs._client_dirs("psql", s.pg_bindir) == [tmp_path]
    result = prereqs.check_client_tool("pg_dump", 16, bin_dir=s.pg_bindir)
    assert result.status == "fail" and "not found" in result.detail


def test_doctor_cli_takes_the_bin_dir_from_the_environment(tmp_path: Path) -> None:
    env = dict(os.environ, RFSETUP_PG_BINDIR=str(tmp_path),
               DATABASE_URL="postgresql://u@127.0.0.1:1/db")
    out = subprocess.run([sys.executable, "-m", "rfsetup", "-c", str(ALEMBIC_INI), "doctor",
                          "--json"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    checks = {c["name"]: c for c in json.loads(out.stdout)["checks"]}
    assert checks["pg_dump"]["status"] == "fail" and "not found" in checks["pg_dump"]["detail"]


def test_reading_the_config_never_fails_and_says_what_it_dropped(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    assert load_user_config(None).keys == {} and load_user_config(path).problems == ()
    path.write_text('theme = 3\ncolour = "red"\n[keys]\nquit = "ctrl+x"\nhelp = 5\n')
    config = load_user_config(path)
    assert config.keys == {"quit": "ctrl+x"} and config.theme is None
    problems = "\n".join(config.problems)
    assert "theme must be a string" in problems and "[keys] help" in problems
    assert "unknown setting 'colour'" in problems
    path.write_text("[keys\n")
    assert "is not valid TOML" in load_user_config(path).problems[0]
    path.unlink()
    path.mkdir()
    assert "not used" in load_user_config(path).problems[0]  # a directory is never read


def test_the_theme_line_is_the_only_change(tmp_path: Path) -> None:
    assert with_theme(None, "nord") == b'theme = "nord"\n'
    assert with_theme(b'# c\ntheme = "old"  # mine\n[keys]\nquit = "q"\n', "nord") == \
        b'# c\ntheme = "nord"\n[keys]\nquit = "q"\n'
    assert with_theme(b"[keys]\r\nquit = \"q\"\r\n", "nord") == \
        b'theme = "nord"\r\n[keys]\r\nquit = "q"\r\n'
    # a `theme` inside a table is that table's, not the top-level one
    assert with_theme(b'[other]\ntheme = "x"\n', "nord") == \
        b'theme = "nord"\n[other]\ntheme = "x"\n'
    assert with_theme(b"# only a comment", "a\"b") == b'# only a comment\ntheme = "a\\"b"\n'


def test_save_theme_creates_a_private_file_and_refuses_a_broken_one(tmp_path: Path) -> None:
    path = tmp_path / "new" / "rfsetup" / "config.toml"
    save_theme(path, "nord")
    assert load_user_config(path).theme == "nord" and path.stat().st_mode & 0o777 == 0o600
    path.write_text('theme = "nord"\n[keys\n')
    with pytest.raises(RfsetupError) as info:
        save_theme(path, "dracula")
    assert str(path) in info.value.message and path.read_text() == 'theme = "nord"\n[keys\n'
