"""Imbalance benchmark: a fair, fast comparison of class-imbalance and long-tail remedies.

Public surface:

- :mod:`benchmark.registry` -- the one ``Registry`` type behind methods, datasets, suites, models.
- :func:`benchmark.methods.register_method`, :func:`benchmark.datasets.register_dataset`.
- ``python -m benchmark --help`` -- the command line.
"""

__version__ = "0.1.0"
