"""rfsetup.core.redact, the one masker: URL secrets (userinfo, ?password=, DSN keys), free text,
secret variable names, and what reaches a terminal."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from rfsetup.core import envfile, redact
from rfsetup.core.settings import libpq_params, mask_url, normalize_database_url, url_password

SECRET = "Zq9SecretPart"


@pytest.mark.parametrize(("raw", "shown"), [
    (f"postgresql://u:{SECRET}@h:5432/db", "postgresql://u:***@h:5432/db"),
    (f"postgresql://u@h/db?password={SECRET}", "postgresql://u@h/db?password=***"),
    (f"postgresql://u@h/db?sslmode=require&password={SECRET}&application_name=x",
     "postgresql://u@h/db?sslmode=require&password=***&application_name=x"),
    (f"postgresql://u:pw@h/db?password={SECRET}", "postgresql://u:***@h/db?password=***"),
    (f"postgresql://u@h/db?sslpassword={SECRET}", "postgresql://u@h/db?sslpassword=***"),
    (f"postgresql://u@h/db?PassWord={SECRET}", "postgresql://u@h/db?PassWord=***"),
    (f"postgresql://u@h/db?pass%77ord={SECRET}", "postgresql://u@h/db?pass%77ord=***"),
    # an unescaped & or @ inside the query password still hides all of it
    (f"postgresql://u@h/db?password=ab&{SECRET}", "postgresql://u@h/db?password=***"),
    (f"postgresql://h/db?password=p@{SECRET}", "postgresql://h/db?password=***"),
    (f"postgresql://h/db?host=x&password=se:{SECRET}@x", "postgresql://h/db?host=x&password=***"),
    # the key in a DSN's userinfo
    (f"https://{SECRET}@o1.ingest.sentry.io/1", "https://***@o1.ingest.sentry.io/1"),
    (f"https://{SECRET}@github.com/org/repo.git", "https://***@github.com/org/repo.git"),
    (f"https://h/x?sig={SECRET}&sv=1", "https://h/x?sig=***&sv=1"),
    # a user name is not a secret
    ("postgresql://raptorflow@h/db", "postgresql://raptorflow@h/db"),
    ("redis://default@h:6379/0", "redis://default@h:6379/0"),
    ("postgresql://u@h/db?sslmode=require", "postgresql://u@h/db?sslmode=require"),
    # libpq key=value
    (f"host=h password={SECRET} dbname=x", "host=h password=*** dbname=x"),
    (f"host=h password='a {SECRET}' dbname=x", "host=h password=*** dbname=x"),
    ("me@example.com", "me@example.com"),
])
def test_mask_url(raw: str, shown: str) -> None:
    assert redact.mask_url(raw) == shown
    assert mask_url(raw) == shown  # settings' name for it is the same function
    if SECRET in raw:
        assert redact.has_secret(raw)


def test_mask_url_of_a_parsed_url_and_what_libpq_gets() -> None:
    url = normalize_database_url(f"postgresql://u@h:5432/db?password={SECRET}")
    assert SECRET not in mask_url(url) and "password=***" in mask_url(url)
    # libpq takes the query password; pg tools get it as PGPASSWORD from the same place
    assert url_password(url) == SECRET
    assert libpq_params(url)["password"] == SECRET
    both = normalize_database_url(f"postgresql://u:userinfo@h/db?password={SECRET}")
    assert url_password(both) == SECRET == libpq_params(both)["password"]
    plain = normalize_database_url("postgresql://u:p%40ss@h/db")
    assert url_password(plain) == "p@ss" == libpq_params(plain)["password"]
    assert url_password(normalize_database_url("postgresql://u@h/db")) is None


def test_validation_sees_the_query_password() -> None:
    """It claimed "the URL has no password" for ?password= (issue 9)."""
    assert envfile.validate("DATABASE_URL", f"postgresql://u@h/db?password={SECRET}") == []
    assert [p.level for p in envfile.validate("DATABASE_URL", "postgresql://u@h/db")] == ["warn"]
    assert envfile.has_url_password(f"postgresql://u@h/db?password={SECRET}")


def test_scrub() -> None:
    url = make_url(f"postgresql+psycopg2://u@h/db?password={SECRET}")
    text = f"FATAL: failed for {SECRET}; tried postgresql://x:{SECRET}2@h/db password={SECRET}3"
    scrubbed = redact.scrub(text, url)
    assert SECRET not in scrubbed and "FATAL: failed for ***" in scrubbed
    # a password written %-escaped in the URL is found in either spelling
    assert redact.scrub("said p@ss and p%40ss", "postgresql://u:p%40ss@h/db") == \
        "said *** and ***"
    assert redact.scrub("nothing to hide", None, "") == "nothing to hide"
    assert set(redact.url_secrets(f"postgresql://u:{SECRET}@h/db")) >= {SECRET}


SECRET_NAMES = ["DB_PASS", "SMTP_PASS", "GPG_PASSPHRASE", "BACKUP_PASSPHRASE", "REDIS_AUTH",
                "STRIPE_SK", "DB_PW", "JWT_SIGNING", "WEBHOOK_SIGNATURE", "MYSQL_ROOTPASS",
                "PGPASSWORD", "DBPASS", "DB_PWD", "SECRET_KEY", "GITHUB_TOKEN",
                "STRIPE_API_KEY", "MY_PASSWORD", "AWS_SECRET_ACCESS_KEY", "SESSION_SECRET",
                "PASSWORD_SALT", "SIGNING_KEY", "BASIC_AUTH", "CLIENT_CREDENTIALS"]
NOT_SECRET_NAMES = ["CDN_PASSTHROUGH", "AUTH_PASSTHRU", "FTP_PASSIVE", "CACHE_BYPASS",
                    "LOG_LEVEL", "RAZORPAY_KEY_ID", "AWS_ACCESS_KEY_ID", "SENTRY_DSN",
                    "DATABASE_URL", "AUTH_PROVIDER", "SIGNATURE_HEADER", "PORT", "KEYBOARD",
                    "SKIP_MIGRATIONS", "PASSPORT_STRATEGY"]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_names(name: str) -> None:
    assert redact.looks_secret(name) and envfile.is_secret(name)
    assert "hunter2hunter2" not in envfile.mask(name, "hunter2hunter2")


@pytest.mark.parametrize("name", NOT_SECRET_NAMES)
def test_names_that_are_not_secrets(name: str) -> None:
    assert not redact.looks_secret(name)
    assert not envfile.is_secret(name)


def test_a_dsn_value_shows_without_its_key() -> None:
    assert envfile.mask("SENTRY_DSN", f"https://{SECRET}@o1.ingest.sentry.io/1") == \
        "https://***@o1.ingest.sentry.io/1"


def test_printable() -> None:
    assert redact.printable("plain Zoë ☃") == "plain Zoë ☃"
    assert redact.printable("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert redact.printable("tab\there\nnl\rcr\x7f\x9b") == "tab\\there\\nnl\\rcr\\x7f\\x9b"
    assert redact.printable("rtl\u202eoverride") == "rtl\\u202eoverride"
    # a byte that was not UTF-8, as decoded with surrogateescape
    assert redact.printable(b"caf\xe9".decode("utf-8", "surrogateescape")) == "caf\\xe9"
