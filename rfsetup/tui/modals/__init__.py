"""Modal screens: the typed-name confirmation, the error dialog and the .env change list."""
