"""Benchmarks and accuracy measurements printed by `storelens bench ...` (numbers, not pass/fail)."""
