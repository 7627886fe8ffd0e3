"""One screen per step of the guide, shown one at a time in the app's ContentSwitcher."""
