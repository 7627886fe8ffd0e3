"""A migration's SQL as statements, and which of them are what the move is about.

Alembic's offline SQL wraps each revision in ``BEGIN``/``COMMIT`` and writes the version table's
row; the statements that change the schema or the data (``DROP``, ``ALTER``, ``CREATE``…) are
few and easy to miss among them. Here the SQL is cut into statements (quotes, dollar quotes and
comments respected) and each is classified, so a confirmation can show what matters first
(``changes_text``) and the full SQL after it. ``impact`` reads what the drops among them hold.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rfsetup.core.alembic.planning import count_text

if TYPE_CHECKING:
    from rfsetup.core.alembic.sqlpreview import Preview

#: one identifier as PostgreSQL reads it: quoted (``""`` inside) or plain
IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
#: a possibly qualified name: ``users``, ``public.users``, ``"My Schema"."My Table"``
NAME = rf"{IDENT}(?:\s*\.\s*{IDENT}){{0,2}}"
_TRANSACTION = re.compile(r"^(BEGIN|COMMIT|END|ROLLBACK|START\s+TRANSACTION|SAVEPOINT|RELEASE)\b",
                          re.IGNORECASE)
_SETTING = re.compile(r"^(SET|RESET)\b", re.IGNORECASE)

_VERSION_WRITE = r"^(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|CREATE\s+TABLE(?:\s+IF\s+NOT\s+EXISTS)?" \
                 r"|ALTER\s+TABLE|DROP\s+TABLE(?:\s+IF\s+EXISTS)?)\s+(?:ONLY\s+)?{vt}(?![\w$])"


# -- statements ---------------------------------------------------------------------------------
def split_statements(sql: str) -> list[str]:
    """``sql`` cut at the semicolons that end statements (not those inside quotes, dollar
    quotes or comments); each piece keeps its text and the comments before it."""
    pieces: list[str] = []
    start = i = 0
    n = len(sql)
    while i < n:
        c = sql[i]
        if c == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif c == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif c in "'\"":
            i = _after_quoted(sql, i, c)
        elif c == "$":
            match = re.match(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$", sql[i:])
            if match:
                end = sql.find(match.group(0), i + len(match.group(0)))
                i = n if end < 0 else end + len(match.group(0))
            else:
                i += 1
        elif c == ";":
            pieces.append(sql[start:i + 1])
            start = i = i + 1
        else:
            i += 1
    if sql[start:].strip():
        pieces.append(sql[start:])
    return [p.strip() for p in pieces if p.strip()]


def _after_quoted(sql: str, i: int, quote: str) -> int:
    j = i + 1
    while j < len(sql):
        if sql[j] == quote:
            if sql.startswith(quote * 2, j):  # '' or "" inside: still quoted
                j += 2
                continue
            return j + 1
        j += 1
    return len(sql)


def strip_comments(statement: str) -> str:
    """The statement without its comments, whitespace collapsed to single spaces (quoted text
    kept as it is)."""
    out: list[str] = []
    i, n = 0, len(statement)
    while i < n:
        c = statement[i]
        if c == "-" and statement.startswith("--", i):
            end = statement.find("\n", i)
            i = n if end < 0 else end + 1
            out.append(" ")
        elif c == "/" and statement.startswith("/*", i):
            end = statement.find("*/", i + 2)
            i = n if end < 0 else end + 2
            out.append(" ")
        elif c in "'\"":
            j = _after_quoted(statement, i, c)
            out.append(statement[i:j])
            i = j
        elif c.isspace():
            out.append(" ")
            i += 1
        else:
            out.append(c)
            i += 1
    return re.sub(r" {2,}", " ", "".join(out)).strip()


def classify(statement: str, version_table: str = "alembic_version") -> str:
    """``change`` (what the move is about), ``transaction`` (BEGIN/COMMIT…), ``setting``
    (SET/RESET), ``bookkeeping`` (the version table's row) or ``comment`` (nothing runs)."""
    text = strip_comments(statement)
    if not text or text == ";":
        return "comment"
    if _TRANSACTION.match(text):
        return "transaction"
    if _SETTING.match(text):
        return "setting"
    if _version_write(version_table).match(text):
        return "bookkeeping"
    return "change"


def _version_write(version_table: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in version_table.split(".")]
    name = r"\s*\.\s*".join(rf'"?{p}"?' for p in parts)
    if len(parts) == 1:  # an unqualified table may still be written with its schema
        name = rf'(?:{IDENT}\s*\.\s*)?{name}'
    return re.compile(_VERSION_WRITE.format(vt=name), re.IGNORECASE)


@dataclass(frozen=True)
class StepStatements:
    """One revision's statements: what it changes (one line each, in order), and how many
    statements are Alembic's bookkeeping around them."""

    revision: str
    message: str
    changes: tuple[str, ...]
    bookkeeping: int
    #: False: the revision has no offline SQL (its Python runs; see the preview)
    offline: bool = True


def statements_of(preview: Preview) -> list[StepStatements]:
    """Per revision of ``preview``, the statements that matter, then the bookkeeping count."""
    result = []
    for step in preview.steps:
        changes: list[str] = []
        other = 0
        if step.offline:
            for statement in split_statements(step.sql):
                kind = classify(statement, preview.version_table)
                if kind == "change":
                    changes.append(strip_comments(statement))
                elif kind != "comment":
                    other += 1
        result.append(StepStatements(step.revision, step.message, tuple(changes), other,
                                     step.offline))
    return result


def changes_text(steps: Sequence[StepStatements]) -> str:
    """The statements that matter first, as SQL comments and statements (what both UIs show
    above the full SQL): ``-- 4 statements change the schema or data:`` …"""
    total = sum(len(s.changes) for s in steps)
    other = sum(s.bookkeeping for s in steps)
    lines = [f"-- {count_text(total, 'statement')} change the schema or data"
             + (f" ({len(steps)} revisions)" if len(steps) > 1 else "") + ":"]
    for step in steps:
        lines.append(f"-- {step.revision}: {step.message}".rstrip(": "))
        if not step.offline:
            lines.append("--   no offline SQL: its Python runs (shown in the full SQL below)")
        lines.extend(step.changes)
    if other:
        lines.append(f"-- + {count_text(other, 'statement')} of Alembic's bookkeeping "
                     "(BEGIN/COMMIT, the version table): in the full SQL")
    return "\n".join(lines)


def top_level_split(text: str) -> list[str]:
    """``a, b(c, d), "e,f"`` -> ``a``, ``b(c, d)``, ``"e,f"``."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        c = text[i]
        if c in "'\"":
            i = _after_quoted(text, i, c)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


def unquote(name: str) -> str:
    """``public."My Table"`` as PostgreSQL names it for people: ``public.My Table``; a plain
    identifier folded to lower case, as the server does."""
    parts = re.findall(IDENT, name)
    return ".".join(p[1:-1].replace('""', '"') if p.startswith('"') else p.lower()
                    for p in parts)
