"""What an open .env form needs so that it loses no work: the file's state on disk, a per-key
three-way merge, and edits that never duplicate a key dotenv could not parse.

A form remembers the file as it loaded it (:class:`DiskState`: stat and SHA-256, taken before
the read, so a change made during the read shows up at the next check). :func:`check` says
whether the file changed since (stat first; when it moved, the bytes decide, so a ``touch`` is
not a change). When it did, :func:`merge` compares, per key, what the form loaded (base), what
the user typed (mine) and what the file holds now (theirs): a key changed on one side takes
that side's value, a key changed on both sides to different values is a :class:`Conflict` for
the user to decide.

A line python-dotenv cannot parse (``KEY="unterminated``) is skipped by every reader, so its key
reads as unset; :func:`unparsable` names such lines and the key each seems to set, and
:func:`set_value` replaces that line when the key is given a value, where ``EnvFile.set`` would
append a second binding of the key below the broken one.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from rfsetup.core import files
from rfsetup.core.envfile import ENV_FILE, EnvFile, render_value
from rfsetup.core.errors import bad_input

_NEWLINE = re.compile(r"\r\n|\n|\r")
_LEADING_BLANKS = re.compile(r"[\s]*")
_STATEMENT_KEY = re.compile(r"(export\s+)?([A-Za-z_][A-Za-z0-9_]*)")
_EOL = re.compile(r"(\r\n|\n|\r)\Z")
_BOM = "\ufeff"


# -- the file as a form loaded it ------------------------------------------------------------

@dataclass(frozen=True)
class DiskState:
    """The .env file at one moment: absent, or its stat and the SHA-256 of its bytes."""

    exists: bool
    mtime_ns: int = 0
    size: int = 0
    inode: int = 0
    sha256: str = ""

    def same_stat(self, other: DiskState) -> bool:
        return (self.exists, self.mtime_ns, self.size, self.inode) == (
            other.exists, other.mtime_ns, other.size, other.inode)


def _stat_state(path: Path) -> DiskState:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return DiskState(False)
    except OSError:  # unreadable: the read below says why, naming the path
        return DiskState(True)
    return DiskState(True, st.st_mtime_ns, st.st_size, st.st_ino)


def load(path: str | os.PathLike[str]) -> tuple[EnvFile, DiskState]:
    """The document at ``path`` and the state it was read in (an empty document when absent).

    Read through ``rfsetup.core.files`` (regular files only, 1 MiB); the stat is taken before
    the bytes, so a change racing the read is seen by the next :func:`check`.
    """
    target = Path(path)
    state = _stat_state(target)
    data = files.read_bytes(target, what=ENV_FILE)
    if data is None:
        return EnvFile(()), DiskState(False)
    digest = hashlib.sha256(data).hexdigest()
    doc = EnvFile.parse(data.decode("utf-8", errors="surrogateescape"))
    return doc, DiskState(True, state.mtime_ns, state.size, state.inode, digest)


def check(path: str | os.PathLike[str], loaded: DiskState
          ) -> tuple[DiskState, EnvFile | None]:
    """Whether the file changed since ``loaded``: the state now, and the document now when
    its content differs (None: unchanged, perhaps touched)."""
    target = Path(path)
    if _stat_state(target).same_stat(loaded):
        return loaded, None
    doc, now = load(target)
    if now.exists == loaded.exists and now.sha256 == loaded.sha256:
        return now, None
    return now, doc


# -- three-way merge per key -----------------------------------------------------------------

@dataclass(frozen=True)
class Conflict:
    """A key changed both in the form and on disk, to different values."""

    key: str
    base: str
    mine: str
    theirs: str


@dataclass(frozen=True)
class Merge:
    """How the form's edits and the file's changes since it was loaded combine."""

    #: changed on disk only: the file's value is taken
    theirs: tuple[str, ...]
    #: edited in the form only: the edit is kept
    mine: tuple[str, ...]
    #: changed on both sides to the same value
    same: tuple[str, ...]
    conflicts: tuple[Conflict, ...]

    @property
    def disk_changed(self) -> bool:
        return bool(self.theirs or self.same or self.conflicts)

    def values(self, mine: Mapping[str, str], theirs: Mapping[str, str | None],
               keep_mine: Iterable[str] = ()) -> dict[str, str]:
        """The form's values after the merge: the file's, with the form's edits on top; a
        conflicting key is the form's only when named in ``keep_mine``."""
        keep = set(keep_mine)
        result = {key: _text(value) for key, value in theirs.items()}
        for key in self.mine:
            result[key] = mine[key]
        for conflict in self.conflicts:
            result[conflict.key] = conflict.mine if conflict.key in keep else conflict.theirs
        return result


def _text(value: str | None) -> str:
    return "" if value is None else value


def merge(base: Mapping[str, str | None], mine: Mapping[str, str],
          theirs: Mapping[str, str | None], keys: Iterable[str] | None = None) -> Merge:
    """Compare, per key, what the form loaded (``base``), what it holds (``mine``) and what
    the file holds now (``theirs``); ``keys`` limits it to the form's fields (default: every
    key of the three). An unset key and an empty one are the same to a form."""
    names = list(keys) if keys is not None else sorted({*base, *mine, *theirs})
    taken, kept, same, conflicts = [], [], [], []
    for key in names:
        was, typed, now = _text(base.get(key)), _text(mine.get(key, base.get(key))), \
            _text(theirs.get(key))
        edited, moved = typed != was, now != was
        if edited and moved:
            if typed == now:
                same.append(key)
            else:
                conflicts.append(Conflict(key, was, typed, now))
        elif edited:
            kept.append(key)
        elif moved:
            taken.append(key)
    return Merge(tuple(taken), tuple(kept), tuple(same), tuple(conflicts))


# -- lines dotenv cannot parse ---------------------------------------------------------------

@dataclass(frozen=True)
class Unparsable:
    """A statement python-dotenv skips: its first line (1-based) and the key it seems to set
    (None when not even a key can be read from it)."""

    line: int
    key: str | None


def _segments(doc: EnvFile) -> tuple[str, str, list[tuple[int, bool, str]]]:
    """The BOM, the text after it and, per binding, (offset, unparsable, original text)."""
    from dotenv.parser import parse_stream

    text = doc.text
    bom = _BOM if text.startswith(_BOM) else ""
    body = text[len(bom):]
    out, offset = [], 0
    for binding in parse_stream(io.StringIO(body)):
        original = binding.original.string
        out.append((offset, binding.error, original))
        offset += len(original)
    return bom, body, out


def _statement(body: str, offset: int, original: str) -> tuple[int, int, str | None, str]:
    """Where the statement starts after blank lines: (offset in ``original``, its 1-based
    line, its key, its export prefix). Lines are counted on the whole text: dotenv ends an
    unparsable line at a CR, leaving the LF of a CRLF to the next binding."""
    blanks = _LEADING_BLANKS.match(original)
    start = blanks.end() if blanks else 0
    line = 1 + len(_NEWLINE.findall(body[:offset + start]))
    found = _STATEMENT_KEY.match(original, start)
    if found is None:
        return start, line, None, ""
    return start, line, found.group(2), found.group(1) or ""


def unparsable(doc: EnvFile) -> list[Unparsable]:
    """Every statement dotenv cannot parse, with the line it starts on and its key."""
    _bom, body, segments = _segments(doc)
    found = []
    for offset, error, original in segments:
        if error:
            _start, line, key, _export = _statement(body, offset, original)
            found.append(Unparsable(line, key))
    return found


def unparsable_keys(doc: EnvFile) -> dict[str, int]:
    """Key -> the line of the unparsable statement that seems to set it, for keys that read
    as unset because of it (a key also bound properly elsewhere is not listed)."""
    values = doc.values()
    named: dict[str, int] = {}
    for item in unparsable(doc):
        if item.key and item.key not in values and item.key not in named:
            named[item.key] = item.line
    return named


def set_value(doc: EnvFile, key: str, value: str) -> EnvFile:
    """``doc.set(key, value)``, except that a key which reads as unset because its line cannot
    be parsed gets that line replaced (its ``export`` and line ending kept) instead of a
    second binding appended below it. Bad input when the result would not read back as the
    old values plus ``key=value``."""
    if key not in unparsable_keys(doc):
        return doc.set(key, value)
    bom, body, segments = _segments(doc)
    for offset, error, original in segments:
        if not error:
            continue
        start, first, named, export = _statement(body, offset, original)
        if named != key:
            continue
        eol = _EOL.search(original)
        replacement = original[:start] + export + f"{key}={render_value(value)}" + \
            (eol.group(1) if eol else "")
        new = EnvFile.parse(bom + body[:offset] + replacement + body[offset + len(original):])
        wanted = {**doc.values(), key: value}
        if new.values() != wanted:
            raise bad_input(f"cannot replace line {first} ({key}) without changing how the "
                            "rest of the file reads", hint="fix that line by hand and reload")
        return new
    return doc.set(key, value)  # pragma: no cover - unparsable_keys named it
