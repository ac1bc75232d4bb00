"""The exact stacked path: on a CPU every member of a stack of MLPs is bit for bit the fit DeepEngine
makes with its seed (same weights, same predictions), whatever it stacks with."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from benchmark.errors import DivergedError
from benchmark.methods import method_registry
from benchmark.methods.base import MethodContext, Recipe
from benchmark.models.base import Backbone
from benchmark.testing import make_image_split, make_tabular_split, make_text_split
from benchmark.training.base import TrainingConfig
from benchmark.training.deep import DeepEngine, DeepModel
from benchmark.training.stacked import fit_many
from benchmark.training.stacked_mlp import exact_conflict, fit_exact, mlp_program

CONFIG = TrainingConfig(epochs=3, batch_size=16, lr=3e-3)


def recipe_of(name: str, split, seed: int) -> Recipe:
    return method_registry.get(name).build({}, MethodContext.from_split(split, "deep", epochs=CONFIG.epochs, seed=seed))


def assert_same_fit(single: DeepModel, stacked: DeepModel, split) -> None:
    for (name, a), b in zip(single.model.named_parameters(), stacked.model.parameters(), strict=True):
        assert torch.equal(a, b), f"{name} differs by {(a - b).abs().max().item()}"
    assert np.array_equal(single.predict_proba(split.test.X), stacked.predict_proba(split.test.X))


# Each row: the hooks it exercises (a loss, a batch sampler, a resampler whose sets differ in length
# between members, two stages with a re-initialised head trained alone, Nesterov SGD).
@pytest.mark.parametrize("methods,optimizer", [
    (("baseline", "focal-loss", "class-weighted-ce"), "adam"),
    (("class-balanced-sampling", "drw", "baseline"), "adam"),
    (("random-undersampling", "smote", "random-oversampling"), "adam"),
    (("crt", "crt", "crt"), "adam"),
    (("baseline", "focal-loss", "class-balanced-sampling"), "sgd"),
])
def test_every_member_is_its_single_fit_bit_for_bit(methods, optimizer):
    split = make_tabular_split(n_train=(90, 25))
    seeds = [3, 4, 5]
    configs = [replace(CONFIG, optimizer=optimizer, lr=lr, weight_decay=wd)
               for lr, wd in [(3e-3, 1e-4), (1e-2, 0.0), (1e-3, 5e-2)]]
    stacked = fit_many(split, [recipe_of(m, split, s) for m, s in zip(methods, seeds, strict=True)], configs, seeds,
                       device="cpu")
    for m, s, c, out in zip(methods, seeds, configs, stacked, strict=True):
        assert out.timings.get("stacked_trials") == 3, f"{m} did not take the stacked path"
        assert_same_fit(DeepEngine().fit(split, recipe_of(m, split, s), c, seed=s, device="cpu"), out, split)


# Sparse TF-IDF rows: the first layer runs member by member with the single fit's sparse functions.
@pytest.mark.parametrize("methods,optimizer", [
    (("baseline", "focal-loss", "class-weighted-ce"), "adam"),
    (("random-undersampling", "smote", "random-oversampling"), "adam"),
    (("crt", "crt", "crt"), "adam"),
    (("class-balanced-sampling", "drw", "baseline"), "sgd"),
])
def test_every_member_on_sparse_text_rows_is_its_single_fit_bit_for_bit(methods, optimizer):
    split = make_text_split(n_train=(90, 25))
    seeds = [3, 4, 5]
    configs = [replace(CONFIG, optimizer=optimizer, lr=lr, weight_decay=wd, tfidf_max_features=300)
               for lr, wd in [(3e-3, 1e-4), (1e-2, 0.0), (1e-3, 5e-2)]]
    stacked = fit_many(split, [recipe_of(m, split, s) for m, s in zip(methods, seeds, strict=True)], configs, seeds,
                       device="cpu")
    for m, s, c, out in zip(methods, seeds, configs, stacked, strict=True):
        assert out.timings.get("stacked_trials") == 3 and out.timings.get("sparse_input") == 1, m
        single = DeepEngine().fit(split, recipe_of(m, split, s), c, seed=s, device="cpu")
        assert single.timings.get("sparse_input") == 1
        assert_same_fit(single, out, split)


def test_a_pruned_and_a_diverged_member_end_alone_and_the_rest_stay_exact():
    split = make_tabular_split()
    def nan_loss(logits, target, epoch):
        return logits.sum() * float("nan")
    reports = []

    class Pruned(Exception):
        pass

    def on_epoch(member, epoch, proba):
        reports.append((member, epoch))
        if member == 1 and epoch == 1:
            raise Pruned("pruned after epoch 2")

    out = fit_exact(split, [Recipe(), Recipe(), Recipe(loss=nan_loss)], [CONFIG] * 3, [0, 1, 2], torch.device("cpu"),
                    on_epoch)
    assert isinstance(out[1], Pruned) and isinstance(out[2], DivergedError)
    assert (0, 2) in reports and (1, 2) not in reports and all(member != 2 for member, _ in reports)
    assert_same_fit(DeepEngine().fit(split, Recipe(), CONFIG, seed=0, device="cpu"), out[0], split)


def test_only_mlps_on_a_cpu_take_the_exact_path():
    tabular, image = make_tabular_split(), make_image_split()
    assert exact_conflict(tabular, CONFIG, torch.device("cpu")) is None
    assert "image" in exact_conflict(image, CONFIG, torch.device("cpu"))
    assert "CPU" in exact_conflict(tabular, CONFIG, torch.device("cuda"))
    assert "not the MLP" in exact_conflict(tabular, replace(CONFIG, model="small-cnn"), torch.device("cpu"))
    conv = Backbone(torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten()), torch.nn.Linear(16, 3))
    assert mlp_program(conv) is None
    mlp = Backbone(torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Dropout(0.1)),
                   torch.nn.Linear(8, 2))
    assert [op for op, _ in mlp_program(mlp)] == ["linear", "relu", "dropout", "linear"]


def test_exact_only_trains_other_trials_one_by_one_as_without_stacking():
    split = make_image_split()
    out = fit_many(split, [Recipe()] * 2, [CONFIG, replace(CONFIG, lr=1e-2)], [0, 1], device="cpu", exact_only=True)
    lone = DeepEngine().fit(split, Recipe(), replace(CONFIG, lr=1e-2), seed=1, device="cpu")
    assert "stacked_trials" not in out[1].timings
    assert np.array_equal(out[1].predict_proba(split.test.X), lone.predict_proba(split.test.X))
