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
