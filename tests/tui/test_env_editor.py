"""The .env editor loses no work (issue 10, item 3), driven by keys against a real file while
the app runs on the real test server: a change on disk is seen and merged (a key changed on
both sides is a conflict the user decides), the list of changes shows the file as it is now,
a write racing another writer is refused and merged again, Ctrl+L / leaving / Ctrl+Q ask
before dropping edits, an unparsable line is named and replaced (never duplicated), and a
valid SECRET_KEY is rotated only when confirmed."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Static

from rfsetup.core.envfile import EnvFile, update
from rfsetup.tui.app import RfsetupApp
from rfsetup.tui.modals.ask import AskModal
from rfsetup.tui.modals.changes import ChangesModal
from rfsetup.tui.modals.merge import MergeModal
from tests.core.test_prereqs import GOOD_ENV
from tests.tui.conftest import FAST_POLL, settings_for, type_into, wait_for

SIZE = (100, 32)


def _write(path: Path, values: dict[str, str], head: str = "# RaptorFlow\n") -> None:
    path.write_text(head + "".join(f"{k}={v}\n" for k, v in values.items()))


def _set_on_disk(path: Path, key: str, value: str) -> None:
    """What another editor (or `rfsetup env set`) does meanwhile: one key, every other byte
    kept, through the same locked writer."""
    update(path, lambda doc: doc.set(key, value))


def _field(app: RfsetupApp, key: str) -> Input:
    return app.query_one(f"#env-{key}", Input)


def _hint(app: RfsetupApp, key: str) -> str:
    return str(app.query_one(f"#env-hint-{key}", Static).render())


async def _open(pilot, app: RfsetupApp):
    await pilot.press("2")
    env = app.step_screen("environment")
    await wait_for(pilot, lambda: env.document is not None, what="the .env form")
    return env


async def _type_in(pilot, app: RfsetupApp, key: str, text: str) -> None:
    field = _field(app, key)
    field.focus()
    await pilot.pause()
    field.value = ""
    await type_into(pilot, text)


async def test_a_change_on_disk_is_merged_with_the_edits_and_saved_on_top(
        fresh_db: str, project_dir: Path) -> None:
    env_path = project_dir / ".env"
    _write(env_path, {**GOOD_ENV, "REDIS_URL": "redis://localhost:6379/0"})
    app = RfsetupApp(settings_for(project_dir, fresh_db), poll_interval=FAST_POLL)
    async with app.run_test(size=SIZE) as pilot:
        env = await _open(pilot, app)
        await _type_in(pilot, app, "REDIS_URL", "redis://cache.internal:6380/1")
        # meanwhile, another editor changes another key: the poll sees it, nothing is asked
        _set_on_disk(env_path, "RAZORPAY_KEY_ID", "rzp_live_NewKey42")
        await wait_for(pilot, lambda: _field(app, "RAZORPAY_KEY_ID").value ==
                       "rzp_live_NewKey42", what="the change on disk in the form")
        assert _field(app, "REDIS_URL").value == "redis://cache.internal:6380/1"
        assert env.edits() == {"REDIS_URL": "redis://cache.internal:6380/1"}
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ChangesModal), what="the changes")
        assert app.screen.changes == [("REDIS_URL", "redis://localhost:6379/0",
                                       "redis://cache.internal:6380/1")]
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not env.edits() and not isinstance(app.screen,
                                                                         ChangesModal),
                       what="the save")
        await wait_for(pilot, lambda: env.saved_note is not None, what="saved")
    values = EnvFile.load(env_path).values()
    assert values["RAZORPAY_KEY_ID"] == "rzp_live_NewKey42"  # the other editor's change kept
    assert values["REDIS_URL"] == "redis://cache.internal:6380/1"
    assert env_path.read_text().startswith("# RaptorFlow\n")


async def test_a_key_changed_on_both_sides_is_a_conflict_the_user_decides(
        fresh_db: str, project_dir: Path) -> None:
    env_path = project_dir / ".env"
    _write(env_path, GOOD_ENV)
    app = RfsetupApp(settings_for(project_dir, fresh_db), poll_interval=FAST_POLL)
    async with app.run_test(size=SIZE) as pilot:
        env = await _open(pilot, app)
        await _type_in(pilot, app, "SUPABASE_URL", "https://mine.supabase.co")
        await _type_in(pilot, app, "RAZORPAY_KEY_ID", "rzp_test_Mine1")
        _set_on_disk(env_path, "SUPABASE_URL", "https://theirs.supabase.co")
        await wait_for(pilot, lambda: isinstance(app.screen, MergeModal), what="the merge")
        modal = app.screen
        assert [c.key for c in modal.merge.conflicts] == ["SUPABASE_URL"]
        assert modal.merge.mine == ("RAZORPAY_KEY_ID",)
        await pilot.press("space")  # this conflict: the file's value
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, MergeModal), what="merged")
        assert _field(app, "SUPABASE_URL").value == "https://theirs.supabase.co"
        assert env.edits() == {"RAZORPAY_KEY_ID": "rzp_test_Mine1"}
        # the change list is against the file as it is now
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ChangesModal), what="the changes")
        assert app.screen.changes == [("RAZORPAY_KEY_ID", GOOD_ENV["RAZORPAY_KEY_ID"],
                                       "rzp_test_Mine1")]
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not env.edits() and env.saved_note is not None,
                       what="the save")
    values = EnvFile.load(env_path).values()
    assert values["SUPABASE_URL"] == "https://theirs.supabase.co"
    assert values["RAZORPAY_KEY_ID"] == "rzp_test_Mine1"


async def test_saving_uses_the_file_as_it_is_now_even_between_polls(
        fresh_db: str, project_dir: Path) -> None:
    """No poll in between (autoload off): Ctrl+S itself reads the file; and a write racing
    the open list of changes is refused and merged again, never overwriting."""
    env_path = project_dir / ".env"
    _write(env_path, GOOD_ENV)
    app = RfsetupApp(settings_for(project_dir, fresh_db), autoload=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        env = app.step_screen("environment")
        env.load()
        await wait_for(pilot, lambda: env.document is not None, what="the .env form")
        await _type_in(pilot, app, "SUPABASE_URL", "https://mine.supabase.co")
        _set_on_disk(env_path, "RAZORPAY_KEY_ID", "rzp_test_Theirs1")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ChangesModal), what="the changes")
        assert app.screen.changes == [("SUPABASE_URL", GOOD_ENV["SUPABASE_URL"],
                                       "https://mine.supabase.co")]
        assert _field(app, "RAZORPAY_KEY_ID").value == "rzp_test_Theirs1"
        # while the list is open, the file changes once more: the write is refused…
        _set_on_disk(env_path, "SUPABASE_URL", "https://late.supabase.co")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, MergeModal), what="the merge")
        assert [c.key for c in app.screen.merge.conflicts] == ["SUPABASE_URL"]
        assert EnvFile.load(env_path).get("SUPABASE_URL") == "https://late.supabase.co"
        await pilot.press("ctrl+s")  # keep mine (the default), then the list again
        await wait_for(pilot, lambda: isinstance(app.screen, ChangesModal), what="the list")
        assert app.screen.changes == [("SUPABASE_URL", "https://late.supabase.co",
                                       "https://mine.supabase.co")]
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not env.edits() and env.saved_note is not None,
                       what="the save")
    values = EnvFile.load(env_path).values()
    assert values["SUPABASE_URL"] == "https://mine.supabase.co"
    assert values["RAZORPAY_KEY_ID"] == "rzp_test_Theirs1"


async def test_reload_leaving_and_quitting_ask_before_dropping_edits(
        fresh_db: str, project_dir: Path) -> None:
    env_path = project_dir / ".env"
    _write(env_path, GOOD_ENV)
    before = env_path.read_bytes()
    app = RfsetupApp(settings_for(project_dir, fresh_db), poll_interval=FAST_POLL)
    async with app.run_test(size=SIZE) as pilot:
        env = await _open(pilot, app)
        await _type_in(pilot, app, "RAZORPAY_KEY_ID", "rzp_test_Unsaved1")
        # Ctrl+L: asked; Escape keeps the edit
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, AskModal), what="reload asked")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, AskModal), what="closed")
        assert _field(app, "RAZORPAY_KEY_ID").value == "rzp_test_Unsaved1"
        # leaving the step: asked; Escape stays on the step with the edit
        await pilot.press("escape", "3")
        await wait_for(pilot, lambda: isinstance(app.screen, AskModal), what="leave asked")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, AskModal), what="closed")
        assert app.current_step == "environment" and env.edits()
        # Ctrl+Q: asked; Save shows the list, and the app quits once the file is written
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, AskModal), what="quit asked")
        assert env_path.read_bytes() == before
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ChangesModal), what="the changes")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not app.is_running, what="the app to quit")
    assert app.return_code == 0
    assert EnvFile.load(env_path).get("RAZORPAY_KEY_ID") == "rzp_test_Unsaved1"


async def test_discarding_on_leave_and_reload(fresh_db: str, project_dir: Path) -> None:
    env_path = project_dir / ".env"
    _write(env_path, GOOD_ENV)
    before = env_path.read_bytes()
    app = RfsetupApp(settings_for(project_dir, fresh_db), poll_interval=FAST_POLL)
    async with app.run_test(size=SIZE) as pilot:
        env = await _open(pilot, app)
        await _type_in(pilot, app, "RAZORPAY_KEY_ID", "rzp_test_Dropped1")
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, AskModal), what="reload asked")
        await pilot.press("d")
        await wait_for(pilot, lambda: _field(app, "RAZORPAY_KEY_ID").value ==
                       GOOD_ENV["RAZORPAY_KEY_ID"], what="the file's value again")
        await _type_in(pilot, app, "RAZORPAY_KEY_ID", "rzp_test_Dropped2")
        await pilot.press("escape", "4")
        await wait_for(pilot, lambda: isinstance(app.screen, AskModal), what="leave asked")
        await pilot.press("d")
        await wait_for(pilot, lambda: app.current_step == "migrations", what="step 4")
        assert not env.edits()
    assert env_path.read_bytes() == before


async def test_an_unparsable_line_is_named_and_replaced_not_duplicated(
        fresh_db: str, project_dir: Path) -> None:
    env_path = project_dir / ".env"
    values = {k: v for k, v in GOOD_ENV.items() if k != "SECRET_KEY"}
    _write(env_path, values, head='# RaptorFlow\nSECRET_KEY="unterminated\n')
    app = RfsetupApp(settings_for(project_dir, fresh_db), poll_interval=FAST_POLL)
    async with app.run_test(size=SIZE) as pilot:
        env = await _open(pilot, app)
        hint = _hint(app, "SECRET_KEY")
        assert "line 2 of the file cannot be parsed" in hint and "(not set)" not in hint
        assert _field(app, "SECRET_KEY").has_class("-invalid")
        await _type_in(pilot, app, "SECRET_KEY", "f" * 64)
        assert "saving replaces line 2" in _hint(app, "SECRET_KEY")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ChangesModal), what="the changes")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: env.saved_note is not None, what="the save")
    text = env_path.read_text()
    assert text.count("SECRET_KEY") == 1 and text.startswith("# RaptorFlow\nSECRET_KEY=fff")
    assert EnvFile.load(env_path).get("SECRET_KEY") == "f" * 64


async def test_ctrl_g_asks_before_rotating_a_valid_secret_key(
        fresh_db: str, project_dir: Path) -> None:
    env_path = project_dir / ".env"
    _write(env_path, GOOD_ENV)
    app = RfsetupApp(settings_for(project_dir, fresh_db), poll_interval=FAST_POLL)
    async with app.run_test(size=SIZE) as pilot:
        env = await _open(pilot, app)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, AskModal), what="rotation asked")
        assert "logs every user out" in str(app.screen.query_one("#ask-body", Static).render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, AskModal), what="closed")
        assert _field(app, "SECRET_KEY").value == GOOD_ENV["SECRET_KEY"] and not env.edits()
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, AskModal), what="rotation asked")
        await pilot.press("g")
        await wait_for(pilot, lambda: "SECRET_KEY" in env.edits(), what="a new key")
        assert len(bytes.fromhex(_field(app, "SECRET_KEY").value)) == 32
        # a placeholder is not a secret: replaced without asking
        await _type_in(pilot, app, "SECRET_KEY", "$(openssl rand -hex 32)")
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert not isinstance(app.screen, AskModal)
        assert len(bytes.fromhex(_field(app, "SECRET_KEY").value)) == 32
