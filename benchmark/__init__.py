"""Imbalance benchmark: a fair, fast comparison of class-imbalance and long-tail remedies.

Public surface:

- :mod:`benchmark.registry` -- the one ``Registry`` type behind methods, datasets, suites, models.
- :func:`benchmark.methods.register_method`, :func:`benchmark.datasets.register_dataset`.
- ``python -m benchmark --help`` -- the command line.
"""

import os

__version__ = "0.1.0"

# OpenMP threads that spin while waiting steal the cores of other workers and of BLAS: on a busy
# 2-core machine one small-CNN trial took 27-33 s with spinning threads and about 5 s without.
# Set before torch or numpy is imported; an explicit setting by the user wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
