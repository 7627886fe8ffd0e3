"""The same terminal app in a browser: ``rfsetup serve`` over textual-serve's protocol.

Each browser tab that connects gets its own ``rfsetup`` app process (textual-serve's
``AppService`` runs it with Textual's web driver and relays the terminal over a WebSocket);
the page and its JavaScript are textual-serve's, served from its package (fonts included, so
nothing is fetched from the internet). The server is rfsetup's own small aiohttp app, because
what it lets in matters more than in a demo:

- bound to loopback (127.0.0.1) by default; bound elsewhere, every page and WebSocket request
  must carry the token made for this run (``secrets.token_urlsafe``), which only the printed
  URL holds: a request without it is refused (403), compared in constant time. ``--token``
  asks for one on loopback too (other users of the machine can reach loopback);
- the WebSocket that drives the app accepts only its own page's Origin, so a web page open in
  the same browser cannot type into it (cross-site WebSocket hijacking);
- on loopback the Host header must name loopback, so a DNS-rebinding page cannot reach it.

The app processes inherit this process's environment (DATABASE_URL stays out of argv) and are
given the same ``--env-file``, ``-c`` and ``--sandbox``.
"""

from __future__ import annotations

import contextlib
import hmac
import html
import ipaddress
import secrets
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rfsetup.core.errors import RfsetupError, bad_input

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
_LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or name) is this machine only."""
    name = host.strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def app_command(env_file: Path | None, alembic_ini: Path | None, sandbox: bool) -> str:
    """The shell command each browser session runs: this Python's rfsetup, same flags."""
    argv = [sys.executable, "-m", "rfsetup.cli"]
    if env_file is not None:
        argv += ["--env-file", str(Path(env_file).resolve())]
    if alembic_ini is not None:
        argv += ["-c", str(Path(alembic_ini).resolve())]
    if sandbox:
        argv.append("--sandbox")
    return shlex.join(argv)


def _textual_serve() -> Path:
    try:
        import textual_serve
    except ImportError:
        raise RfsetupError("rfsetup serve needs textual-serve, which is not installed",
                           hint="pip install 'rfsetup[serve]'", kind="missing_module") from None
    return Path(textual_serve.__file__).parent


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="stylesheet" href="{static}css/xterm.css">
<style>
@font-face {{ font-family: "Roboto Mono"; font-weight: 100 900;
  src: url("{static}fonts/RobotoMono-VariableFont_wght.ttf") format("truetype"); }}
@font-face {{ font-family: "Roboto Mono"; font-style: italic; font-weight: 100 900;
  src: url("{static}fonts/RobotoMono-Italic-VariableFont_wght.ttf") format("truetype"); }}
html, body {{ margin: 0; height: 100%; background: #0c181f; }}
#terminal {{ position: absolute; inset: 0; opacity: 0; transition: opacity .3s ease-out; }}
body.-first-byte #terminal {{ opacity: 1; }}
.notice {{ position: absolute; inset: 0; display: flex; align-items: center;
  justify-content: center; color: rgba(255,255,255,.9); font: 16px "Roboto Mono", monospace; }}
body.-first-byte .starting, .ended {{ display: none; }}
body.-closed .ended {{ display: flex; z-index: 10; background: #0c181f; }}
button {{ margin-left: 16px; padding: 8px 24px; font: inherit; color: #fff;
  background: #5e0ba7; border: 0; cursor: pointer; }}
</style>
<script src="{static}js/textual.js"></script>
</head>
<body>
<div class="notice starting">starting {title}…</div>
<div class="notice ended">The session ended.
  <button type="button" onclick="window.location.reload()">Start again</button></div>
<div id="terminal" class="textual-terminal" data-session-websocket-url="{websocket}"
     data-font-size="{font_size}"></div>
</body>
</html>
"""


@dataclass
class WebServer:
    """The aiohttp application behind ``rfsetup serve`` (``make_app``), and its rules."""

    command: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    #: the run's token, required on every page and WebSocket request (None: not required)
    token: str | None = None
    title: str = "rfsetup"

    @classmethod
    def create(cls, command: str, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *,
               require_token: bool = False) -> WebServer:
        """A server for ``command`` on ``host``:``port``; a token made for this run unless it
        is bound to loopback (or ``require_token``)."""
        if not host.strip():
            raise bad_input("--host is empty", hint=f"e.g. --host {DEFAULT_HOST}")
        if not 0 <= port < 65536:
            raise bad_input(f"--port {port} is not a port (0-65535; 0 picks a free one)")
        token = secrets.token_urlsafe(24) if require_token or not is_loopback(host) else None
        return cls(command, host, port, token)

    def url(self, port: int | None = None, host: str | None = None) -> str:
        """The URL to open (the token in it when one is required)."""
        shown = host or self.host
        if ":" in shown and not shown.startswith("["):
            shown = f"[{shown}]"
        query = f"?token={self.token}" if self.token else ""
        return f"http://{shown}:{port or self.port}/{query}"

    # -- the rules ------------------------------------------------------------------------------
    def token_ok(self, given: str | None) -> bool:
        """The run's token, compared in constant time (always true when none is required)."""
        if self.token is None:
            return True
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def host_ok(self, host_header: str | None) -> bool:
        """On loopback, the Host header must be loopback too (DNS rebinding)."""
        if not is_loopback(self.host):
            return True
        from urllib.parse import urlsplit

        try:
            name = urlsplit(f"//{host_header or ''}").hostname
        except ValueError:
            return False
        return bool(name) and is_loopback(name or "")

    @staticmethod
    def origin_ok(origin: str | None, host_header: str | None) -> bool:
        """A WebSocket from this server's own page: Origin is http(s)://<Host>."""
        if not origin or not host_header:
            return False
        return origin in (f"http://{host_header}", f"https://{host_header}")

    # -- the application ------------------------------------------------------------------------
    def make_app(self) -> Any:
        """The aiohttp ``web.Application``: the page, its static files, the WebSocket."""
        from aiohttp import web

        static = _textual_serve() / "static"

        @web.middleware
        async def guard(request: web.Request, handler: Any) -> Any:
            if not self.host_ok(request.headers.get("Host")):
                raise web.HTTPForbidden(text="rfsetup serve: this Host is not served here\n")
            return await handler(request)

        app = web.Application(middlewares=[guard])
        app.add_routes([
            web.get("/", self._index),
            web.get("/ws", self._websocket),
            web.get("/ws/{token}", self._websocket),
            web.static("/static", static, show_index=False),
        ])
        return app

    async def _index(self, request: Any) -> Any:
        from aiohttp import web

        if not self.token_ok(request.query.get("token")):
            raise web.HTTPForbidden(text="rfsetup serve: open the URL rfsetup printed "
                                         "(with its token)\n")
        scheme = "wss" if request.secure else "ws"
        path = f"/ws/{self.token}" if self.token else "/ws"
        try:
            font_size = max(8, min(40, int(request.query.get("fontsize", "16"))))
        except ValueError:
            font_size = 16
        page = PAGE.format(title=html.escape(self.title), static="/static/",
                           websocket=html.escape(f"{scheme}://{request.host}{path}"),
                           font_size=font_size)
        return web.Response(text=page, content_type="text/html",
                            headers={"Cache-Control": "no-store",
                                     "Referrer-Policy": "no-referrer"})

    async def _websocket(self, request: Any) -> Any:
        from aiohttp import WSMsgType, web
        from textual_serve.app_service import AppService
        from textual_serve.download_manager import DownloadManager

        if not self.token_ok(request.match_info.get("token")):
            raise web.HTTPForbidden(text="rfsetup serve: no valid token\n")
        if not self.origin_ok(request.headers.get("Origin"), request.headers.get("Host")):
            raise web.HTTPForbidden(text="rfsetup serve: only its own page may connect\n")
        socket = web.WebSocketResponse(heartbeat=15)
        await socket.prepare(request)
        width, height = _size(request.query.get("width"), 80), _size(request.query.get(
            "height"), 24)
        service = AppService(self.command, write_bytes=socket.send_bytes,
                             write_str=socket.send_str, close=socket.close,
                             download_manager=DownloadManager())
        await service.start(width, height)
        try:
            async for message in socket:
                if message.type != WSMsgType.TEXT:
                    continue
                envelope = message.json()
                kind, data = envelope[0], envelope[1] if len(envelope) > 1 else None
                if kind == "stdin":
                    await service.send_bytes(str(data).encode("utf-8"))
                elif kind == "resize":
                    await service.set_terminal_size(_size(data.get("width"), width),
                                                    _size(data.get("height"), height))
                elif kind == "ping":
                    await socket.send_json(["pong", data])
                elif kind == "blur":
                    await service.blur()
                elif kind == "focus":
                    await service.focus()
        finally:
            await service.stop()
        return socket


def _size(value: Any, default: int) -> int:
    try:
        return max(10, min(1000, int(value)))
    except (TypeError, ValueError):
        return default


def serve(server: WebServer, *, on_ready: Callable[[str], None],
          advertised: Sequence[str] = ()) -> None:
    """Run ``server`` until Ctrl-C (or SIGTERM); ``on_ready`` gets the URL to open once it
    listens (its real port when 0 was asked for), then each of ``advertised`` hosts' URLs."""
    import asyncio
    import signal

    from aiohttp import web

    async def main() -> None:
        runner = web.AppRunner(server.make_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, server.host, server.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise RfsetupError(f"cannot listen on {server.host}:{server.port}",
                               cause=exc.strerror or str(exc),
                               hint="choose another --port (0 picks a free one)",
                               kind="listen_failed") from None
        addresses = runner.addresses
        port = int(addresses[0][1]) if addresses else server.port
        on_ready(server.url(port))
        for host in advertised:
            on_ready(server.url(port, host))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            # not on Windows, nor outside the main thread: Ctrl-C still ends asyncio.run
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    asyncio.run(main())
