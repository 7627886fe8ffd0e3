"""The one masker: what a secret looks like, and how text is made safe to show.

- ``mask_url``: a URL (or a broken one, or a libpq ``key=value`` string) with its secrets
  replaced by ``***``: the userinfo password, a password-less userinfo where it is a key
  rather than a user name (``https://KEY@sentry.io/1``), and secret query parameters
  (``?password=``, which libpq accepts, ``sslpassword``, ``token``…). Always on the side of
  hiding too much: an unescaped ``@`` in a password hides up to the last ``@``.
- ``scrub``: free text (an error message, a tool's output) with the secrets of the URLs in
  play, and any URL or ``password=`` in it, masked.
- ``looks_secret``: whether a variable's name says its value is a secret.
- ``printable``: text with control and other non-printable characters escaped (``\\x1b``), so
  a value cannot drive the terminal; bytes that were not UTF-8 show as ``\\xNN``.

Standard library only: ``URL`` objects (SQLAlchemy's) are used through duck typing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, unquote

MASK = "***"

# -- secret names ------------------------------------------------------------------------------

# A name is split into words at anything but letters and digits (DB_PASS -> DB, PASS).
#: words that make any name a secret wherever they are (STRIPE_SK, DB_PW, PASSWORD_SALT)
SECRET_WORDS = frozenset({
    "PASS", "PASSWORD", "PASSWORDS", "PASSWD", "PASSPHRASE", "PASSCODE", "PWD", "PW",
    "SECRET", "SECRETS", "TOKEN", "TOKENS", "PRIVATE", "CREDENTIAL", "CREDENTIALS", "CREDS",
    "SK", "APIKEY", "SALT", "HMAC", "BEARER", "PRIVKEY",
})
#: words that make a name a secret when they end it (SECRET_KEY, REDIS_AUTH, JWT_SIGNING) but
#: not elsewhere (KEY_ID, AUTH_PROVIDER, SIGNATURE_HEADER)
SECRET_LAST_WORDS = frozenset({"KEY", "AUTH", "SIGNING", "SIGNATURE", "SIG"})
#: glued spellings: PGPASSWORD, GITHUBTOKEN, MYAPIKEY, DBPASS (a word ending in PASS)
_SECRET_PARTS = ("PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN", "CREDENTIAL", "PRIVATE",
                 "APIKEY", "API_KEY", "PWD")
#: words with PASS in them that are not passwords (a CDN_PASSTHROUGH=true stays readable)
NOT_SECRET_PASS_WORDS = frozenset({
    "PASSTHROUGH", "PASSTHRU", "PASSIVE", "PASSENGER", "PASSENGERS", "PASSPORT", "BYPASS",
    "COMPASS", "ENCOMPASS", "SURPASS", "PASSED", "PASSES", "PASSING", "PASSAGE",
})
#: names whose value is a URL: only its secrets are hidden (mask_url), not the whole value
URL_NAME_SUFFIXES = ("_URL", "_URI", "_DSN")

_WORD_SPLIT = re.compile(r"[^A-Z0-9]+")


def looks_secret(name: str) -> bool:
    """Whether ``name`` (an environment variable, a query parameter) names a secret.

    The rule: a secret word anywhere (PASS, PASSWORD, PW, PWD, SECRET, TOKEN, SK, SALT…), a
    secret last word (…_KEY, …_AUTH, …_SIGNING, …_SIGNATURE), a word containing PASS unless it
    is one of the words where PASS means something else (PASSTHROUGH, BYPASS, PASSIVE…), or a
    glued spelling (PGPASSWORD). URL-valued names (…_URL, …_URI, …_DSN) are not: their value
    is shown with ``mask_url``.
    """
    upper = name.upper()
    if upper.endswith(URL_NAME_SUFFIXES):
        return False
    words = [w for w in _WORD_SPLIT.split(upper) if w]
    if not words:
        return False
    if any(w in SECRET_WORDS for w in words) or words[-1] in SECRET_LAST_WORDS:
        return True
    if any("PASS" in w and w not in NOT_SECRET_PASS_WORDS for w in words):
        return True
    return any(part in upper for part in _SECRET_PARTS)


# -- URLs ----------------------------------------------------------------------------------------

#: schemes whose password-less userinfo is a user name (shown); in any other (https://KEY@…,
#: a Sentry DSN, git's https://TOKEN@github.com) it is a key and hidden
_USER_SCHEMES = re.compile(
    r"(postgres|postgresql|mysql|mariadb|redis|rediss|valkey|mongodb|amqp|amqps|mssql|oracle|"
    r"cockroachdb|clickhouse|sqlite|ssh|sftp|ftp|ftps|ldap|ldaps|nats|kafka)(\+[\w.+-]*)?\Z",
    re.IGNORECASE)
# the end of a query value: the next `&name=` (a bare `&` may be inside an unescaped password)
_PARAM = re.compile(r"(?:^|(?<=[?&;]))([^=&;#?]+)=")
_CONNINFO_PASSWORD = re.compile(r"""\b((?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S+)""",
                                re.IGNORECASE)
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_QUERY_SECRET_NAMES = frozenset({"sig", "key", "auth", "access_token", "client_secret"})


def _as_text(url: Any) -> str:
    if isinstance(url, str):
        return url
    render = getattr(url, "render_as_string", None)  # SQLAlchemy's URL
    return render(hide_password=False) if render else str(url)


def mask_url(url: Any) -> str:
    """``url`` (a string, a SQLAlchemy URL, or text too broken to parse) with every secret in
    it replaced by ``***``; never raises."""
    text = _as_text(url)
    out, pos = [], 0
    for start, end in _secret_spans(text):
        out.append(text[pos:start] + MASK)
        pos = end
    return "".join(out) + text[pos:]


def _secret_spans(text: str) -> list[tuple[int, int]]:
    """Where the secrets of a URL-ish ``text`` are: (start, end) pairs, in order, disjoint."""
    scheme, sep, rest = text.partition("://")
    if not sep:  # a typo such as postgresql//u:pw@host, or a libpq key=value string
        scheme, rest = "", text
    base = len(scheme) + len(sep)
    spans: list[tuple[int, int]] = []
    at = rest.rfind("@")
    if at >= 0:
        userinfo = rest[:at]
        colon = userinfo.find(":")
        if colon >= 0:
            # up to the LAST @: an unescaped @ in the password must not show what follows it
            spans.append((base + colon + 1, base + at))
        elif sep and userinfo and not re.search(r"[/?#]", userinfo) \
                and not _USER_SCHEMES.match(scheme):
            spans.append((base, base + at))
    # the query from the first ?, even one the userinfo span covers: the union of both
    # readings hides whichever is the real one
    q = rest.find("?")
    if q >= 0:
        spans.extend((base + q + 1 + a, base + q + 1 + b) for a, b in _query_spans(rest[q + 1:]))
    elif not sep:
        spans.extend(m.span(2) for m in _CONNINFO_PASSWORD.finditer(text))
    return _merged(spans)


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    result: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if result and start <= result[-1][1]:
            result[-1] = (result[-1][0], max(result[-1][1], end))
        else:
            result.append((start, end))
    return result


def _query_spans(query: str) -> list[tuple[int, int]]:
    query = query.split("#", 1)[0]
    params = list(_PARAM.finditer(query))
    spans = []
    for index, match in enumerate(params):
        # a value runs to the next `&name=`, so a bare & inside a password stays hidden
        end = params[index + 1].start() - 1 if index + 1 < len(params) else len(query)
        if end > match.end() and _secret_param(match.group(1)):
            spans.append((match.end(), end))
    return spans


def _secret_param(name: str) -> bool:
    plain = unquote(name).strip()
    return plain.lower() in _QUERY_SECRET_NAMES or looks_secret(plain)


def has_secret(url: Any) -> bool:
    """Whether ``url`` carries a secret (a password in its userinfo or its query)."""
    return bool(_secret_spans(_as_text(url)))


def url_secrets(url: Any) -> list[str]:
    """The secrets inside ``url`` (its password, secret query values), raw, %-decoded and
    %-encoded, longest first: what ``scrub`` removes from text that may quote them."""
    found: set[str] = set()
    password = getattr(url, "password", None)
    if password:
        found.add(str(password))
    query = getattr(url, "query", None)
    if query is not None and hasattr(query, "items"):
        for name, value in query.items():
            if _secret_param(name):
                found.update(v for v in ([value] if isinstance(value, str) else value) if v)
    text = _as_text(url)
    found.update(text[a:b] for a, b in _secret_spans(text))
    result: set[str] = set()
    for secret in found:
        result.update({secret, unquote(secret), quote(secret, safe="")})
    # a one-character "secret" would turn every such character of a message into ***
    return sorted((s for s in result if len(s) >= 2), key=len, reverse=True)


def scrub(text: str, *sources: Any) -> str:
    """``text`` with every secret of ``sources`` (URLs, URL strings, or secret strings
    themselves) replaced by ``***``, and any URL or ``password=…`` in it masked."""
    return scrub_with(text, secrets_of(*sources))


def secrets_of(*sources: Any) -> tuple[str, ...]:
    """What ``scrub`` removes for ``sources``, longest first: worked out once for a writer
    that scrubs many lines with the same sources (``scrub_with``)."""
    secrets: set[str] = set()
    for source in sources:
        if source is None:
            continue
        if isinstance(source, str) and not _looks_like_url(source):
            if source:
                secrets.add(source)
            continue
        secrets.update(url_secrets(source))
    return tuple(sorted(secrets, key=len, reverse=True))


def scrub_with(text: str, secrets: Iterable[str]) -> str:
    """``scrub`` with the secrets already worked out (``secrets_of``)."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    if "://" in text:
        text = _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), text)
    return _CONNINFO_PASSWORD.sub(lambda m: m.group(1) + MASK, text)


def _looks_like_url(text: str) -> bool:
    return "://" in text or ("@" in text and ":" in text.rsplit("@", 1)[0])


# -- values ---------------------------------------------------------------------------------------


def mask_value(value: str | None, *, secret: bool) -> str:
    """A value as shown to people: a secret as ``*** (N characters)``, a URL with its secrets
    masked (``mask_url``), anything else as it is."""
    if value is None:
        return ""
    if secret:
        return f"{MASK} ({len(value)} characters)" if value else ""
    if _looks_like_url(value) or "?" in value or "password" in value.lower():
        return mask_url(value)
    return value


def printable(text: str) -> str:
    """``text`` with every non-printable character escaped: ``\\n``, ``\\t``, ``\\r``,
    ``\\x1b``, ``\\u202e``; a byte that was not UTF-8 (a ``surrogateescape`` surrogate) as
    ``\\xNN``."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(ch: str) -> str:
    code = ord(ch)
    if ch in _NAMED:
        return _NAMED[ch]
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the original byte
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable_all(items: Iterable[str]) -> list[str]:
    """``printable`` of each item."""
    return [printable(item) for item in items]
