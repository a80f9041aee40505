"""Main-job commands: run, cutout, models (filled in by issue 3)."""
