"""rfsetup's own config file: the terminal app's keys and theme, in TOML.

    # ~/.config/rfsetup/config.toml  (Settings.config_file: RFSETUP_CONFIG, XDG_CONFIG_HOME…)
    theme = "gruvbox"

    [keys]
    migrate-down-one = "ctrl+d"
    quit = "ctrl+x"

Reading never fails: a missing file is an empty config, and whatever cannot be used (the file
unreadable or not TOML, a value of the wrong type) is listed in ``problems`` for the app to
say at start, never silently dropped. RFSETUP_KEYMAP (``Settings.keymap``) wins over
``[keys]``. The theme chosen in the app is saved here with ``save_theme``: only the ``theme``
line changes (comments, order and ``[keys]`` stay), through the one atomic writer.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rfsetup.core import files
from rfsetup.core.errors import RfsetupError

# a top-level `theme = …` line (a table header ends the top level)
_THEME_LINE = re.compile(rb"^[ \t]*theme[ \t]*=.*$", re.MULTILINE)
_TABLE_LINE = re.compile(rb"^[ \t]*\[", re.MULTILINE)


@dataclass(frozen=True)
class UserConfig:
    """What the config file says, and what of it could not be used."""

    path: Path | None
    keys: Mapping[str, str] = field(default_factory=dict)
    theme: str | None = None
    problems: tuple[str, ...] = ()


def load_user_config(path: Path | None) -> UserConfig:
    """The config at ``path`` (None or missing: empty); never raises."""
    if path is None:
        return UserConfig(None)
    try:
        text = files.read_text(path, what="rfsetup's config file")
    except RfsetupError as exc:
        return UserConfig(path, problems=(f"{path}: {exc.message}; it was not used",))
    if text is None:
        return UserConfig(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return UserConfig(path, problems=(f"{path} is not valid TOML ({exc}); it was not used",))
    problems: list[str] = []
    theme = data.get("theme")
    if theme is not None and not isinstance(theme, str):
        problems.append(f"{path}: theme must be a string (theme = \"gruvbox\"); ignored")
        theme = None
    keys: dict[str, str] = {}
    raw_keys = data.get("keys", {})
    if not isinstance(raw_keys, dict):
        problems.append(f"{path}: keys must be a table ([keys] then binding-id = \"key\"); "
                        "ignored")
        raw_keys = {}
    for binding_id, key in raw_keys.items():
        if isinstance(key, str) and key.strip():
            keys[binding_id] = key.strip()
        else:
            problems.append(f"{path}: [keys] {binding_id} must be a key name such as "
                            "\"ctrl+d\"; ignored")
    for name in data:
        if name not in ("theme", "keys"):
            problems.append(f"{path}: unknown setting {name!r}; ignored")
    return UserConfig(path, keys, theme, tuple(problems))


def with_theme(content: bytes | None, theme: str) -> bytes:
    """``content`` with its top-level ``theme`` set to ``theme``, every other byte kept."""
    line = f"theme = {_toml_string(theme)}".encode()
    if not content:
        return line + b"\n"
    newline = b"\r\n" if b"\r\n" in content else b"\n"
    first_table = _TABLE_LINE.search(content)
    top = content[: first_table.start()] if first_table else content
    match = _THEME_LINE.search(top)
    if match:
        return content[: match.start()] + line + content[match.end():]
    # a new top-level key goes before the first table (after it, it would belong to the table)
    if first_table is None:
        sep = b"" if content.endswith(newline) else newline
        return content + sep + line + newline
    return content[: first_table.start()] + line + newline + content[first_table.start():]


def save_theme(path: Path, theme: str) -> None:
    """Record ``theme`` in the config file (created 0600 when missing); raises RfsetupError
    naming the file when it cannot be written, or when the file is not TOML (then it is left
    exactly as it is)."""

    def edit(before: bytes | None) -> bytes:
        after = with_theme(before, theme)
        try:
            written = tomllib.loads(after.decode("utf-8", "surrogateescape"))
        except (tomllib.TOMLDecodeError, UnicodeError) as exc:
            raise RfsetupError(f"{path} is not valid TOML; the theme was not saved",
                               cause=str(exc), hint="fix or remove the file",
                               kind="config_invalid") from None
        if written.get("theme") != theme:  # a layout the line edit cannot handle
            raise RfsetupError(f"the theme could not be recorded in {path}; nothing was "
                               "written", hint=f"add the line: theme = {_toml_string(theme)}",
                               kind="config_invalid")
        return after

    files.update(path, edit, backup=False, what="rfsetup's config file")


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(ch if ch >= " " else f"\\u{ord(ch):04x}" for ch in escaped) + '"'
