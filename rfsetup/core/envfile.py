""".env documents that keep every byte they do not mean to change, and the file they live in.

The text is parsed once with python-dotenv's own parser (``dotenv.parser.parse_stream``), which
hands back each binding's original text, so a document is that list of originals: setting one
key rewrites the value inside one binding (or appends one) and nothing else. Comments, order,
blank lines, quoting, ``export`` prefixes, CRLF line endings, multi-line values, unknown and
duplicate keys, a byte-order mark, a missing final newline and bytes that are not UTF-8 (kept as
``surrogateescape`` surrogates) all survive. Values are read with dotenv's semantics (the last
binding of a key wins), without ``${VAR}`` interpolation, as ``rfsetup.core.settings`` reads
them.

An edit costs the size of the binding it changes (plus copying the list): the rewritten binding
is parsed on its own and checked to read back as exactly the value set, and the whole document
is parsed again only when a line before the change cannot be parsed (an unterminated quote there
could swallow the new text).

Files: ``load`` / ``update`` / ``save`` go through ``rfsetup.core.files`` (regular files only,
1 MiB, atomic, locked, owner and mode kept, the previous file kept as ``<name>.bak``). What a
key means (groups, validation, secrets) is the schema's (``rfsetup.profiles``); the names kept
here (``GROUPS``, ``validate``, ``mask``…) are RaptorFlow's schema by default.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from dotenv.parser import (
    Binding,
    Reader,
    _equal_sign,
    _export,
    _multiline_whitespace,
    _whitespace,
    parse_key,
    parse_stream,
    parse_value,
)

from rfsetup.core import files
from rfsetup.core.envcheck import (
    GROUPS,
    KNOWN_KEYS,
    REQUIRED_KEYS,
    changes,
    has_url_password,
    is_secret,
    mask,
    mask_url_password,
    new_secret,
    validate,
    validate_all,
)
from rfsetup.core.errors import bad_input
from rfsetup.core.files import atomic_write
from rfsetup.core.settings import DEFAULT_REDIS_URL
from rfsetup.profiles.envschema import Problem

__all__ = [
    "DEFAULT_REDIS_URL", "GROUPS", "KNOWN_KEYS", "REQUIRED_KEYS", "EnvFile", "EnvUpdate",
    "Problem", "atomic_write", "backup_path", "changes", "check_key_name", "has_url_password",
    "is_secret", "mask", "mask_url_password", "new_secret", "read_text", "render_value", "save",
    "update", "validate", "validate_all",
]

_KEY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# values written without quotes: nothing dotenv would strip, unescape, treat as a comment or
# interpolate (a `$` could start `${VAR}` for readers that interpolate)
_BARE_VALUE = re.compile(r"[A-Za-z0-9_\-.,/:@+=%~?&!*^|<>;\[\]{}()]+\Z")
_DOUBLE_QUOTE_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t",
                         "\a": "\\a", "\b": "\\b", "\f": "\\f", "\v": "\\v"}
_BOM = "\ufeff"
ENV_FILE = "a .env file"  # how messages name it
_NEWLINE = re.compile(r"\r\n|\n|\r")


class EnvFile:
    """An immutable .env document: dotenv's bindings, each with its original text.

    ``text`` is exactly the text parsed (``EnvFile.parse(t).text == t`` for any ``t``), and
    ``set`` returns a new document in which only the one value changed.
    """

    def __init__(self, bindings: Iterable[Binding], *, bom: bool = False) -> None:
        self._bindings: tuple[Binding, ...] = tuple(bindings)
        self._bom = bom
        self._text: str | None = None
        self._values: dict[str, str | None] | None = None
        self._last: dict[str, int] | None = None
        self._first_error: int | None = None

    # construction
    @classmethod
    def parse(cls, text: str) -> EnvFile:
        """Parse text as read with ``newline=""`` (line endings untranslated)."""
        # dotenv's Reader drops a leading BOM; remember it so that writing puts it back
        doc = cls(parse_stream(io.StringIO(text)), bom=text.startswith(_BOM))
        doc._text = text
        return doc

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EnvFile:
        """The document at ``path``; an empty one when the file does not exist.

        Bad input (exit 2, nothing read) for anything but a regular file and for more than
        1 MiB; an OS error names the path.
        """
        text = files.read_text(path, what=ENV_FILE)
        return cls(()) if text is None else cls.parse(text)

    # reading
    @property
    def text(self) -> str:
        if self._text is None:
            self._text = (_BOM if self._bom else "") + "".join(
                b.original.string for b in self._bindings)
        return self._text

    def values(self) -> dict[str, str | None]:
        """Key -> value with dotenv's semantics (``None`` for a bare ``KEY`` without ``=``).

        dotenv reads files with universal newlines, so CR and CRLF inside quoted values are seen
        as LF; the values are computed the same way so that they match ``dotenv_values(path)``.
        """
        if self._values is None:
            values: dict[str, str | None] = {}
            for binding in self._bindings:
                for key, value in _read_binding(binding):
                    values[key] = value
            self._values = values
        return dict(self._values)

    def error_lines(self) -> list[int]:
        """The (1-based) lines where a statement dotenv cannot parse starts; dotenv, and so
        the app, skip them."""
        lines, line = [], 1
        for binding in self._bindings:
            if binding.error:
                lines.append(line)
            line += len(_NEWLINE.findall(binding.original.string))
        return lines

    def get(self, key: str) -> str | None:
        return self._value_map().get(key)

    def keys(self) -> list[str]:
        """The keys in file order (a duplicated key once, where it first appears)."""
        return list(self._value_map())

    @property
    def line_ending(self) -> str:
        """The file's line ending (that of its first line), LF for a file without any."""
        match = _NEWLINE.search(self.text)
        return match.group(0) if match else "\n"

    def _value_map(self) -> dict[str, str | None]:
        if self._values is None:
            self.values()
        assert self._values is not None
        return self._values

    def _index(self) -> tuple[dict[str, int], int | None]:
        """key -> index of its last parsed binding, and the first unparsable binding's index."""
        if self._last is None:
            last: dict[str, int] = {}
            first_error = None
            for index, binding in enumerate(self._bindings):
                if binding.error:
                    first_error = index if first_error is None else first_error
                elif binding.key is not None:
                    last[binding.key] = index
            self._last, self._first_error = last, first_error
        return self._last, self._first_error

    # writing
    def set(self, key: str, value: str) -> EnvFile:
        """A new document with ``key`` set to ``value``; every other byte is kept.

        The last binding of ``key`` (the one dotenv uses) is rewritten in place, keeping its
        ``export`` prefix, key quoting, spacing and trailing comment; a new key is appended.
        Raises a bad-input error for an invalid key name or a value no .env can hold, and when
        the result would not read back exactly (e.g. after an unterminated quote).
        """
        check_key_name(key)
        if "\x00" in value:
            raise bad_input(f"{key}: the value contains a NUL character, which no .env can hold")
        last, first_error = self._index()
        index = last.get(key)
        if index is not None:
            old = self._bindings[index]
            if old.value is not None and self._value_map().get(key) == value:
                return self  # nothing to change: not even the quoting
            start, stop = index, index + 1
            replacement = _replace_value(old.original.string, value)
        else:
            start, stop, replacement = self._append_region(f"{key}={render_value(value)}")
        return self._splice(start, stop, replacement, key, value, first_error)

    def _append_region(self, line: str) -> tuple[int, int, str]:
        """Where a new line goes: (start, stop, text replacing bindings[start:stop])."""
        eol = self.line_ending
        count = len(self._bindings)
        if not count or self.text.endswith(("\n", "\r")):
            return count, count, line + eol
        # the file has no final newline: end its last line, and keep that style
        return count - 1, count, self._bindings[-1].original.string + eol + line

    def _splice(self, start: int, stop: int, text: str, key: str, value: str,
                first_error: int | None) -> EnvFile:
        """``self`` with ``bindings[start:stop]`` replaced by ``text`` parsed alone, checked to
        read as before plus ``key=value``."""
        new = tuple(parse_stream(io.StringIO(text)))
        expected = [kv for b in self._bindings[start:stop] for kv in _read_binding(b)
                    if kv[0] != key] + [(key, value)]
        got = [kv for b in new for kv in _read_binding(b)]
        local_ok = (got == expected and not any(b.error for b in new)
                    and "".join(b.original.string for b in new) == text)
        if local_ok and (first_error is None or first_error >= stop):
            doc = EnvFile(self._bindings[:start] + new + self._bindings[stop:], bom=self._bom)
            values = dict(self._value_map())
            values[key] = value
            doc._values = values
            if len(new) == stop - start or stop == len(self._bindings):
                # the indexes of every binding outside the region are unchanged
                last = dict(self._index()[0])
                last.update({b.key: start + j for j, b in enumerate(new) if b.key is not None})
                doc._last, doc._first_error = last, first_error
            return doc
        # an unparsable line before the change, or a surprise: judge the whole document
        head = "".join(b.original.string for b in self._bindings[:start])
        tail = "".join(b.original.string for b in self._bindings[stop:])
        reparsed = EnvFile.parse((_BOM if self._bom else "") + head + text + tail)
        wanted = self.values()
        wanted[key] = value
        if reparsed.values() != wanted:
            line = self.error_lines()[:1]
            raise bad_input(
                f"cannot set {key} without changing how the rest of the file reads",
                cause=f"line {line[0]} of the file cannot be parsed" if line else None,
                hint="fix that line (an unterminated quote?) and try again",
            )
        return reparsed


def _read_binding(binding: Binding) -> list[tuple[str, str | None]]:
    """The (key, value) a binding gives as dotenv reads a file (universal newlines)."""
    if binding.key is None or binding.error:
        return []
    if "\r" not in (binding.value or "") and "\r" not in binding.key:
        return [(binding.key, binding.value)]
    normalized = binding.original.string.replace("\r\n", "\n").replace("\r", "\n")
    return [(b.key, b.value) for b in parse_stream(io.StringIO(normalized))
            if b.key is not None and not b.error]


def _replace_value(original: str, value: str) -> str:
    """``original`` (one binding's text) with its value replaced by ``value``, rendered.

    Walks the binding with dotenv's own regexes to find where the value starts and ends. A
    quoted value stays quoted in the same style where it can (a bare value could swallow a
    ``#comment`` that directly follows the closing quote).
    """
    reader = Reader(io.StringIO(original))
    reader.read_regex(_multiline_whitespace)
    reader.read_regex(_export)
    parse_key(reader)
    key_end = reader.position.chars
    reader.read_regex(_whitespace)
    if reader.peek(1) != "=":
        # a bare `KEY` (no `=`): give it one right after the key; a `#comment` glued to the
        # key needs a blank before it, or it would become part of the value
        rest = original[key_end:]
        gap = " " if rest[:1] == "#" else ""
        return original[:key_end] + "=" + render_value(value) + gap + rest
    (equal_sign,) = reader.read_regex(_equal_sign)
    start = reader.position.chars
    if len(equal_sign) > 1 and reader.peek(1) == "#":
        # `KEY= # comment`: the value is empty and what follows is a comment
        return original[:start] + render_value(value) + " " + original[start:]
    first = reader.peek(1)
    parse_value(reader)
    end = reader.position.chars
    if first not in ("'", '"'):
        # an unquoted value runs to the end of the line; an inline ` # comment` and trailing
        # blanks are not part of it (dotenv strips them), so keep them
        raw = original[start:end]
        comment = re.search(r"\s+#", raw)
        end = start + len((raw[: comment.start()] if comment else raw).rstrip())
        return original[:start] + render_value(value) + original[end:]
    return original[:start] + render_value(value, quote=first) + original[end:]


def render_value(value: str, quote: str | None = None) -> str:
    """The value as written to the file: bare when safe, else quoted with escapes.

    ``quote`` asks for a quote style (``'`` or ``"``) when the value must be quoted anyway.
    Double quotes with ``\\n``/``\\r`` escapes keep a multi-line value on one physical line,
    so it reads back exactly whatever the file's (or the reader's) line endings; single quotes
    can only escape ``\\`` and ``'``, so they are used only for single-line values.
    """
    if quote is None and (value == "" or _BARE_VALUE.match(value)):
        return value
    if quote == "'" and not any(ch in value for ch in "\r\n"):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return '"' + "".join(_DOUBLE_QUOTE_ESCAPES.get(ch, ch) for ch in value) + '"'


def check_key_name(key: str) -> None:
    """Refuse a key that is not a portable environment variable name (exit 2)."""
    if not _KEY_NAME.match(key):
        raise bad_input(
            f"{key!r} is not a valid variable name",
            hint="use letters, digits and underscores, not starting with a digit "
            "(e.g. SECRET_KEY)",
        )


# -- files -----------------------------------------------------------------------------------


def read_text(path: Path) -> str:
    """The file's text ('' when absent), line endings untranslated; undecodable bytes survive
    a round trip (see ``rfsetup.core.files.read_text``)."""
    return files.read_text(path, what=ENV_FILE) or ""


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


@dataclass(frozen=True)
class EnvUpdate:
    """What ``update`` did: the document before and after, and the backup (None: new file or
    nothing written)."""

    before: EnvFile
    after: EnvFile
    written: bool
    backup: Path | None
    mode: int | None


def _encode(doc: EnvFile) -> bytes:
    return doc.text.encode("utf-8", errors="surrogateescape")


def update(path: str | os.PathLike[str], edit: Callable[[EnvFile], EnvFile], *,
           force: bool = False) -> EnvUpdate:
    """Apply ``edit`` to the document at ``path`` as it is under the writer lock, and save the
    result: concurrent updates of different keys all survive.

    ``force`` writes a read-only file (its mode kept). Errors raised by ``edit`` leave the file
    untouched.
    """
    seen: list[EnvFile] = []

    def apply(data: bytes | None) -> bytes | None:
        before = EnvFile(()) if data is None else \
            EnvFile.parse(data.decode("utf-8", errors="surrogateescape"))
        after = edit(before)
        seen[:] = [before, after]
        return None if after is before else _encode(after)

    written = files.update(path, apply, allow_readonly=force, what=ENV_FILE)
    before, after = seen
    return EnvUpdate(before, after, written is not None,
                     written.backup if written else None, written.mode if written else None)


def save(path: str | os.PathLike[str], doc: EnvFile, *, force: bool = False) -> Path | None:
    """Write ``doc`` to ``path`` (locked, atomic; a symlink is written through to its target;
    owner and mode kept, 0600 when new), keeping the old file as ``.bak``.

    Returns the backup's path, or None when there was no previous file (or nothing changed).
    Prefer ``update`` to apply edits to the file as it is now.
    """
    written = files.write(path, _encode(doc), allow_readonly=force, what=ENV_FILE)
    return written.backup if written else None
