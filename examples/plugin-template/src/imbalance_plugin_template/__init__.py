"""A template plugin for imbalance-benchmark: a method, a dataset and a suite (see the README)."""
