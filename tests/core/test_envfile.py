"""The .env editor: byte-for-byte preservation over a corpus of tricky files, validation,
masking and the atomic 0600 write with a backup."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest
from dotenv import dotenv_values
from dotenv.parser import parse_stream

from rfsetup.core import envfile
from rfsetup.core.envfile import EnvFile, changes, is_secret, mask, save, validate
from rfsetup.core.errors import ExitCode, RfsetupError

# Each file is written in bytes as a person (or an editor) would leave it.
CORPUS: dict[str, str] = {
    "guide": (
        "# Database\n"
        "DATABASE_URL=postgresql+asyncpg://postgres:your_password@localhost:5432/raptorflow\n"
        "\n"
        "# Supabase (get from https://supabase.com/dashboard/project/_/settings/api)\n"
        "SUPABASE_URL=https://your-project.supabase.co\n"
        "SUPABASE_ANON_KEY=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...\n"
        "SECRET_KEY=$(openssl rand -hex 32)\n"
    ),
    "export_and_comments": (
        "   # indented comment\n"
        "export SECRET_KEY=abc  # inline comment\n"
        "export  RAZORPAY_KEY_ID = rzp_test_123\n"
        "#export COMMENTED=1\n"
    ),
    "crlf": "A=1\r\nSECRET_KEY=old\r\n\r\n# c\r\nB='two words'\r\n",
    "lone_cr": "A=1\rSECRET_KEY=old\rB=2\r",
    "multiline": (
        'CERT="-----BEGIN-----\nline two\nline three\n-----END-----"\n'
        "SECRET_KEY='single\nquoted multi'\n"
        "AFTER=yes\n"
    ),
    "multiline_crlf": 'CERT="a\r\nb"\r\nSECRET_KEY=x\r\nZ=1\r\n',
    "no_final_newline": "A=1\nSECRET_KEY=old",
    "no_final_newline_crlf": "A=1\r\nB=2",
    "unknown_and_duplicates": "FOO=bar\nSECRET_KEY=first\nFOO=baz\nSECRET_KEY=second\nX=\n",
    "equals_in_values": "DATABASE_URL=postgresql://u:p=q@h/db?a=b&c=d\nSECRET_KEY=a=b=c\n",
    "single_quotes": "SECRET_KEY='it\\'s \"quoted\" # not a comment'\nB='a\\\\b'\n",
    "double_quotes": 'SECRET_KEY="tab\\there \\"q\\" \\\\ $HOME"\nB="x"#tight comment\n',
    "empty_values": "A=\nB=''\nC=\"\"\nD= # only a comment\nE\nSECRET_KEY=\n",
    "bom": "\ufeffSECRET_KEY=x\nA=1\n",
    "blank_lines_and_spaces": "\n\n  A=1  \n\t\nSECRET_KEY = spaced   \n\n",
    "unparseable_line": "A=1\nthis is not a binding\nSECRET_KEY=x\nB=2\n",
    "quoted_key": "'SECRET_KEY'=x\nA=1\n",
    "empty": "",
    "only_comment_no_newline": "# just a comment",
    "unicode": "NAME=Zoë ☃\nSECRET_KEY=ключ\n",
}

TRICKY_VALUES = [
    "plain",
    "with space",
    "hash # inside",
    "#leading-hash",
    "quote ' single",
    'quote " double',
    "back\\slash\\n not newline",
    "multi\nline\nvalue",
    "crlf\r\ninside",
    "lone\rcr",
    "tab\tinside",
    "$dollar ${NOT_EXPANDED}",
    "unicode Zoë ☃ 🎉",
    "=starts=with=equals",
    "",
    "  padded  ",
]


def _span_of_last(text: str, key: str) -> tuple[int, int] | None:
    """Where dotenv's parser puts the last binding of ``key`` in ``text`` (start, end)."""
    body = text.removeprefix("\ufeff")
    offset = len(text) - len(body)
    pos, span = offset, None
    for binding in parse_stream(io.StringIO(body)):
        end = pos + len(binding.original.string)
        if binding.key == key and not binding.error:
            span = (pos, end)
        pos = end
    return span


def _assert_only_key_changed(before: str, after: str, key: str, value: str) -> None:
    """Every byte outside the key's binding (or an append at the end) is unchanged, and dotenv
    reads the result as the old values with just ``key`` changed."""
    span = _span_of_last(before, key)
    if span is None:
        assert after.startswith(before.rstrip("\r\n") if not before.endswith(("\n", "\r"))
                                else before)
    else:
        start, end = span
        assert after[:start] == before[:start]
        tail = before[end:]
        assert after.endswith(tail)
        assert len(after) - len(tail) >= start
    expected = _dotenv(before)
    expected[key] = value
    assert _dotenv(after) == expected


def _dotenv(text: str) -> dict[str, str | None]:
    """dotenv_values of ``text`` written to disk and read back as dotenv reads files."""
    import tempfile

    with tempfile.NamedTemporaryFile("wb", suffix=".env", delete=False) as handle:
        handle.write(text.encode("utf-8", "surrogateescape"))
    try:
        # as dotenv opens a file (universal newlines), keeping bytes that are not UTF-8
        with open(handle.name, encoding="utf-8", errors="surrogateescape") as stream:
            return dict(dotenv_values(stream=stream, interpolate=False))
    finally:
        os.unlink(handle.name)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_parse_then_text_is_byte_identical(name: str) -> None:
    text = CORPUS[name]
    doc = EnvFile.parse(text)
    assert doc.text == text
    assert doc.values() == _dotenv(text)


@pytest.mark.parametrize("name", sorted(CORPUS))
@pytest.mark.parametrize("value", TRICKY_VALUES)
def test_set_existing_or_new_key_keeps_every_other_byte(name: str, value: str) -> None:
    text = CORPUS[name]
    for key in ("SECRET_KEY", "BRAND_NEW"):
        after = EnvFile.parse(text).set(key, value).text
        _assert_only_key_changed(text, after, key, value)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_round_trip_through_disk_is_byte_identical(name: str, tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(CORPUS[name].encode("utf-8"))
    doc = EnvFile.load(path)
    save(path, doc)
    assert path.read_bytes() == CORPUS[name].encode("utf-8")


def test_specific_edits_look_as_a_person_would_write_them() -> None:
    doc = EnvFile.parse(CORPUS["export_and_comments"])
    assert doc.set("SECRET_KEY", "new").text == (
        "   # indented comment\n"
        "export SECRET_KEY=new  # inline comment\n"
        "export  RAZORPAY_KEY_ID = rzp_test_123\n"
        "#export COMMENTED=1\n"
    )
    crlf = EnvFile.parse(CORPUS["crlf"]).set("NEW", "v").text
    assert crlf == CORPUS["crlf"] + "NEW=v\r\n"
    assert EnvFile.parse(CORPUS["no_final_newline"]).set("NEW", "v").text == (
        "A=1\nSECRET_KEY=old\nNEW=v")
    # a single-quoted value stays single-quoted; a tight #comment after a quote survives
    assert EnvFile.parse("B='a'\n").set("B", "it's").text == "B='it\\'s'\n"
    assert EnvFile.parse('B="x"#c\n').set("B", "y").text == 'B="y"#c\n'
    # only the last of duplicated keys is the one dotenv uses, so only it changes
    assert EnvFile.parse("K=1\nK=2\n").set("K", "3").text == "K=1\nK=3\n"
    # a bare KEY gets its `=`
    assert EnvFile.parse("E\n").set("E", "v").text == "E=v\n"
    # unchanged value: the very same document, quoting untouched
    doc = EnvFile.parse("A='same'\n")
    assert doc.set("A", "same") is doc


def test_set_after_unterminated_quote_is_refused_not_corrupting() -> None:
    text = 'A="never closed\nB=1\n'
    doc = EnvFile.parse(text)
    with pytest.raises(RfsetupError) as info:
        doc.set("NEW", 'has "quotes"')
    assert info.value.exit_code == ExitCode.USAGE
    assert doc.text == text


@pytest.mark.parametrize("key", ["", "1ABC", "A-B", "A B", "A=B", "É"])
def test_invalid_key_names_are_refused(key: str) -> None:
    with pytest.raises(RfsetupError) as info:
        EnvFile.parse("").set(key, "v")
    assert info.value.exit_code == ExitCode.USAGE


def test_nul_is_refused() -> None:
    with pytest.raises(RfsetupError):
        EnvFile.parse("").set("A", "a\x00b")


def test_save_is_atomic_keeps_the_mode_with_backup(tmp_path: Path) -> None:
    """The file keeps the mode its owner chose (issue 9: never loosen, and no silent change:
    a 0644 .env stays 0644); a new file is 0600; the backup has the original's mode."""
    path = tmp_path / ".env"
    original = b"# keep me\r\nSECRET_KEY=old\r\n"
    path.write_bytes(original)
    path.chmod(0o644)
    doc = EnvFile.load(path).set("SECRET_KEY", "n" * 40)
    backup = save(path, doc)
    assert backup == tmp_path / ".env.bak"
    assert backup.read_bytes() == original
    assert path.read_bytes() == b"# keep me\r\nSECRET_KEY=" + b"n" * 40 + b"\r\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(backup.stat().st_mode) == 0o644
    # no temp files left behind; the (empty) lock file stays, see rfsetup.core.files
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env", ".env.bak", ".env.lock"]
    new = tmp_path / "new.env"
    save(new, EnvFile.parse("A=1\n"))
    assert stat.S_IMODE(new.stat().st_mode) == 0o600


def test_save_new_file_and_through_symlink(tmp_path: Path) -> None:
    path = tmp_path / "sub" / ".env"
    assert save(path, EnvFile.load(path).set("A", "1")) is None
    assert path.read_text() == "A=1\n"
    real = tmp_path / "real.env"
    real.write_text("A=1\n")
    link = tmp_path / "link.env"
    link.symlink_to(real)
    save(link, EnvFile.load(link).set("A", "2"))
    assert link.is_symlink()
    assert real.read_text() == "A=2\n"


def test_undecodable_bytes_survive(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    raw = b"# latin-1 comment: caf\xe9\nA=1\n"
    path.write_bytes(raw)
    save(path, EnvFile.load(path).set("A", "2"))
    assert path.read_bytes() == b"# latin-1 comment: caf\xe9\nA=2\n"


# -- validation ------------------------------------------------------------------------------

JWT_ANON = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
            "eyJyb2xlIjoiYW5vbiIsImlzcyI6InN1cGFiYXNlIn0."
            "c2lnbmF0dXJlLWJ5dGVz")
JWT_SERVICE = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
               "eyJyb2xlIjoic2VydmljZV9yb2xlIiwiaXNzIjoic3VwYWJhc2UifQ."
               "c2lnbmF0dXJlLWJ5dGVz")


def _levels(key: str, value: str, ctx: dict[str, str | None] | None = None) -> list[str]:
    return [p.level for p in validate(key, value, ctx)]


@pytest.mark.parametrize(("key", "value"), [
    ("DATABASE_URL", "postgresql+asyncpg://raptorflow:s3cret@localhost:5432/raptorflow"),
    ("DATABASE_URL", "postgres://u:p@db.internal/raptorflow?sslmode=require"),
    ("SUPABASE_URL", "https://abcd.supabase.co"),
    ("SUPABASE_ANON_KEY", JWT_ANON),
    ("SUPABASE_SERVICE_KEY", JWT_SERVICE),
    ("SUPABASE_JWT_SECRET", "a" * 40),
    ("RAZORPAY_KEY_ID", "rzp_test_AbC123"),
    ("RAZORPAY_KEY_ID", "rzp_live_AbC123"),
    ("RAZORPAY_KEY_SECRET", "Zx9Zx9Zx9Zx9Zx9Zx9Zx9Zx9"),
    ("RAZORPAY_WEBHOOK_SECRET", "whsec-long-enough"),
    ("SECRET_KEY", "0123456789abcdef" * 4),
    ("REDIS_URL", "redis://localhost:6379/0"),
    ("REDIS_URL", "rediss://:pw@cache.example.net:6380/1"),
    ("SOMETHING_ELSE", "anything at all"),
])
def test_valid_values_have_no_problems(key: str, value: str) -> None:
    assert validate(key, value) == []


@pytest.mark.parametrize(("key", "value"), [
    ("DATABASE_URL", "mysql://u:p@h/db"),
    ("DATABASE_URL", "not a url"),
    ("DATABASE_URL", "postgresql://u:p@h:99999/db"),
    ("SUPABASE_URL", "http://abcd.supabase.co"),
    ("SUPABASE_URL", "abcd.supabase.co"),
    ("SUPABASE_ANON_KEY", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..."),
    ("SUPABASE_SERVICE_KEY", "plainstring"),
    ("RAZORPAY_KEY_ID", "rzp_prod_123"),
    ("RAZORPAY_KEY_ID", "key_123"),
    ("RAZORPAY_KEY_SECRET", "rzp_test_123"),
    ("SECRET_KEY", "short"),
    ("SECRET_KEY", "x" * 31),
    ("SECRET_KEY", "$(openssl rand -hex 32)"),
    ("REDIS_URL", "http://localhost:6379"),
    ("REDIS_URL", "redis://"),
    ("DATABASE_URL", ""),
    ("A B", "x"),
])
def test_invalid_values_are_errors(key: str, value: str) -> None:
    assert "error" in _levels(key, value)


def test_warnings() -> None:
    assert _levels("SUPABASE_URL", "http://localhost:54321") == ["warn"]
    assert _levels("SUPABASE_ANON_KEY", JWT_SERVICE) == ["warn"]  # swapped keys
    assert _levels("SUPABASE_ANON_KEY", "sb_publishable_abc") == ["warn"]
    assert _levels("RAZORPAY_KEY_ID", "rzp_test_xxxxxxxxxxxxx") == ["warn"]  # the placeholder
    assert "warn" in _levels("DATABASE_URL",
                             "postgresql+asyncpg://postgres:your_password@localhost/raptorflow")
    # a test key id paired with a (labelled) live secret, checked from either side
    ctx: dict[str, str | None] = {"RAZORPAY_KEY_ID": "rzp_test_AbC",
                                  "RAZORPAY_KEY_SECRET": "live_Zx9Zx9Zx9Zx9"}
    assert _levels("RAZORPAY_KEY_SECRET", "live_Zx9Zx9Zx9Zx9", ctx) == ["warn"]
    assert _levels("RAZORPAY_KEY_ID", "rzp_test_AbC", ctx) == ["warn"]
    assert _levels("RAZORPAY_KEY_SECRET", "test_Zx9Zx9Zx9Zx9", ctx) == []


def test_secret_masking() -> None:
    for key in ("SECRET_KEY", "SUPABASE_SERVICE_KEY", "RAZORPAY_KEY_SECRET", "STRIPE_API_KEY",
                "MY_PASSWORD", "GITHUB_TOKEN"):
        assert is_secret(key)
        assert "hunter2hunter2" not in mask(key, "hunter2hunter2")
    for key in ("RAZORPAY_KEY_ID", "SUPABASE_URL", "DATABASE_URL", "LOG_LEVEL"):
        assert not is_secret(key)
    assert mask("LOG_LEVEL", "debug") == "debug"
    assert mask("DATABASE_URL", "postgresql://u:pa@ss@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert mask("REDIS_URL", "redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert mask("DATABASE_URL", "postgresql://u@h/db") == "postgresql://u@h/db"


def test_changes_are_masked() -> None:
    old = EnvFile.parse("SECRET_KEY=oldoldold\nDATABASE_URL=postgresql://u:pw1@h/db\nA=1\n")
    new = old.set("SECRET_KEY", "newnewnew").set("DATABASE_URL", "postgresql://u:pw2@h/db2")
    new = new.set("B", "2")
    found = changes(old, new)
    assert [c[0] for c in found] == ["SECRET_KEY", "DATABASE_URL", "B"]
    flat = repr(found)
    for secret in ("oldoldold", "newnewnew", "pw1", "pw2"):
        assert secret not in flat
    assert found[1] == ("DATABASE_URL", "postgresql://u:***@h/db", "postgresql://u:***@h/db2")
    assert found[2] == ("B", None, "2")


def test_groups_cover_the_guide_keys() -> None:
    assert envfile.REQUIRED_KEYS == (
        "DATABASE_URL", "SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_SERVICE_KEY",
        "SUPABASE_JWT_SECRET", "RAZORPAY_KEY_ID", "RAZORPAY_KEY_SECRET",
        "RAZORPAY_WEBHOOK_SECRET", "SECRET_KEY")
    assert set(envfile.GROUPS) == {"Database", "Supabase", "Razorpay", "Application"}
