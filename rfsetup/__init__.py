"""rfsetup: take RaptorFlow's database from nothing to migrated and seeded, and back."""

__version__ = "0.1.0"
