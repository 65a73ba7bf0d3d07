"""Quality evaluations that read data files: each prints a table and writes JSON."""
