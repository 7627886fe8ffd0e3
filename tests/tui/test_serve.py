"""`rfsetup serve`: the real server, the real app processes, and a real headless browser
(Debian's chromium, driven by Playwright without a downloaded browser) that loads the page, sees
the step list, and presses a key. The token and Origin rules are tried with real requests.

Skipped, with the reason, where chromium is not installed (.ci/run installs it as root).
Set RFSETUP_SCREENSHOT_DIR to keep the browser's screenshot as serve.png (the README's).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from rfsetup.core import alembic as migrations
from rfsetup.core.webserve import WebServer, is_loopback
from tests.conftest import ALEMBIC_INI
from tests.helpers.db import settings_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: how Debian's chromium runs here: headless, as root, with no network but loopback
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
ANSI = re.compile(r"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][A-Z0-9])")


def test_the_rules_without_a_server() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("[::1]")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.7")
    assert WebServer.create("true", "0.0.0.0", 8000).token  # bound elsewhere: a token
    assert WebServer.create("true", "127.0.0.1", 8000).token is None
    assert WebServer.create("true", "127.0.0.1", 8000, require_token=True).token
    one, two = WebServer.create("true", "::", 1), WebServer.create("true", "::", 1)
    assert one.token != two.token and len(one.token or "") >= 32  # made for each run
    assert one.url(8765).startswith("http://[::]:8765/?token=")
    local = WebServer.create("true")
    assert local.host_ok("127.0.0.1:8000") and local.host_ok("localhost")
    assert not local.host_ok("rebind.example:8000") and not local.host_ok(None)
    assert WebServer.origin_ok("http://127.0.0.1:8000", "127.0.0.1:8000")
    assert not WebServer.origin_ok("http://evil.example", "127.0.0.1:8000")
    assert not WebServer.origin_ok(None, "127.0.0.1:8000")


@pytest.fixture
def served(fresh_db: str, redis_server, project_dir: Path) -> Iterator[str]:
    """`rfsetup serve --port 0 --token` on the test database; yields the printed URL."""
    settings = settings_for(ALEMBIC_INI, fresh_db, project_dir)
    migrations.upgrade(settings, "0003_intel", backup=False)  # one pending: the panel says so
    env = {**os.environ, "DATABASE_URL": fresh_db, "REDIS_URL": redis_server.url(),
           "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rfsetup.cli", "-c", str(ALEMBIC_INI), "serve", "--port", "0",
         "--token"], cwd=project_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True)
    assert proc.stdout is not None
    url, said = None, []
    deadline = time.monotonic() + 30
    while url is None and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        said.append(line)
        found = re.search(r"open (http://\S+)", line)
        url = found.group(1) if found else None
    try:
        assert url, "".join(said)
        assert fresh_db.split("@")[0].rsplit(":", 1)[1] not in "".join(said)  # no password
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                    timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def test_requests_without_the_token_are_refused(served: str) -> None:
    base, token = served.split("?token=")
    assert _status(served) == 200
    assert _status(base) == 403
    wrong = token[:-1] + ("y" if token.endswith("x") else "x")  # one character off
    assert _status(f"{base}?token={wrong}") == 403
    assert _status(f"{base}ws") == 403 and _status(f"{base}ws/not-the-token") == 403
    assert _status(f"{base}static/js/textual.js") == 200  # the library's files are public
    assert _status(served, {"Host": f"rebind.example:{base.rsplit(':', 1)[1]}"}) == 403

    async def handshake(origin: str) -> int:
        import aiohttp

        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(f"{base}ws/{token}", headers={"Origin": origin}):
                    return 101
            except aiohttp.WSServerHandshakeError as err:
                return err.status

    assert asyncio.run(handshake("http://evil.example")) == 403  # another site's page


@pytest.mark.skipif(not Path(CHROMIUM).exists(),
                    reason="Debian's chromium is not installed (.ci/run installs it as root: "
                           "apt-get install chromium)")
def test_a_browser_loads_the_app_sees_the_steps_and_presses_a_key(
        served: str, tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    frames: list[str] = []

    def seen() -> str:
        return ANSI.sub("", "".join(frames))

    def wait_for(text: str, timeout: float = 45) -> None:
        deadline = time.monotonic() + timeout
        while text not in seen():
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never reached the browser: {seen()[-600:]!r}")
            page.wait_for_timeout(100)

    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 760})

            def on_socket(ws: object) -> None:
                ws.on("framereceived", lambda payload: frames.append(  # type: ignore[attr-defined]
                    payload if isinstance(payload, str) else payload.decode("utf-8", "replace")))

            page.on("websocket", on_socket)
            page.goto(served)
            # the step list, drawn by the app in the browser's terminal
            for step in ("1 Prerequisites", "2 Environment", "4 Migrations", "6 Verify"):
                wait_for(step)
            wait_for("1 pending")  # the live panel read the real database
            page.wait_for_function("document.body.classList.contains('-first-byte')")
            # a key pressed in the browser reaches the app: 4 opens Migrations
            page.click("#terminal")
            frames.clear()
            page.keyboard.press("4")
            wait_for("0004_production_indexes")
            wait_for("Upgrade")  # the Migrations step's keys in the footer
            wait_for("CREATE INDEX CONCURRENTLY")  # its SQL, rendered from the real database
            page.wait_for_timeout(1500)
            shot = tmp_path / "serve.png"
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 10_000
    keep = os.environ.get("RFSETUP_SCREENSHOT_DIR")
    if keep:
        shutil.copy(shot, Path(keep) / "serve.png")
