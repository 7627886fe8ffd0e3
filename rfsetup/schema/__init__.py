"""RaptorFlow's schema: SQLAlchemy 2.0 models, the source of truth for the Alembic revisions.

``metadata`` holds every table; ``alembic/env.py`` compares it with the database
(``alembic check``). Importing this package imports every model module so ``metadata`` is full.
"""

from rfsetup.schema import auth, billing, intel
from rfsetup.schema.base import NAMING_CONVENTION, Base, metadata

__all__ = ["NAMING_CONVENTION", "Base", "auth", "billing", "intel", "metadata"]
