"""`storelens audit`: the product's counts, visitors and tracks against ground truth on a real install."""
