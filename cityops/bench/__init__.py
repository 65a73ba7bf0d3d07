"""Benchmarks behind `cityops bench ...`: each prints a table and writes JSON with stable keys."""
