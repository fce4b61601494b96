"""Per-face attributes: quality gate and age."""
