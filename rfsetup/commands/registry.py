"""Each command module registers its own subcommands: the function, its help, its arguments.

Alembic builds its CLI from the functions of ``alembic.command``; rfsetup's command modules do
the same by decorating theirs, with the arguments declared next to the function::

    migrate = Group("migrate", "history, preview, upgrade, rollback, stamp", ...)

    @migrate.command("up", arg("target", nargs="?", ...), example="rfsetup migrate up")
    def up(args, ctx) -> int:
        \"\"\"upgrade (default: head), backup first

        What ``rfsetup migrate up --help`` says about it, in a paragraph or two.
        \"\"\"

The docstring's first line is the one-line help its parent's ``--help`` lists; the rest is the
subcommand's own ``--help`` page, followed by its example. ``rfsetup.cli`` builds argparse from
these registrations. Nothing here (or at the top of a command module) imports the core, so
building the parser for ``rfsetup --help`` stays fast.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import argparse

    from rfsetup.core.settings import Settings

#: what a command is: ``fn(args, settings) -> exit code``
Handler = Callable[["argparse.Namespace", "Settings"], int]


# NamedTuples, not dataclasses: dataclasses imports inspect, which alone would double the
# time `rfsetup --help` spends importing rfsetup
class Arg(NamedTuple):
    """One ``add_argument`` call, declared beside the command that takes it."""

    flags: tuple[str, ...]
    options: dict[str, Any]


def arg(*flags: str, **options: Any) -> Arg:
    """``arg("--json", action="store_true", help=...)``: the same words as ``add_argument``."""
    return Arg(flags, options)


#: the arguments several commands share, worded once
JSON = arg("--json", action="store_true", help="machine-readable output (JSON)")
YES = arg("--yes", action="store_true", help="do not ask for the database name")


class Command(NamedTuple):
    """A registered subcommand: ``function`` is the module's function itself."""

    name: str
    function: Handler
    #: the docstring's first line: what the parent's ``--help`` lists
    help: str
    #: the rest of the docstring: the subcommand's own ``--help`` page
    description: str
    arguments: tuple[Arg, ...] = ()
    example: str = ""
    group: Group | None = None


class Group(NamedTuple):
    """A command with actions (``rfsetup migrate up``): its own help, description and example."""

    name: str
    help: str
    description: str = ""
    example: str = ""

    def command(self, name: str, *arguments: Arg, example: str = ""
                ) -> Callable[[Handler], Handler]:
        """Register the decorated function as ``rfsetup <group> <name>``."""
        return _register(name, arguments, example, self)


def command(name: str, *arguments: Arg, example: str = "") -> Callable[[Handler], Handler]:
    """Register the decorated function as ``rfsetup <name>`` (a command without actions)."""
    return _register(name, arguments, example, None)


_REGISTERED: dict[str, list[Command]] = {}


def _register(name: str, arguments: tuple[Arg, ...], example: str, group: Group | None
              ) -> Callable[[Handler], Handler]:
    def decorate(function: Handler) -> Handler:
        first, _, rest = (function.__doc__ or "").strip().partition("\n")
        rest = textwrap.dedent(rest)
        if not first.strip():
            raise TypeError(f"{function.__qualname__}: a command needs a docstring (its help)")
        _REGISTERED.setdefault(function.__module__, []).append(
            Command(name, function, first.strip(), rest.strip("\n"), arguments, example, group))
        return function

    return decorate


def commands_of(module: ModuleType) -> list[Command]:
    """The commands ``module`` registered, in order.

    Each carries the function the module holds *now* (its help stays the registered one's), so
    what runs is what the module exposes: a wrapper or a test's monkeypatch included.
    """
    found = []
    for registered in _REGISTERED.get(module.__name__, []):
        current = getattr(module, registered.function.__name__, registered.function)
        found.append(registered._replace(function=current))
    return found
