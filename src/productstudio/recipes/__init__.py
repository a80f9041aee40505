"""recipes layer."""
