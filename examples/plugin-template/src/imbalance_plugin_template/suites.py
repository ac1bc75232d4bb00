"""A suite crossing the template's dataset with its method and the baseline, on a CPU budget.
Registered on import (group benchmark.suites)."""

from __future__ import annotations

import imbalance_plugin_template.datasets  # noqa: F401 - the suite's dataset is registered with it
import imbalance_plugin_template.methods  # noqa: F401 - and its method
from benchmark.protocol import Budget
from benchmark.suites import Suite, register_suite
from benchmark.training.base import TrainingConfig

register_suite("template-quick", Suite(
    name="template-quick",
    description="The template plugin's dataset crossed with its method and the baseline (a minute on 2 cores).",
    datasets=("two-moons-imbalanced",),
    methods=("baseline", "weighted-focal-loss"),
    budget=Budget(trials=3, seeds=2),
    split_seeds=2,
    training={"tabular": TrainingConfig(epochs=15, batch_size=64, lr=3e-3)},
))
