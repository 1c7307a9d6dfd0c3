"""See the package README in docs/."""
