"""personalize layer."""
