"""Suites: which datasets and methods are crossed, under which budget and training settings.

    base.py      the Suite type, the shared tuned ranges and the suite registry (entry-point group
                 ``benchmark.suites``: other packages add suites by naming a Suite or a list of them)
    builtin.py   the registered suites (smoke, vision-lt, vision-lt-cpu, text, text-minilm, tabular,
                 tabular-cpu, tricks)
    files.py     suite files: ``--suite path/to/my-suite.toml`` (TOML, every key checked)
"""

from benchmark.suites.base import SHARED_RANGES, Suite, register_suite, suite_registry
from benchmark.suites.builtin import (
    CIFAR_LT_TRAINING,
    IMBLEARN_COLLECTION,
    KEEL_SELECTION,
    MNIST_LT_TRAINING,
    SMOKE_METHODS,
    TABULAR_TRAINING,
)
from benchmark.suites.files import load_suite_file, looks_like_suite_file, resolve_suite

__all__ = [
    "CIFAR_LT_TRAINING",
    "IMBLEARN_COLLECTION",
    "KEEL_SELECTION",
    "MNIST_LT_TRAINING",
    "SHARED_RANGES",
    "SMOKE_METHODS",
    "TABULAR_TRAINING",
    "Suite",
    "load_suite_file",
    "looks_like_suite_file",
    "register_suite",
    "resolve_suite",
    "suite_registry",
]
