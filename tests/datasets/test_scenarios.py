"""Stress scenarios (issue 30): label noise touches only training and validation labels (toward the
majority), missing cells only training cells; a scenario is a dataset variant with its own study name, the
suite adds the variants that apply, and prior-shift scores are the test predictions re-weighted."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, recall_score

from benchmark.datasets import dataset_registry
from benchmark.datasets.scenarios import (
    flip_toward,
    parse_scenario,
    prior_shift_metrics,
    prior_weights,
    split_name,
)
from benchmark.errors import BenchmarkError
from benchmark.metrics import HEADLINE, compute_metrics
from benchmark.protocol import Budget
from benchmark.store.studies import parse_study_name, study_name
from benchmark.suites.base import Suite
from benchmark.testing import make_image_split, make_tabular_split
from benchmark.training.base import TrainingConfig


def rng_for(purpose: str) -> np.random.Generator:
    return np.random.default_rng(abs(hash(purpose)) % 2**32)


def test_label_noise_flips_only_training_and_validation_labels_toward_the_majority():
    split = make_image_split(n_per_class=(60, 30, 10))
    noisy = parse_scenario("label-noise-0.2").apply(split, rng_for)
    assert np.array_equal(noisy.test.y, split.test.y) and np.array_equal(noisy.test.X, split.test.X)
    majority = int(np.argmax(split.class_counts("train")))
    for part in ("train", "val"):
        before, after = split.part(part).y, noisy.part(part).y
        changed = before != after
        assert changed.any() and (after[changed] == majority).all()  # every flip goes to the largest class
        assert np.array_equal(noisy.part(part).X, split.part(part).X)
        for c in set(before.tolist()) - {majority}:  # round(0.2 n_c) of each other class, at most n_c - 1
            n = int((before == c).sum())
            assert int((changed & (before == c)).sum()) == min(round(0.2 * n), n - 1)
    assert noisy.minority_classes == split.minority_classes
    assert noisy.info["scenario"]["flipped"]["train"] == int((split.train.y != noisy.train.y).sum())


def test_flips_keep_a_row_of_every_class():
    y, n = flip_toward(np.array([0] * 10 + [1, 1]), 0.5, 0, np.random.default_rng(0))
    assert n == 1 and (y == 1).sum() == 1


def test_missing_cells_only_in_training_rows():
    split = make_tabular_split()
    holed = parse_scenario("missing-0.25").apply(split, rng_for)
    assert np.isnan(holed.train.X).sum() == round(0.25 * split.train.X.size)
    assert not np.isnan(holed.val.X).any() and not np.isnan(holed.test.X).any()
    kept = ~np.isnan(holed.train.X)
    assert np.array_equal(holed.train.X[kept], split.train.X.astype(np.float32)[kept])
    assert np.array_equal(holed.train.y, split.train.y)
    assert parse_scenario("missing-0.1").not_applicable("image") is not None


@pytest.mark.parametrize("name", ["noise-0.2", "label-noise-0.8", "missing-0", "prior-shift-0.1", ""])
def test_unknown_or_out_of_range_scenarios_are_refused(name):
    with pytest.raises(BenchmarkError):
        parse_scenario(name)


def test_a_scenario_is_a_dataset_variant_with_its_own_study():
    entry = dataset_registry.get("KEEL-Yeast3@label-noise-0.2")
    assert entry.name == "keel-yeast3@label-noise-0.2" and entry.modality == "tabular"
    assert entry.params["scenario"] == "label-noise-0.2" and "keel-yeast3@label-noise-0.2" in dataset_registry
    name = study_name("stress", entry.name, "smote", 1)
    assert parse_study_name(name) == ("stress", "keel-yeast3@label-noise-0.2", "smote", 1)
    assert split_name(entry.name) == ("keel-yeast3", "label-noise-0.2")
    for refused in ("digits-lt@missing-0.1", "keel-yeast3@prior-shift", "no-such-set@label-noise-0.1"):
        with pytest.raises(BenchmarkError):
            dataset_registry.get(refused)


def test_the_variant_split_is_the_clean_split_with_the_scenario_applied(tmp_path, monkeypatch):
    from benchmark.datasets.base import LoadRequest

    split = make_tabular_split()
    clean = replace(dataset_registry.get("keel-yeast3"), name="tiny", builder=lambda request: split, files=())
    from benchmark.datasets.scenarios import variant

    noisy = variant(clean, parse_scenario("label-noise-0.3"))
    monkeypatch.setenv("BENCHMARK_CACHE", str(tmp_path))
    one = noisy.load(tmp_path, 0, cache=False)
    again = noisy.builder(LoadRequest(noisy.name, tmp_path, 0, {}, "", tmp_path))
    other_seed = noisy.builder(LoadRequest(noisy.name, tmp_path, 1, {}, "", tmp_path))
    assert one.dataset == "tiny@label-noise-0.3" and np.array_equal(one.train.y, again.train.y)
    assert not np.array_equal(one.train.y, other_seed.train.y)  # each split seed draws its own noise
    assert np.array_equal(one.test.y, split.test.y)


def test_a_suite_adds_the_variants_that_apply_and_trains_them_as_their_clean_dataset():
    config = TrainingConfig(epochs=1)
    suite = Suite(name="s", description="", datasets=("digits-lt", "keel-yeast3"), methods=("baseline",),
                  budget=Budget(trials=1, seeds=1), training={"image": config, "tabular": config},
                  scenarios=("label-noise-0.2", "missing-0.1", "prior-shift"),
                  dataset_training={"keel-yeast3": TrainingConfig(epochs=3)})
    assert suite.datasets == ("digits-lt", "keel-yeast3", "digits-lt@label-noise-0.2", "keel-yeast3@label-noise-0.2",
                              "keel-yeast3@missing-0.1")
    assert suite.training_for("keel-yeast3@missing-0.1", "tabular").epochs == 3
    assert suite.rescores_prior_shift and suite.card()["scenarios"] == ["label-noise-0.2", "missing-0.1", "prior-shift"]
    assert replace(suite, methods=("smote",)).datasets == suite.datasets  # expanding twice adds nothing
    with pytest.raises(BenchmarkError, match="scenario 'noise' is unknown"):
        replace(suite, scenarios=("noise",))


def test_suite_files_list_scenarios(tmp_path):
    from benchmark.suites.files import load_suite_file

    path = tmp_path / "mine.toml"
    path.write_text('datasets = ["keel-yeast3"]\nmethods = ["baseline"]\nscenarios = ["missing-0.2"]\n'
                    '[budget]\ntrials = 1\nseeds = 1\n[training.tabular]\nepochs = 2\n')
    suite = load_suite_file(path)
    assert suite.datasets == ("keel-yeast3", "keel-yeast3@missing-0.2") and suite.scenarios == ("missing-0.2",)


def test_prior_shift_scores_equal_a_direct_reweighted_computation():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [50, 30, 20])
    proba = rng.dirichlet(np.ones(3), size=len(y))
    proba[np.arange(len(y)), y] += 0.3 * rng.random(len(y))
    proba /= proba.sum(1, keepdims=True)
    train_counts, minority = [300, 60, 20], [2]
    shifted = prior_shift_metrics(y, proba, minority, train_counts)
    assert set(shifted) == {f"{m}@{p}" for m in HEADLINE for p in ("balanced-prior", "training-prior")}
    for prior, target in (("balanced-prior", np.full(3, 1 / 3)), ("training-prior", np.array(train_counts) / 380)):
        w = (target / (np.bincount(y) / len(y)))[y]  # each class's rows weigh pi'_c / p_c
        pred = proba.argmax(1)
        assert shifted[f"minority_f1@{prior}"] == pytest.approx(f1_score(y, pred, labels=[2], average="macro", sample_weight=w))
        assert shifted[f"minority_recall@{prior}"] == pytest.approx(recall_score(y, pred, labels=[2], average="macro"))
        assert shifted[f"minority_pr_auc@{prior}"] == pytest.approx(average_precision_score(y == 2, proba[:, 2], sample_weight=w))
    # re-weighted to the test split's own prior, the scores are the unweighted ones
    own, _ = compute_metrics(y, proba, minority, sample_weight=prior_weights(y, np.bincount(y)))
    plain, _ = compute_metrics(y, proba, minority)
    assert own["minority_f1"] == pytest.approx(f1_score(y, proba.argmax(1), labels=[2], average="macro"))
    for name in plain:  # every metric of the table takes the weights: the test's own prior changes nothing
        assert own[name] == pytest.approx(plain[name], nan_ok=True), name
