""".env editing that keeps every byte it does not mean to change, validation and masking.

The file is parsed with python-dotenv's own parser (``dotenv.parser.parse_stream``), which hands
back each binding's original text, so a document is just that list of originals: writing one key
rewrites the value inside one binding and nothing else. Comments, order, blank lines, quoting,
``export`` prefixes, CRLF line endings, multi-line values, unknown and duplicate keys, a byte-order
mark and a missing final newline all survive. Values are read with dotenv's semantics (the last
binding of a key wins) and without ``${VAR}`` interpolation, as ``rfsetup.core.settings`` reads
them.

Writes are atomic (a 0600 temp file in the same directory, fsync, rename) and keep the previous
file as ``<name>.bak``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

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

from rfsetup.core.errors import RfsetupError, bad_input

#: The guide's keys, grouped as its .env example groups them (REDIS_URL is rfsetup's addition).
GROUPS: dict[str, list[str]] = {
    "Database": ["DATABASE_URL", "REDIS_URL"],
    "Supabase": ["SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_SERVICE_KEY",
                 "SUPABASE_JWT_SECRET"],
    "Razorpay": ["RAZORPAY_KEY_ID", "RAZORPAY_KEY_SECRET", "RAZORPAY_WEBHOOK_SECRET"],
    "Application": ["SECRET_KEY"],
}
KNOWN_KEYS: tuple[str, ...] = tuple(key for keys in GROUPS.values() for key in keys)
#: the keys the guide's .env sets; REDIS_URL is optional (it defaults to a local Redis)
REQUIRED_KEYS: tuple[str, ...] = tuple(key for key in KNOWN_KEYS if key != "REDIS_URL")
DEFAULT_REDIS_URL = "redis://localhost:6379/0"

_SECRET_KEYS = frozenset({
    "SUPABASE_ANON_KEY", "SUPABASE_SERVICE_KEY", "SUPABASE_JWT_SECRET", "RAZORPAY_KEY_SECRET",
    "RAZORPAY_WEBHOOK_SECRET", "SECRET_KEY",
})
_NOT_SECRET = frozenset({"RAZORPAY_KEY_ID", "SUPABASE_URL", "DATABASE_URL", "REDIS_URL"})
# unknown keys are treated as secrets when their name says so
_SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|PWD|TOKEN|PRIVATE|CREDENTIAL|API_?KEY|_KEY$",
                          re.IGNORECASE)
_KEY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# values written without quotes: nothing dotenv would strip, unescape, treat as a comment or
# interpolate (a `$` could start `${VAR}` for readers that interpolate)
_BARE_VALUE = re.compile(r"[A-Za-z0-9_\-.,/:@+=%~?&!*^|<>;\[\]{}()]+\Z")
_DOUBLE_QUOTE_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t",
                         "\a": "\\a", "\b": "\\b", "\f": "\\f", "\v": "\\v"}
_BOM = "\ufeff"

Level = Literal["error", "warn"]


@dataclass(frozen=True)
class Problem:
    """One finding about a value: an ``error`` refuses the write, a ``warn`` is shown only."""

    level: Level
    message: str

    def to_json(self) -> dict[str, str]:
        return {"level": self.level, "message": self.message}


# -- the document ----------------------------------------------------------------------------


class EnvFile:
    """An immutable .env document: dotenv's bindings, each with its original text.

    ``text`` is exactly the text parsed (``EnvFile.parse(t).text == t`` for any ``t``), and
    ``set`` returns a new document in which only the one value changed.
    """

    def __init__(self, bindings: Iterable[Binding], *, bom: bool = False) -> None:
        self._bindings: tuple[Binding, ...] = tuple(bindings)
        self._bom = bom

    # construction
    @classmethod
    def parse(cls, text: str) -> EnvFile:
        """Parse text as read with ``newline=""`` (line endings untranslated)."""
        # dotenv's Reader drops a leading BOM; remember it so that writing puts it back
        return cls(parse_stream(io.StringIO(text)), bom=text.startswith(_BOM))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EnvFile:
        """The document at ``path``; an empty one when the file does not exist."""
        try:
            return cls.parse(read_text(Path(path)))
        except FileNotFoundError:
            return cls(())
        except IsADirectoryError:
            raise bad_input(f"{path} is a directory, not a .env file",
                            hint="pass the file itself, e.g. --env-file backend/.env") from None
        except OSError as exc:
            raise RfsetupError(f"cannot read {path}", cause=exc.strerror,
                               hint="check the file's permissions", kind="env_read") from None

    # reading
    @property
    def text(self) -> str:
        return (_BOM if self._bom else "") + "".join(b.original.string for b in self._bindings)

    def values(self) -> dict[str, str | None]:
        """Key -> value with dotenv's semantics (``None`` for a bare ``KEY`` without ``=``).

        dotenv reads files with universal newlines, so CR and CRLF inside quoted values are seen
        as LF; the values are computed the same way so that they match ``dotenv_values(path)``.
        """
        normalized = self.text.removeprefix(_BOM).replace("\r\n", "\n").replace("\r", "\n")
        # what dotenv_values(interpolate=False) computes, minus its logged warning for each
        # unparsable line on every call (``error_lines`` reports those once)
        return {b.key: b.value for b in parse_stream(io.StringIO(normalized))
                if b.key is not None}

    def error_lines(self) -> list[int]:
        """The (1-based) lines where a statement dotenv cannot parse starts; dotenv, and so
        the app, skip them."""
        return [b.original.line for b in self._bindings if b.error]

    def get(self, key: str) -> str | None:
        return self.values().get(key)

    def keys(self) -> list[str]:
        """The keys in file order (a duplicated key once, where it first appears)."""
        return list(self.values())

    @property
    def line_ending(self) -> str:
        """The file's line ending (that of its first line), LF for a file without any."""
        match = re.search(r"\r\n|\n|\r", self.text)
        return match.group(0) if match else "\n"

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
        index = _last_index(self._bindings, key)
        if index is None:
            new = self._append(f"{key}={render_value(value)}")
        else:
            old = self._bindings[index]
            if old.value is not None and self.values().get(key) == value:
                return self  # nothing to change: not even the quoting
            bindings = list(self._bindings)
            bindings[index] = old._replace(
                original=old.original._replace(string=_replace_value(old.original.string,
                                                                     value)))
            new = EnvFile(bindings, bom=self._bom)
        new._verify_set(self, key, value)
        return new

    def _append(self, line: str) -> EnvFile:
        eol = self.line_ending
        text = self.text
        if not text.removeprefix(_BOM):
            return EnvFile.parse(text + line + eol)
        if text.endswith(("\n", "\r")):
            return EnvFile.parse(text + line + eol)
        # the file has no final newline: separate the new line, and keep that style
        return EnvFile.parse(text + eol + line)

    def _verify_set(self, before: EnvFile, key: str, value: str) -> None:
        expected = before.values()
        expected[key] = value
        got = self.values()
        if got != expected:
            line = _first_error_line(before._bindings)
            raise bad_input(
                f"cannot set {key} without changing how the rest of the file reads",
                cause=f"line {line} of the file cannot be parsed" if line else None,
                hint="fix that line (an unterminated quote?) and try again",
            )


def _last_index(bindings: tuple[Binding, ...], key: str) -> int | None:
    for index in range(len(bindings) - 1, -1, -1):
        if bindings[index].key == key and not bindings[index].error:
            return index
    return None


def _first_error_line(bindings: tuple[Binding, ...]) -> int | None:
    for binding in bindings:
        if binding.error:
            return binding.original.line
    return None


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
    """The file's text, line endings untranslated; undecodable bytes survive a round trip."""
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        return handle.read()


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


def save(path: str | os.PathLike[str], doc: EnvFile) -> Path | None:
    """Write ``doc`` to ``path`` atomically with mode 0600, keeping the old file as ``.bak``.

    A symlinked .env is written through to its target. Returns the backup's path, or None when
    there was no previous file.
    """
    target = Path(os.path.realpath(path))
    data = doc.text.encode("utf-8", errors="surrogateescape")
    backup: Path | None = None
    try:
        previous = target.read_bytes()
    except FileNotFoundError:
        previous = None
    except OSError as exc:
        raise RfsetupError(f"cannot read {path}", cause=exc.strerror, kind="env_write") from None
    try:
        if previous is not None:
            backup = backup_path(target)
            atomic_write(backup, previous)
        atomic_write(target, data)
    except OSError as exc:
        raise RfsetupError(f"cannot write {path}", cause=exc.strerror,
                           hint="check the directory's permissions", kind="env_write") from None
    return backup


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory, fsync and rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # makes the rename itself durable; not possible on every platform (e.g. Windows)
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- secrets ---------------------------------------------------------------------------------


def new_secret() -> str:
    """A fresh SECRET_KEY: 32 random bytes as hex (the guide's ``openssl rand -hex 32``)."""
    import secrets

    return secrets.token_hex(32)


def is_secret(key: str) -> bool:
    """Whether the whole value of ``key`` is a secret (URLs only hide their password)."""
    if key in _SECRET_KEYS:
        return True
    if key in _NOT_SECRET or key.upper().endswith(("_URL", "_URI", "_DSN")):
        return False
    return bool(_SECRET_NAME.search(key))


def mask(key: str, value: str | None) -> str:
    """The value as shown to people: secrets hidden, a URL's password replaced by ``***``."""
    if value is None:
        return ""
    if is_secret(key):
        return f"*** ({len(value)} characters)" if value else ""
    if "://" in value or ("@" in value and ":" in value.rsplit("@", 1)[0]):
        # user:password@… even without a well-formed scheme:// (postgresql//u:pw@host)
        return mask_url_password(value)
    return value


def has_url_password(value: str) -> bool:
    """Whether ``value`` is a URL with a password in it (a secret, though its key is not)."""
    return "://" in value and mask_url_password(value) != value


def mask_url_password(url: str) -> str:
    """The URL with the password in its userinfo replaced by ``***``; never raises.

    Splits at the last ``@`` so an unescaped ``@`` inside the password cannot leak part of it
    (at worst more than the password is hidden).
    """
    scheme, sep, rest = url.partition("://")
    if not sep:  # a typo such as postgresql//u:pw@host must not show the password either
        scheme, rest = "", url
    at = rest.rfind("@")
    if at < 0:
        return url
    userinfo = rest[:at]
    if ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{rest[at + 1:]}"


def changes(old: EnvFile | Mapping[str, str | None],
            new: EnvFile | Mapping[str, str | None]) -> list[tuple[str, str | None, str | None]]:
    """What differs between two documents: (key, old masked, new masked), None when absent."""
    before = old.values() if isinstance(old, EnvFile) else dict(old)
    after = new.values() if isinstance(new, EnvFile) else dict(new)
    result: list[tuple[str, str | None, str | None]] = []
    for key in list(before) + [k for k in after if k not in before]:
        if key in before and key in after and before[key] == after[key]:
            continue
        result.append((key, mask(key, before[key]) if key in before else None,
                       mask(key, after[key]) if key in after else None))
    return result


# -- validation ------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"your[_-]|xxxxxx|\.\.\.$|changeme|example\.com", re.IGNORECASE)
_JWT_SEGMENT = re.compile(r"[A-Za-z0-9_-]+\Z")
_RAZORPAY_ID = re.compile(r"rzp_(test|live)_[A-Za-z0-9]+\Z")
_MODE_PREFIX = re.compile(r"(?:rzp_)?(test|live)_", re.IGNORECASE)


def validate(key: str, value: str, context: Mapping[str, str | None] | None = None
             ) -> list[Problem]:
    """What is wrong with ``value`` for ``key`` (empty when nothing).

    Known keys are checked against what RaptorFlow expects; unknown keys accept anything a .env
    can hold. ``context`` (the file's other values) enables cross-checks such as a Razorpay test
    key id paired with a live secret.
    """
    problems: list[Problem] = []
    if not _KEY_NAME.match(key):
        return [Problem("error", f"{key!r} is not a valid variable name")]
    if "\x00" in value:
        return [Problem("error", "the value contains a NUL character")]
    if key not in KNOWN_KEYS:
        return problems
    if not value.strip():
        return [Problem("error", f"{key} is empty")]
    if value != value.strip():
        problems.append(Problem("warn", "the value has leading or trailing whitespace"))
    checker = _CHECKERS.get(key)
    if checker is not None:
        problems.extend(checker(value, context or {}))
    if _PLACEHOLDER.search(value) and not any(p.level == "error" for p in problems):
        problems.append(Problem("warn", "looks like the guide's placeholder, not a real value"))
    return problems


def validate_all(values: Mapping[str, str | None]) -> dict[str, list[Problem]]:
    """``validate`` for every key that has a value, with the file as context."""
    return {key: found for key, value in values.items() if value is not None
            if (found := validate(key, value, values))}


def _check_database_url(value: str, _ctx: Mapping[str, str | None]) -> list[Problem]:
    from rfsetup.core.settings import normalize_database_url

    try:
        url = normalize_database_url(value)
    except RfsetupError as exc:
        return [Problem("error", exc.message + (f" ({exc.hint})" if exc.hint else ""))]
    if url.password is None:
        return [Problem("warn", "the URL has no password (fine only for trust/peer auth)")]
    return []


def _check_supabase_url(value: str, _ctx: Mapping[str, str | None]) -> list[Problem]:
    try:
        parts = urlsplit(value)
    except ValueError:
        return [Problem("error", "not a URL; expected https://<project>.supabase.co")]
    if parts.scheme == "https" and parts.hostname:
        return []
    if parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1"):
        # the Supabase CLI's local stack is served over plain http
        return [Problem("warn", "http:// is only for a local Supabase (supabase start)")]
    return [Problem("error", "must be an https:// URL, e.g. https://<project>.supabase.co")]


def _jwt_payload(value: str) -> dict[str, object] | None:
    parts = value.split(".")
    if len(parts) != 3 or not all(_JWT_SEGMENT.match(p) for p in parts):
        return None
    try:
        header = json.loads(_b64url(parts[0]))
        payload = json.loads(_b64url(parts[1]))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(header, dict) or "alg" not in header or not isinstance(payload, dict):
        return None
    return payload


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


_Checker = Callable[[str, Mapping[str, str | None]], list[Problem]]


def _supabase_key_checker(expected_role: str, new_prefix: str) -> _Checker:
    def check(value: str, _ctx: Mapping[str, str | None]) -> list[Problem]:
        if value.startswith(new_prefix):
            # Supabase's newer API keys are not JWTs; RaptorFlow's backend verifies JWT keys
            return [Problem("warn", f"a new-style {new_prefix}… key: the guide expects the "
                            "legacy JWT key (Project Settings > API > Legacy API keys)")]
        payload = _jwt_payload(value)
        if payload is None:
            return [Problem("error", "not a JWT (three base64url parts, eyJ…); copy it from "
                            "Project Settings > API")]
        role = payload.get("role")
        if role is not None and role != expected_role:
            return [Problem("warn", f"this key's role is {role!r}, expected {expected_role!r} "
                            "(anon and service keys swapped?)")]
        return []

    return check


def _check_jwt_secret(value: str, _ctx: Mapping[str, str | None]) -> list[Problem]:
    if len(value.encode()) < 32:
        return [Problem("warn", "shorter than Supabase's JWT secrets (at least 32 characters)")]
    return []


def _check_razorpay_id(value: str, ctx: Mapping[str, str | None]) -> list[Problem]:
    match = _RAZORPAY_ID.match(value)
    if not match:
        return [Problem("error", "must start with rzp_test_ or rzp_live_ followed by letters "
                        "and digits")]
    return _mode_mismatch(match.group(1), ctx.get("RAZORPAY_KEY_SECRET"))


def _check_razorpay_secret(value: str, ctx: Mapping[str, str | None]) -> list[Problem]:
    problems: list[Problem] = []
    if _RAZORPAY_ID.match(value):
        return [Problem("error", "this is a key id (rzp_…), not the key secret")]
    key_id = ctx.get("RAZORPAY_KEY_ID") or ""
    match = _RAZORPAY_ID.match(key_id)
    if match:
        problems.extend(_mode_mismatch(match.group(1), value))
    return problems


def _mode_mismatch(id_mode: str, secret: str | None) -> list[Problem]:
    """Razorpay secrets carry no mode; a labelled one (live_…/test_…) is checked against the id."""
    if not secret:
        return []
    label = _MODE_PREFIX.match(secret)
    if label and label.group(1).lower() != id_mode:
        return [Problem("warn", f"a {id_mode} key id with a {label.group(1).lower()} secret")]
    return []


def _check_nonempty_secret(value: str, _ctx: Mapping[str, str | None]) -> list[Problem]:
    if len(value) < 8:
        return [Problem("warn", "suspiciously short for a secret")]
    return []


def _check_secret_key(value: str, _ctx: Mapping[str, str | None]) -> list[Problem]:
    if value.startswith("$("):
        # the guide's `SECRET_KEY=$(openssl rand -hex 32)` is shell syntax a .env never runs
        return [Problem("error", "a shell command, not a secret (a .env file does not run it); "
                        "use: rfsetup env generate-secret")]
    if len(value.encode()) < 32:
        return [Problem("error", f"only {len(value.encode())} bytes; at least 32 are needed "
                        "(rfsetup env generate-secret makes one)")]
    return []


def _check_redis_url(value: str, _ctx: Mapping[str, str | None]) -> list[Problem]:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return [Problem("error", "not a valid URL; expected redis://HOST:6379/0")]
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        return [Problem("error", "must be redis://HOST:PORT/DB or rediss://… (TLS)")]
    return []


_CHECKERS: dict[str, _Checker] = {
    "DATABASE_URL": _check_database_url,
    "SUPABASE_URL": _check_supabase_url,
    "SUPABASE_ANON_KEY": _supabase_key_checker("anon", "sb_publishable_"),
    "SUPABASE_SERVICE_KEY": _supabase_key_checker("service_role", "sb_secret_"),
    "SUPABASE_JWT_SECRET": _check_jwt_secret,
    "RAZORPAY_KEY_ID": _check_razorpay_id,
    "RAZORPAY_KEY_SECRET": _check_razorpay_secret,
    "RAZORPAY_WEBHOOK_SECRET": _check_nonempty_secret,
    "SECRET_KEY": _check_secret_key,
    "REDIS_URL": _check_redis_url,
}
