"""Property tests: setting one key keeps every other byte, and dotenv reads the result as the
old values with just that key changed."""

from __future__ import annotations

import io

from dotenv.parser import parse_stream
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rfsetup.core.envfile import EnvFile
from rfsetup.core.errors import ExitCode, RfsetupError
from tests.core.test_envfile import _assert_only_key_changed, _dotenv

KEYS = st.sampled_from(["A", "SECRET_KEY", "DATABASE_URL", "B_2", "export_me", "NEW_KEY"])
# values anyone might paste: all of unicode except NUL and lone surrogates (not encodable)
VALUES = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                 max_size=40)
SIMPLE = st.text(st.sampled_from("abcXYZ019 _-#='\"\\$/@:%é☃"), max_size=12)


@st.composite
def lines(draw: st.DrawFn) -> str:
    """One line (or multi-line binding) as people write them, without its line ending."""
    kind = draw(st.sampled_from(["binding", "binding", "binding", "comment", "blank", "junk"]))
    if kind == "comment":
        return draw(st.sampled_from(["", "  ", "\t"])) + "#" + draw(SIMPLE)
    if kind == "blank":
        return draw(st.sampled_from(["", " ", "\t "]))
    if kind == "junk":
        return draw(SIMPLE)
    key = draw(KEYS)
    export = draw(st.sampled_from(["", "export ", "export\t"]))
    key_text = draw(st.sampled_from([key, f"'{key}'"]))
    eq = draw(st.sampled_from(["=", " = ", "= ", "=\t"]))
    raw = draw(SIMPLE)
    value = draw(st.sampled_from([
        raw.replace("#", "").strip(),
        "'" + raw.replace("\\", "").replace("'", "") + "'",
        '"' + raw.replace("\\", "").replace('"', "") + '"',
        '"multi\nline ' + raw.replace("\\", "").replace('"', "") + '"',
        "",
    ]))
    comment = draw(st.sampled_from(["", " # trailing", "  #x", "#tight"]))
    bare_key = draw(st.booleans())
    if bare_key and draw(st.integers(0, 9)) == 0:
        return f"{export}{key_text}"
    return f"{export}{key_text}{eq}{value}{comment}"


@st.composite
def documents(draw: st.DrawFn) -> str:
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    body = [draw(lines()) for _ in range(draw(st.integers(0, 8)))]
    text = eol.join(line.replace("\n", eol) for line in body)
    if body and draw(st.booleans()):
        text += eol
    return text


def _has_error_binding(text: str) -> bool:
    return any(b.error for b in parse_stream(io.StringIO(text)))


def _check(text: str, key: str, value: str) -> None:
    doc = EnvFile.parse(text)
    assert doc.text == text
    try:
        after = doc.set(key, value).text
    except RfsetupError as exc:
        # refused only when the file already has a line dotenv cannot parse
        assert exc.exit_code == ExitCode.USAGE
        assert _has_error_binding(text)
        return
    _assert_only_key_changed(text, after, key, value)
    # and the new document parses back to the same text
    assert EnvFile.parse(after).text == after


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), KEYS, VALUES)
@example("A=1\nSECRET_KEY=x", "SECRET_KEY", "new\nline")
@example('A="open\nB=2\n', "NEW_KEY", 'q"uote')
@example("\ufeffA=1\r\n", "A", "\r")
def test_set_on_generated_documents(text: str, key: str, value: str) -> None:
    _check(text, key, value)


@settings(max_examples=200, deadline=None)
@given(st.text(st.sampled_from("AK=\"' #\\\n\r\texport$é"), max_size=40), KEYS, VALUES)
def test_set_on_arbitrary_text(text: str, key: str, value: str) -> None:
    _check(text, key, value)


@settings(max_examples=100, deadline=None)
@given(VALUES)
def test_any_value_round_trips_through_a_file(value: str) -> None:
    after = EnvFile.parse("").set("K", value).text
    assert _dotenv(after) == {"K": value}


def _structure(doc: EnvFile) -> tuple[object, ...]:
    return (doc.text, doc.values(), doc.keys(), doc.error_lines(), doc.line_ending)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.lists(st.tuples(KEYS, VALUES), min_size=1, max_size=4))
def test_edits_in_a_row_match_a_fresh_parse(text: str, edits: list[tuple[str, str]]) -> None:
    """The document model edits binding by binding without re-parsing the whole text; after any
    sequence of sets it must be indistinguishable from parsing its text afresh."""
    doc = EnvFile.parse(text)
    for key, value in edits:
        try:
            doc = doc.set(key, value)
        except RfsetupError:
            assert _has_error_binding(doc.text)
            return
        assert _structure(doc) == _structure(EnvFile.parse(doc.text))
        assert doc.get(key) == value


# bytes as files hold them: UTF-8, latin-1 leftovers, lone continuation bytes, CRLF
RAW = st.lists(st.sampled_from([b"A=1", b"# caf\xe9", b"B='x\xff'", b"C=\xc3\xa9t\xc3\xa9",
                                b"\x80\x81 junk", b'D="m\nl\xfe"', b"", b"export E=\xe9"]),
               max_size=6)


@settings(max_examples=150, deadline=None)
@given(RAW, st.sampled_from([b"\n", b"\r\n"]), KEYS, SIMPLE)
def test_bytes_that_are_not_utf8_round_trip_through_a_file(
        lines: list[bytes], eol: bytes, key: str, value: str) -> None:
    """Every byte outside the edited binding is written back exactly (surrogateescape)."""
    import tempfile
    from pathlib import Path

    from rfsetup.core.envfile import save

    raw = eol.join(lines) + (eol if lines else b"")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ".env"
        path.write_bytes(raw)
        doc = EnvFile.load(path)
        save(path, doc)
        assert path.read_bytes() == raw
        try:
            edited = doc.set(key, value)
        except RfsetupError:
            return
        save(path, edited)
        written = path.read_bytes()
        assert EnvFile.load(path).get(key) == value
        text = raw.decode("utf-8", "surrogateescape")
        _assert_only_key_changed(text, written.decode("utf-8", "surrogateescape"), key, value)
