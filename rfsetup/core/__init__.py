"""The UI-free core: one module per step of the guide. Never imports textual."""
