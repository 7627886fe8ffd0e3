"""``rfsetup serve [--host 127.0.0.1] [--port N] [--token]``: the terminal app in a browser."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rfsetup.commands.registry import arg, command

if TYPE_CHECKING:
    from rfsetup.core.settings import Settings


@command("serve",
         arg("--host", default="127.0.0.1",
             help="the address to listen on (default 127.0.0.1: this machine only)"),
         arg("--port", type=int, default=8000, help="the port (default 8000; 0: a free one)"),
         arg("--token", dest="require_token", action="store_true",
             help="require the one-time token on loopback too (always required elsewhere)"),
         example="rfsetup serve\nrfsetup --sandbox serve --port 8765\n"
                 "rfsetup serve --host 0.0.0.0   # prints a URL with a one-time token")
def serve(args: argparse.Namespace, ctx: Settings) -> int:
    """the terminal app in a browser (textual-serve)

    Serves the same terminal app to a browser: each tab gets its own rfsetup app process,
    with the same --env-file, -c and --sandbox, and this shell's environment. Bound to
    127.0.0.1 by default. Bound to any other address, the printed URL carries a token made
    for this run and every request without it is refused (403); --token asks for one on
    loopback too. Only the served page may open the app's WebSocket. Ctrl-C stops it.
    Needs the serve extra: pip install 'rfsetup[serve]'.
    """
    from rfsetup.core import webserve

    server = webserve.WebServer.create(
        webserve.app_command(ctx.env_file, ctx.alembic_ini, ctx.sandbox), args.host, args.port,
        require_token=args.require_token)
    advertised = []
    if args.host in ("0.0.0.0", "::"):
        import socket

        advertised.append(socket.gethostname())

    def ready(url: str) -> None:
        print(f"rfsetup serve: open {url}", flush=True)

    if server.token is not None:
        print("rfsetup serve: the token in the URL is made for this run; requests without "
              "it are refused", flush=True)
    print("rfsetup serve: Ctrl-C stops it", flush=True)
    webserve.serve(server, on_ready=ready, advertised=advertised)
    return 0
