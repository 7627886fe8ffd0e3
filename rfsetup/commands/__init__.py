"""CLI command implementations: each ``fn(args, ctx) -> exit code`` over rfsetup.core."""
