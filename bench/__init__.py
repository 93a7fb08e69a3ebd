"""Benchmarks of fuyuan-bot: ``python -m bench`` prints a table of measured numbers."""
