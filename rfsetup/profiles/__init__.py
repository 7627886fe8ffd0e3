"""What rfsetup knows about a kind of project, below the core.

A profile (``base.Profile``) says what rfsetup checks, seeds and expects for one kind of
project: RaptorFlow's (``raptorflow.RAPTORFLOW``: the guide's .env keys, Redis, PostgreSQL 15+,
the plans seed, the 15 tables) or any other Alembic project's (``generic.GENERIC``). Its .env
keys, groups, secrets and value checks are an env schema (``envschema.EnvSchema``):
``raptorflow_env.RAPTORFLOW_ENV`` or ``envschema.GENERIC_ENV``.

Layering: this package imports nothing from rfsetup but ``rfsetup.schema``, so the core can
depend on it and never the other way round.
"""
