"""Where a revision the scripts lack lives in git: after a branch switch, "Can't locate revision".

A database migrated on one branch keeps that branch's revision after ``git switch``; these
scripts then cannot plan anything from it. This module asks git, read-only (``git grep`` over
every branch, remote branch and tag; ``git log --all -S`` for the commit that added it), which
ref holds the revision file, and reads that ref's revision files (``git cat-file``; parsed with
``ast``, never imported) for the history the database followed, and what each of its revisions
creates (the ``op.*`` calls of ``upgrade()``). ``recovery`` turns this into the ways out.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_TIMEOUT = 30
_SEP = "\x1f"
_LOG_FORMAT = _SEP.join(("%H", "%aI", "%an", "%s"))
_KINDS = (("refs/heads/", "branch"), ("refs/remotes/", "remote branch"), ("refs/tags/", "tag"))


class GitError(Exception):
    """git is missing, the folder is not in a repository, or a git command failed."""


@dataclass(frozen=True)
class Commit:
    sha: str
    date: str
    author: str
    subject: str

    @property
    def short(self) -> str:
        return self.sha[:10]

    def describe(self) -> str:
        return f"commit {self.short} ({self.date[:10]}, {self.author}: {self.subject})"

    def to_json(self) -> dict[str, str]:
        return {"sha": self.sha, "date": self.date, "author": self.author,
                "subject": self.subject}


@dataclass(frozen=True)
class Holder:
    """A ref (or a commit) whose tree has the revision file."""

    ref: str
    path: str

    @property
    def name(self) -> str:
        for prefix, _ in _KINDS:
            if self.ref.startswith(prefix):
                return self.ref.removeprefix(prefix)
        return self.ref[:10]

    @property
    def kind(self) -> str:
        return next((kind for prefix, kind in _KINDS if self.ref.startswith(prefix)), "commit")

    def switch_command(self) -> str:
        """How to check it out (git switch makes a local branch from a remote one)."""
        if self.kind == "branch":
            return f"git switch {self.name}"
        if self.kind == "remote branch":
            return f"git switch {self.name.split('/', 1)[-1]}"
        return f"git switch --detach {self.name}"

    def to_json(self) -> dict[str, str]:
        return {"ref": self.ref, "name": self.name, "kind": self.kind, "path": self.path}


@dataclass(frozen=True)
class ScriptRevision:
    """A revision file as another ref has it: parsed, not run."""

    revision: str
    down: tuple[str, ...]
    message: str
    #: what ``upgrade()`` calls, e.g. ``create_table invoices``
    ops: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"revision": self.revision, "down_revisions": list(self.down),
                "message": self.message, "ops": list(self.ops)}


@dataclass(frozen=True)
class RevisionHome:
    """What git knows about one revision: who holds it, when it came, the history there."""

    revision: str
    repo: str | None = None
    holders: tuple[Holder, ...] = ()
    introduced: Commit | None = None
    #: refs that contain the introducing commit (the file may have been removed since)
    containing: tuple[str, ...] = ()
    #: the checked-out branch (or ``detached at SHA``) and whether the tree has changes
    checked_out: str | None = None
    dirty: bool = False
    #: the holder's (or the introducing commit's) revisions by id
    scripts: dict[str, ScriptRevision] = field(default_factory=dict)
    #: why git could not be asked
    error: str | None = None

    @property
    def found(self) -> bool:
        return bool(self.holders or self.introduced)

    @property
    def source(self) -> Holder | None:
        """The ref its scripts are read from."""
        return preferred(self.holders)

    def to_json(self) -> dict[str, Any]:
        return {"revision": self.revision, "repo": self.repo, "found": self.found,
                "holders": [h.to_json() for h in self.holders],
                "introduced": self.introduced.to_json() if self.introduced else None,
                "containing": list(self.containing), "checked_out": self.checked_out,
                "dirty": self.dirty, "error": self.error}


def preferred(holders: tuple[Holder, ...]) -> Holder | None:
    """A local branch first, then a remote branch, a tag, a commit."""
    order = ("branch", "remote branch", "tag", "commit")
    return min(holders, key=lambda h: order.index(h.kind)) if holders else None


def git(repo: Path, *args: str, stdin: str | None = None) -> str:
    """``git -C repo ARGS`` (read-only commands only), its stdout; GitError when it fails."""
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", LC_ALL="C", GIT_OPTIONAL_LOCKS="0")
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], input=stdin,
                              capture_output=True, text=True, timeout=_TIMEOUT, check=False,
                              env=env, errors="replace")
    except (OSError, subprocess.SubprocessError) as exc:
        raise GitError(f"git could not run: {exc}") from None
    if done.returncode != 0:
        raise GitError((done.stderr.strip() or f"git {args[0]} failed").splitlines()[0])
    return done.stdout


def revision_pattern(rev: str) -> str:
    """An extended regex for ``revision = 'REV'`` (annotated or not, either quote)."""
    escaped = re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", rev)
    return (r"^[[:space:]]*revision([[:space:]]*:[^=]*)?[[:space:]]*=[[:space:]]*['\"]"
            + escaped + r"['\"]")


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def find_revision(locations: list[Path], rev: str) -> RevisionHome:
    """Ask git which refs hold revision ``rev`` under the version ``locations``."""
    if not locations:
        return RevisionHome(rev, error="the project has no version locations")
    try:
        repo = Path(git(_existing(locations[0]), "rev-parse", "--show-toplevel").strip())
    except GitError as exc:
        return RevisionHome(rev, error=f"not in a git repository ({exc})")
    specs = [os.path.relpath(loc.resolve(), repo) for loc in locations]
    try:
        holders = _holders(repo, rev, specs)
        introduced = _introduced(repo, rev, specs)
        containing: tuple[str, ...] = ()
        if introduced is not None:
            containing = tuple(git(repo, "for-each-ref", "--format=%(refname)", "--contains",
                                   introduced.sha, "refs/heads", "refs/remotes",
                                   "refs/tags").split())
            if not holders:  # removed everywhere since: the commit that added it has it
                holders = tuple(Holder(introduced.sha, path)
                                for path in _grep(repo, rev, [introduced.sha], specs).values())
        source = preferred(holders)
        scripts = read_scripts(repo, source.ref, specs) if source else {}
        checked_out, dirty = _checked_out(repo)
    except GitError as exc:
        return RevisionHome(rev, repo=str(repo), error=str(exc))
    return RevisionHome(rev, str(repo), holders, introduced, containing, checked_out, dirty,
                        scripts)


def _refs(repo: Path) -> list[str]:
    out = git(repo, "for-each-ref", "--format=%(refname)", "refs/heads", "refs/remotes",
              "refs/tags")
    return [r for r in out.split() if not r.endswith("/HEAD")]


def _grep(repo: Path, rev: str, refs: list[str], specs: list[str]) -> dict[str, str]:
    """ref -> the path of its file defining ``rev`` (git grep exits 1 when nothing matches)."""
    if not refs:
        return {}
    try:
        out = git(repo, "grep", "-l", "-E", "-e", revision_pattern(rev), *refs, "--", *specs)
    except GitError:
        return {}
    found: dict[str, str] = {}
    for line in out.splitlines():
        ref, _, path = line.partition(":")
        found.setdefault(ref, path)
    return found


def _holders(repo: Path, rev: str, specs: list[str]) -> tuple[Holder, ...]:
    return tuple(Holder(ref, path) for ref, path in _grep(repo, rev, _refs(repo), specs).items())


def _introduced(repo: Path, rev: str, specs: list[str]) -> Commit | None:
    """The oldest commit (on any ref) whose change under the locations mentions ``rev``."""
    out = git(repo, "log", "--all", "--reverse", f"--format={_LOG_FORMAT}", "-S", rev, "--",
              *specs)
    for line in out.splitlines():
        parts = line.split(_SEP)
        if len(parts) == 4:
            return Commit(*parts)
    return None


def _checked_out(repo: Path) -> tuple[str | None, bool]:
    try:
        branch: str | None = git(repo, "symbolic-ref", "--short", "-q", "HEAD").strip()
    except GitError:
        try:
            branch = "detached at " + git(repo, "rev-parse", "--short", "HEAD").strip()
        except GitError:  # a repository without commits
            branch = None
    try:
        dirty = bool(git(repo, "status", "--porcelain", "--untracked-files=no").strip())
    except GitError:
        dirty = False
    return branch, dirty


def read_scripts(repo: Path, ref: str, specs: list[str]) -> dict[str, ScriptRevision]:
    """Every revision file of ``ref`` under the locations, parsed (one ``git cat-file``)."""
    files = [p for p in git(repo, "ls-tree", "-r", "--name-only", ref, "--", *specs).split("\n")
             if p.endswith(".py")]
    if not files:
        return {}
    out = git(repo, "cat-file", "--batch", stdin="".join(f"{ref}:{p}\n" for p in files))
    found: dict[str, ScriptRevision] = {}
    for text in _batch_contents(out):
        parsed = parse_revision(text)
        if parsed is not None:
            found[parsed.revision] = parsed
    return found


def _batch_contents(out: str) -> list[str]:
    """The blobs of ``git cat-file --batch`` output (``<sha> blob <size>`` headers)."""
    data = out.encode()
    blobs: list[str] = []
    pos = 0
    while pos < len(data):
        end = data.index(b"\n", pos)
        header = data[pos:end].split()
        pos = end + 1
        if len(header) != 3:
            continue  # "<object> missing"
        size = int(header[2])
        blobs.append(data[pos:pos + size].decode(errors="replace"))
        pos += size + 1
    return blobs


def parse_revision(source: str) -> ScriptRevision | None:
    """``revision``, ``down_revision``, the docstring's first line and ``upgrade()``'s op calls
    of a revision file; None when it is not one (or does not parse)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    values: dict[str, Any] = {}
    ops: list[str] = []
    for node in tree.body:
        target, value = _assignment(node)
        if target in ("revision", "down_revision"):
            try:
                values[target] = ast.literal_eval(value)
            except (ValueError, TypeError, SyntaxError):
                continue
        if isinstance(node, ast.FunctionDef) and node.name == "upgrade":
            ops = [text for call in ast.walk(node) if (text := _op_text(call))]
    rev = values.get("revision")
    if not isinstance(rev, str):
        return None
    down = values.get("down_revision")
    downs = () if down is None else (down,) if isinstance(down, str) else tuple(down)
    doc = (ast.get_docstring(tree) or "").strip().splitlines()
    return ScriptRevision(rev, downs, doc[0] if doc else "", tuple(ops))


def _assignment(node: ast.stmt) -> tuple[str | None, Any]:
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
            isinstance(node.targets[0], ast.Name):
        return node.targets[0].id, node.value
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
        return node.target.id, node.value
    return None, None


def _op_text(node: ast.AST) -> str | None:
    """``op.create_table('invoices', …)`` -> ``create_table invoices``."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "op"):
        return None
    names = [a.value for a in node.args[:2] if isinstance(a, ast.Constant)
             and isinstance(a.value, str)]
    if node.func.attr in ("add_column", "alter_column") and len(node.args) >= 2:
        column = _column_name(node.args[1])
        if column and names:
            return f"{node.func.attr} {names[0]}.{column}"
    if node.func.attr == "execute":
        return "execute SQL"
    if node.func.attr in ("create_index", "create_unique_constraint") and len(names) == 2:
        return f"{node.func.attr} {names[0]} on {names[1]}"
    return " ".join([node.func.attr, *names[:2]])


def _column_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
        return str(node.args[0].value)
    return None
