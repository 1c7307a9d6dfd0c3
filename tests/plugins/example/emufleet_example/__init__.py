"""An example emufleet plugin (see ``pyproject.toml``): a recognizer and an action, registered by entry points."""
