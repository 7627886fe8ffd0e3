"""The guided terminal app (Textual). Imports the core; the core never imports this package."""
