"""What rfsetup knows about a project's configuration, below the core.

A profile describes one kind of project's ``.env``: its keys and groups, which are required,
which are secrets, and the checks of each value (``envschema.EnvSchema``). RaptorFlow's is
``raptorflow_env.RAPTORFLOW_ENV``; any other Alembic project gets ``envschema.GENERIC_ENV``.

Layering: this package imports nothing from rfsetup but ``rfsetup.schema`` (today only the
standard library), so the core can depend on it and never the other way round.
"""
