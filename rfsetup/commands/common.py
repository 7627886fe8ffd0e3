"""What every command shares: resolving the context from the global flags, and output helpers."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rfsetup.core.settings import Settings, load_settings


def context_from_args(args: argparse.Namespace) -> Settings:
    """Settings from the global flags; with --sandbox, the sandbox's URLs (started if needed)."""
    settings = load_settings(args.env_file, args.config, sandbox=args.sandbox)
    # `env` edits the .env file and `sandbox` manages the servers itself: neither should
    # start (or, on a first run, initdb) the sandbox just because --sandbox was given
    if settings.sandbox and getattr(args, "command", None) not in ("sandbox", "env"):
        from rfsetup.core import sandbox

        settings = sandbox.apply(settings)
    return settings


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
