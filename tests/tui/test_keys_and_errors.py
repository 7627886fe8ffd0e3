"""Keys (ids, palette, remapping, Ctrl+Q) and user mistakes (an ErrorModal, never a traceback,
nothing written). These run without a database: the app is started with autoload=False."""

from __future__ import annotations

from pathlib import Path

from textual.binding import Binding
from textual.command import CommandList, CommandPalette
from textual.widgets import Input

from rfsetup.core.errors import ExitCode
from rfsetup.tui.app import RfsetupApp, parse_keymap
from rfsetup.tui.modals.ask import AskModal
from rfsetup.tui.modals.error import ErrorModal
from rfsetup.tui.screens.base import unexpected_error
from rfsetup.tui.state import STEPS
from tests.tui.conftest import settings_for, type_into, wait_for

CLOSED = "postgresql://someone:hunter2@127.0.0.1:9/nowhere"


def _app(project: Path, **kw) -> RfsetupApp:
    return RfsetupApp(settings_for(project, CLOSED), autoload=False, **kw)


async def _open_environment(pilot, app: RfsetupApp) -> None:
    """Press 2 and load the .env into the form (nothing loads by itself: autoload=False)."""
    await pilot.press("2")
    env = app.step_screen("environment")
    env.load()
    await wait_for(pilot, lambda: env.document is not None, what="the .env")


async def test_every_binding_has_an_id_and_a_palette_entry(project_dir: Path) -> None:
    app = _app(project_dir)
    async with app.run_test(size=(80, 24)):
        bindings = [b for b in app.BINDINGS if isinstance(b, Binding)]
        for screen in app.step_screens():
            bindings += [b for b in screen.BINDINGS if isinstance(b, Binding)]
        ids = [b.id for b in bindings]
        assert all(ids) and len(ids) == len(set(ids)), ids
        titles = [title for title, _, _ in app.palette_commands()]
        for info in STEPS:
            assert f"Go to {info.number} {info.title}" in titles
        for screen in app.step_screens():
            for binding in screen.BINDINGS:
                assert any(binding.id in helptext for _, helptext, _ in app.palette_commands())


async def test_palette_runs_a_step_action(project_dir: Path) -> None:
    app = _app(project_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+p")
        await type_into(pilot, "Go to 6 Verify")

        def best_match() -> str:
            # the palette searches in the background: wait for its answer, not for a clock
            if not isinstance(app.screen, CommandPalette):
                return ""
            hits = app.screen.query_one(CommandList)
            if hits.highlighted is None:
                return ""
            return str(hits.get_option_at_index(hits.highlighted).prompt)

        await wait_for(pilot, lambda: "Go to 6 Verify" in best_match(), what="the palette's hit")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_step == "verify", what="the palette")


async def test_number_keys_and_a_remapped_key(project_dir: Path) -> None:
    app = _app(project_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        for info in STEPS:
            await pilot.press(str(info.number))
            assert app.current_step == info.id
        app.set_keymap(parse_keymap("step-5=f6;quit=ctrl+x"))
        await pilot.press("1", "f6")
        assert app.current_step == "seed"
        await pilot.press("ctrl+x")
    assert app.return_code == 0


async def test_ctrl_q_quits_from_a_form_field(project_dir: Path) -> None:
    app = _app(project_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2", "tab")
        assert isinstance(app.focused, Input)
        await pilot.press("5")  # digits type into a field...
        assert app.current_step == "environment"
        await pilot.press("escape", "5")  # ...Escape leaves it, and they jump again,
        assert isinstance(app.screen, AskModal)  # after the unsaved "5" is asked about
        await pilot.press("d")  # discard
        await wait_for(pilot, lambda: app.current_step == "seed", what="step 5")
        await pilot.press("2", "tab", "ctrl+q")
    assert app.return_code == 0


async def test_invalid_env_value_is_refused_with_an_error_modal(project_dir: Path) -> None:
    env_path = project_dir / ".env"
    env_path.write_text("# mine\nSECRET_KEY=short\nKEEP=me\n")
    before = env_path.read_bytes()
    app = _app(project_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open_environment(pilot, app)
        field = app.query_one("#env-SECRET_KEY", Input)
        assert field.password and field.has_class("-invalid")  # validated as loaded
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal), what="the error")
        assert "invalid values" in app.screen.error.message
        assert "SECRET_KEY" in (app.screen.error.cause or "")
        await pilot.press("enter")
        assert not isinstance(app.screen, ErrorModal)
        # generating a key fixes it as you type: the field is valid again
        await pilot.press("ctrl+g")
        assert not field.has_class("-invalid") and len(field.value) == 64
    assert env_path.read_bytes() == before


async def test_reveal_toggles_secrets_and_url_passwords(project_dir: Path) -> None:
    (project_dir / ".env").write_text(f"DATABASE_URL={CLOSED}\nRAZORPAY_KEY_SECRET=abcdefgh12\n")
    app = _app(project_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open_environment(pilot, app)
        url = app.query_one("#env-DATABASE_URL", Input)
        secret = app.query_one("#env-RAZORPAY_KEY_SECRET", Input)
        hint = str(app.query_one("#env-hint-DATABASE_URL").render())
        assert url.password and secret.password
        assert "someone:***@127.0.0.1" in hint and "hunter2" not in hint
        await pilot.press("ctrl+r")
        assert not url.password and not secret.password
        await pilot.press("ctrl+r")
        assert url.password and secret.password


async def test_bad_admin_url_is_bad_input_and_creates_nothing(project_dir: Path) -> None:
    app = _app(project_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3", "tab")
        assert app.focused.id == "db-admin-url"
        await type_into(pilot, "mysql://root@localhost/x")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal), what="the error")
        assert app.screen.error.exit_code == ExitCode.USAGE
        assert app.step_screen("database").result is None


async def test_unreachable_admin_server_is_diagnosed_not_a_traceback(project_dir: Path) -> None:
    app = _app(project_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3", "tab")
        await type_into(pilot, "postgresql://postgres@127.0.0.1:9/postgres")
        await pilot.press("tab")
        await type_into(pilot, "s3cr3t-admin")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal), what="the error")
        error = app.screen.error
        assert error.exit_code == ExitCode.CONNECT and error.kind == "server_down"
        assert "s3cr3t-admin" not in str(error.to_dict())


def test_unexpected_errors_are_scrubbed_of_known_secrets() -> None:
    err = unexpected_error("seed", ValueError("failed for postgres:hunter2@db"), ["hunter2"])
    assert "hunter2" not in str(err.to_dict()) and err.kind == "unexpected"
    assert err.cause == "ValueError: failed for postgres:***@db"
