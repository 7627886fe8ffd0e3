"""RaptorFlow's .env, as the database setup guide writes it, and the checks of its values.

Supabase (an https URL, JWT-shaped anon and service keys, a JWT secret), Razorpay (a key id
and secret whose test/live modes agree), the application's SECRET_KEY (32+ bytes) and Redis.
DATABASE_URL is checked by the core (``rfsetup.core.envfile``), which can parse it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from rfsetup.profiles.envschema import Checker, EnvSchema, Problem, check_redis_url

_JWT_SEGMENT = re.compile(r"[A-Za-z0-9_-]+\Z")
_RAZORPAY_ID = re.compile(r"rzp_(test|live)_[A-Za-z0-9]+\Z")
_MODE_PREFIX = re.compile(r"(?:rzp_)?(test|live)_", re.IGNORECASE)


def _check_supabase_url(value: str, _ctx: Mapping[str, str | None]) -> list[Problem]:
    try:
        parts = urlsplit(value)
    except ValueError:
        return [Problem("error", "not a URL; expected https://<project>.supabase.co")]
    if parts.scheme == "https" and parts.hostname:
        return []
    if parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1"):
        # the Supabase CLI's local stack is served over plain http
        return [Problem("warn", "http:// is only for a local Supabase (supabase start)")]
    return [Problem("error", "must be an https:// URL, e.g. https://<project>.supabase.co")]


def _jwt_payload(value: str) -> dict[str, object] | None:
    parts = value.split(".")
    if len(parts) != 3 or not all(_JWT_SEGMENT.match(p) for p in parts):
        return None
    try:
        header = json.loads(_b64url(parts[0]))
        payload = json.loads(_b64url(parts[1]))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(header, dict) or "alg" not in header or not isinstance(payload, dict):
        return None
    return payload


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _supabase_key_checker(expected_role: str, new_prefix: str) -> Checker:
    def check(value: str, _ctx: Mapping[str, str | None]) -> list[Problem]:
        if value.startswith(new_prefix):
            # Supabase's newer API keys are not JWTs; RaptorFlow's backend verifies JWT keys
            return [Problem("warn", f"a new-style {new_prefix}… key: the guide expects the "
                            "legacy JWT key (Project Settings > API > Legacy API keys)")]
        payload = _jwt_payload(value)
        if payload is None:
            return [Problem("error", "not a JWT (three base64url parts, eyJ…); copy it from "
                            "Project Settings > API")]
        role = payload.get("role")
        if role is not None and role != expected_role:
            return [Problem("warn", f"this key's role is {role!r}, expected {expected_role!r} "
                            "(anon and service keys swapped?)")]
        return []

    return check


def _check_jwt_secret(value: str, _ctx: Mapping[str, str | None]) -> list[Problem]:
    if len(value.encode(errors="surrogateescape")) < 32:
        return [Problem("warn", "shorter than Supabase's JWT secrets (at least 32 characters)")]
    return []


def _check_razorpay_id(value: str, ctx: Mapping[str, str | None]) -> list[Problem]:
    match = _RAZORPAY_ID.match(value)
    if not match:
        return [Problem("error", "must start with rzp_test_ or rzp_live_ followed by letters "
                        "and digits")]
    return _mode_mismatch(match.group(1), ctx.get("RAZORPAY_KEY_SECRET"))


def _check_razorpay_secret(value: str, ctx: Mapping[str, str | None]) -> list[Problem]:
    if _RAZORPAY_ID.match(value):
        return [Problem("error", "this is a key id (rzp_…), not the key secret")]
    match = _RAZORPAY_ID.match(ctx.get("RAZORPAY_KEY_ID") or "")
    return _mode_mismatch(match.group(1), value) if match else []


def _mode_mismatch(id_mode: str, secret: str | None) -> list[Problem]:
    """Razorpay secrets carry no mode; a labelled one (live_…/test_…) is checked against the id."""
    if not secret:
        return []
    label = _MODE_PREFIX.match(secret)
    if label and label.group(1).lower() != id_mode:
        return [Problem("warn", f"a {id_mode} key id with a {label.group(1).lower()} secret")]
    return []


def _check_nonempty_secret(value: str, _ctx: Mapping[str, str | None]) -> list[Problem]:
    if len(value) < 8:
        return [Problem("warn", "suspiciously short for a secret")]
    return []


def _check_secret_key(value: str, _ctx: Mapping[str, str | None]) -> list[Problem]:
    if value.startswith("$("):
        # the guide's `SECRET_KEY=$(openssl rand -hex 32)` is shell syntax a .env never runs
        return [Problem("error", "a shell command, not a secret (a .env file does not run it); "
                        "use: rfsetup env generate-secret")]
    size = len(value.encode(errors="surrogateescape"))
    if size < 32:
        return [Problem("error", f"only {size} bytes; at least 32 are needed "
                        "(rfsetup env generate-secret makes one)")]
    return []


#: the guide's keys, grouped as its .env example groups them (REDIS_URL is rfsetup's addition,
#: optional: it defaults to a local Redis)
RAPTORFLOW_ENV = EnvSchema(
    name="raptorflow",
    groups=(
        ("Database", ("DATABASE_URL", "REDIS_URL")),
        ("Supabase", ("SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_SERVICE_KEY",
                      "SUPABASE_JWT_SECRET")),
        ("Razorpay", ("RAZORPAY_KEY_ID", "RAZORPAY_KEY_SECRET", "RAZORPAY_WEBHOOK_SECRET")),
        ("Application", ("SECRET_KEY",)),
    ),
    required=("DATABASE_URL", "SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_SERVICE_KEY",
              "SUPABASE_JWT_SECRET", "RAZORPAY_KEY_ID", "RAZORPAY_KEY_SECRET",
              "RAZORPAY_WEBHOOK_SECRET", "SECRET_KEY"),
    optional=("REDIS_URL",),
    secrets=frozenset({"SUPABASE_ANON_KEY", "SUPABASE_SERVICE_KEY", "SUPABASE_JWT_SECRET",
                       "RAZORPAY_KEY_SECRET", "RAZORPAY_WEBHOOK_SECRET", "SECRET_KEY"}),
    not_secret=frozenset({"RAZORPAY_KEY_ID", "SUPABASE_URL", "DATABASE_URL", "REDIS_URL"}),
    checkers={
        "SUPABASE_URL": _check_supabase_url,
        "SUPABASE_ANON_KEY": _supabase_key_checker("anon", "sb_publishable_"),
        "SUPABASE_SERVICE_KEY": _supabase_key_checker("service_role", "sb_secret_"),
        "SUPABASE_JWT_SECRET": _check_jwt_secret,
        "RAZORPAY_KEY_ID": _check_razorpay_id,
        "RAZORPAY_KEY_SECRET": _check_razorpay_secret,
        "RAZORPAY_WEBHOOK_SECRET": _check_nonempty_secret,
        "SECRET_KEY": _check_secret_key,
        "REDIS_URL": check_redis_url,
    },
)
