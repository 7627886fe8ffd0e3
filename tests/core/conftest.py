"""Fixtures the core's schema and seeding tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command

from tests.conftest import PgTestServer
from tests.helpers.db import alembic_config


@pytest.fixture(scope="module")
def head_template(pg: PgTestServer) -> Iterator[str]:
    """A database migrated to head in-process, then left alone (no connection stays open) so
    that it can be copied (``pg.clone_database``): CREATE DATABASE … TEMPLATE needs a template
    nobody is using. Per module: a module's copies stay independent of another's."""
    name = pg.create_database()
    command.upgrade(alembic_config(pg.url(name)), "head")
    try:
        yield name
    finally:
        pg.drop_database(name)
