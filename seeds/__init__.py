"""The seed data (plans.json), installed as the package ``rfsetup.seeds`` (see pyproject.toml)
and read with importlib.resources, so a wheel carries it too."""
