"""The .env form's safety net on real files: changes on disk seen (a touch is not one), the
three-way merge per key, and an unparsable line replaced rather than its key duplicated."""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import dotenv_values

from rfsetup.core import envmerge
from rfsetup.core.envfile import EnvFile


def test_check_sees_content_changes_not_touches(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("A=1\nB=2\n")
    doc, state = envmerge.load(env)
    assert doc.values() == {"A": "1", "B": "2"} and state.exists and state.sha256
    assert envmerge.check(env, state) == (state, None)
    os.utime(env, ns=(state.mtime_ns + 5_000_000_000, state.mtime_ns + 5_000_000_000))
    touched, unchanged = envmerge.check(env, state)
    assert unchanged is None and touched.mtime_ns != state.mtime_ns
    # the same size and the touched mtime: the bytes tell (the hash)
    env.write_text("A=9\nB=2\n")
    os.utime(env, ns=(touched.mtime_ns, touched.mtime_ns))
    now, changed = envmerge.check(env, state)
    assert changed is not None and changed.get("A") == "9" and now.sha256 != state.sha256
    env.unlink()
    gone, empty = envmerge.check(env, now)
    assert not gone.exists and empty is not None and empty.values() == {}
    # a file that appears where there was none
    _, absent = envmerge.load(env)
    env.write_text("A=1\n")
    assert envmerge.check(env, absent)[1] is not None


def test_merge_per_key() -> None:
    base = {"A": "1", "B": "2", "C": "3", "D": "4", "E": None}
    mine = {"A": "1", "B": "mine", "C": "mine", "D": "same", "E": ""}
    theirs = {"A": "disk", "B": "2", "C": "disk", "D": "same", "E": None, "F": "new"}
    m = envmerge.merge(base, mine, theirs, keys=["A", "B", "C", "D", "E"])
    assert (m.theirs, m.mine, m.same) == (("A",), ("B",), ("D",))
    assert m.conflicts == (envmerge.Conflict("C", "3", "mine", "disk"),)
    assert m.disk_changed
    values = m.values(mine, theirs)
    assert values["A"] == "disk" and values["B"] == "mine" and values["C"] == "disk"
    assert values["F"] == "new"  # a key the form does not show comes from the file
    assert m.values(mine, theirs, keep_mine=["C"])["C"] == "mine"
    nothing = envmerge.merge(base, {k: v or "" for k, v in base.items()}, base)
    assert not nothing.disk_changed and not nothing.mine


def test_unparsable_line_is_named_and_replaced_not_duplicated(tmp_path: Path) -> None:
    text = ('# settings\r\nAPP=raptor\r\n\r\nexport SECRET_KEY="unterminated\r\n'
            "broken line without equals sign\r\nREDIS_URL=redis://h:6379/0\r\n")
    doc = EnvFile.parse(text)
    assert "SECRET_KEY" not in doc.values()
    assert envmerge.unparsable(doc) == [envmerge.Unparsable(4, "SECRET_KEY"),
                                        envmerge.Unparsable(5, "broken")]
    assert envmerge.unparsable_keys(doc) == {"SECRET_KEY": 4, "broken": 5}
    fixed = envmerge.set_value(doc, "SECRET_KEY", "a" * 64)
    assert fixed.text == text.replace('export SECRET_KEY="unterminated',
                                      "export SECRET_KEY=" + "a" * 64)
    assert fixed.text.count("SECRET_KEY") == 1
    assert envmerge.unparsable_keys(fixed) == {"broken": 5}
    env = tmp_path / ".env"
    env.write_bytes(fixed.text.encode())
    assert dotenv_values(env)["SECRET_KEY"] == "a" * 64
    assert dotenv_values(env)["REDIS_URL"] == "redis://h:6379/0"
    # a key bound properly too is set where dotenv reads it; the broken line stays
    both = EnvFile.parse('K="broken\nK=ok\n')
    assert envmerge.unparsable_keys(both) == {}
    assert envmerge.set_value(both, "K", "new").text == 'K="broken\nK=new\n'
    # a key nowhere is appended as before
    assert envmerge.set_value(doc, "NEW", "v").text.endswith("NEW=v\r\n")


def test_a_value_that_needs_quoting_replaces_a_broken_line_and_reads_back() -> None:
    doc = EnvFile.parse('A="x\nB=2\n')
    value = 'has "quotes" and \n a newline # not a comment'
    fixed = envmerge.set_value(doc, "A", value)
    assert fixed.values() == {"A": value, "B": "2"}
    assert fixed.text.endswith("B=2\n") and fixed.text.count("A=") == 1
