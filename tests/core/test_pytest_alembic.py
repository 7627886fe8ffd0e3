"""pytest-alembic's own built-in tests run on this repository's migrations: a peer suite that
hands env.py an Engine (not a Connection) and compares the models with the migrated DDL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.config import Config
from pytest_alembic.tests import (  # noqa: F401  (collected here as tests of this module)
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from tests.conftest import ALEMBIC_INI, PgTestServer


@pytest.fixture
def alembic_config() -> Config:
    return Config(str(ALEMBIC_INI))


@pytest.fixture
def alembic_engine(pg: PgTestServer) -> Iterator[Engine]:
    name = pg.create_database()
    engine = create_engine(pg.url(name), poolclass=NullPool)
    try:
        yield engine
    finally:
        engine.dispose()
        pg.drop_database(name)
