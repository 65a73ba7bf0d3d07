"""One module per command family; each exposes `register(groups)` (see cityops.cli)."""
