"""Widgets shared by the steps: step list, live status panel, SQL view, log pane, check table."""
