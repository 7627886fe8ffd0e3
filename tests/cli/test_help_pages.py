"""Every command's --help is a page: what it does and an example; and --help stays cheap.

`rfsetup rollback --help` printed only its usage line, and the other subcommands one line each.
The parser is built from the commands' registrations (rfsetup.commands.registry), which import
the core only when a command runs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rfsetup import cli
from rfsetup.commands import registry


def _pages(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield child
                yield from _pages(child)


def test_every_subcommand_page_has_a_description_and_an_example() -> None:
    pages = list(_pages(cli.build_parser()))
    assert {p.prog for p in pages} >= {"rfsetup rollback", "rfsetup migrate down",
                                       "rfsetup backup restore", "rfsetup env set"}
    for page in pages:
        text = " ".join(page.format_help().split())
        description = " ".join((page.description or "").split())
        assert len(description) > 60, f"{page.prog}: a one-liner is not a description"
        assert description in text, page.prog
        assert "example" in (page.epilog or ""), f"{page.prog} has no example"
        assert page.prog in text.split("example", 1)[1], f"{page.prog}: the example is another's"


def test_the_parser_built_for_an_argv_reads_it_as_the_full_one_does(
        capsys: pytest.CaptureFixture[str]) -> None:
    """main builds only the pages its argv names in full; every page the full parser has
    reads the same through it: the same command, the same options, the same help page."""
    full = cli.build_parser()
    for page in _pages(full):
        words = page.prog.split()[1:]
        if page._subparsers is not None:  # a group: its own page, or its actions below
            continue
        argv = ["-c", "x.ini", *words]
        lean = cli.build_parser(argv)
        try:
            expected = vars(full.parse_args(argv))
        except SystemExit as refused:  # a required argument missing: refused alike
            with pytest.raises(SystemExit) as info:
                lean.parse_args(argv)
            assert info.value.code == refused.code, page.prog
            capsys.readouterr()
        else:
            assert vars(lean.parse_args(argv)) == expected, page.prog
        for parser in (full, lean):
            with pytest.raises(SystemExit):
                parser.parse_args([*words, "--help"])
        full_help, lean_help = capsys.readouterr().out.split("usage: ")[1:]
        assert full_help == lean_help, page.prog
    # the other commands are listed, with their one-line help, but built no further
    lean = cli.build_parser(["migrate", "up"])
    assert lean.format_help() == full.format_help()
    pages = {p.prog for p in _pages(lean)}
    assert "rfsetup migrate up" in pages and "rfsetup backup" in pages
    assert "rfsetup backup restore" not in pages


def test_rollback_help_says_what_it_opens(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["rollback", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "Migrations" in out and "database name" in out and "rfsetup rollback" in out


def test_the_parser_runs_the_function_the_module_holds() -> None:
    """A registration names a real function: the one `args._command.function` calls."""
    from rfsetup.commands import migrate, status

    args = cli.build_parser().parse_args(["migrate", "down", "--yes"])
    assert args._command.function is migrate.down
    assert cli.build_parser().parse_args(["status"])._command.function is status.status
    helps = {c.name: c.help for c in registry.commands_of(migrate)}
    assert helps["down"] == "downgrade (default: -1), backup first"  # the docstring's line


def test_a_command_without_a_docstring_is_refused() -> None:
    with pytest.raises(TypeError, match="docstring"):
        @registry.command("nameless")
        def nameless(args, ctx) -> int:
            return 0


def test_help_imports_nothing_of_the_core_but_its_errors(tmp_path: Path) -> None:
    """`rfsetup --help` imported settings, files, redact and (through the commands) could pull
    the Alembic seam; it needs the registrations only."""
    code = ("import io, contextlib, json, sys\nimport rfsetup.cli as cli\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        cli.main(['--help'])\n    except SystemExit:\n        pass\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('rfsetup.core'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["rfsetup.core",
                                                               "rfsetup.core.errors"]
