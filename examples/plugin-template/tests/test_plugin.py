"""The plugin's own tests: the benchmark's shipped conformance checks on its method, and its dataset's
split against its card."""

import imbalance_plugin_template.datasets  # noqa: F401
import imbalance_plugin_template.methods  # noqa: F401 - registers the method (the entry point does too)

from benchmark.datasets import dataset_registry
from benchmark.testing import parametrize_with_checks


@parametrize_with_checks(["weighted-focal-loss"])
def test_weighted_focal_loss(method, check):
    check(method)


def test_two_moons_split_holds_the_card_counts(tmp_path):
    split = dataset_registry.get("two-moons-imbalanced").load(tmp_path, split_seed=0)
    total = [sum(c) for c in zip(*(split.class_counts(p) for p in ("train", "val", "test")), strict=True)]
    assert total == [2000, 100]
    assert split.modality == "tabular" and split.num_classes == 2
