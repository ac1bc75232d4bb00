"""Equal compute: every epoch trains the original training split's size in samples, whatever the
sampler, the resampled set or the stage (benchmark/training/epochs.py), in both deep engines."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.errors import BenchmarkError
from benchmark.methods import method_registry
from benchmark.methods.base import MethodContext, Recipe, Stage
from benchmark.methods.resampling.batch_sampling import ClassReorganisationSampler, DynamicSampler
from benchmark.methods.stages.two_stage import BalancedSubsetSampler
from benchmark.testing import make_image_split
from benchmark.training.base import TrainingConfig
from benchmark.training.deep import DeepEngine
from benchmark.training.epochs import EpochDraws, epoch_compute
from benchmark.training.stacked import fit_many, stack_conflicts

CONFIG = TrainingConfig(epochs=3, batch_size=16, lr=3e-3)


def test_an_epoch_is_the_split_size_in_ceil_batches_without_a_lone_last_sample():
    assert epoch_compute(68, 16) == (68, 5)  # 4 full batches and one of 4
    assert epoch_compute(64, 16) == (64, 4)
    assert epoch_compute(65, 16) == (64, 4)  # a last batch of one sample is not drawn
    assert epoch_compute(10, 16) == (10, 1)
    assert epoch_compute(1, 16) == (1, 1)
    with pytest.raises(BenchmarkError, match="0 training rows"):
        epoch_compute(0, 16)


def _counter(length: int):
    calls = []

    def draw():
        calls.append(length)
        return torch.arange(length) + 100 * len(calls)  # tells the draws apart

    return draw, calls


def test_short_draws_are_repeated_and_long_draws_cut_to_the_epoch():
    draw, calls = _counter(7)
    short = EpochDraws(20, draw, carry=False, device=torch.device("cpu"))
    first = short.next_epoch()
    assert first.numel() == 20 and len(calls) == 3  # 7 + 7 + 6 of the third draw
    assert first[:7].tolist() == list(range(100, 107)) and first[14:].tolist() == list(range(300, 306))
    assert short.next_epoch()[:7].tolist() == list(range(400, 407))  # no carry: the cut-off is dropped
    draw, calls = _counter(50)
    long = EpochDraws(20, draw, carry=False, device=torch.device("cpu"))
    assert long.next_epoch().tolist() == list(range(100, 120)) and long.next_epoch().tolist() == list(range(200, 220))
    with pytest.raises(BenchmarkError, match="no indices"):
        EpochDraws(5, lambda: torch.zeros(0, dtype=torch.long), carry=False, device=torch.device("cpu")).next_epoch()


@pytest.mark.parametrize("rows", [25, 4])
def test_a_resampled_set_of_any_size_is_visited_in_permutation_chunks(rows):
    gen = torch.Generator().manual_seed(0)
    draws = EpochDraws(10, lambda: torch.randperm(rows, generator=gen), carry=True, device=torch.device("cpu"))
    epochs = [draws.next_epoch() for _ in range(10)]
    assert all(e.numel() == 10 for e in epochs)
    seen = np.bincount(torch.cat(epochs).numpy(), minlength=rows)
    assert seen.tolist() == [100 // rows] * rows  # 100 samples: every row equally often, exactly


class OverSampler:
    """Random over-sampling of the rarest class to the largest (a longer resampled set)."""

    space = "features"

    def resample(self, X, y, seed):
        rng = np.random.default_rng(seed)
        extra = rng.choice(np.flatnonzero(y == 2), size=int((y == 0).sum() - (y == 2).sum()))
        return np.concatenate([X, X[extra]]), np.concatenate([y, y[extra]])


def _two_stage(balancing: str) -> Recipe:
    return method_registry.get("two-stage-learning").build({"balancing": balancing, "first_stage_share": 0.5},
                                                           MethodContext.from_split(make_image_split(), "deep", epochs=3))


def test_every_sampler_resampled_set_and_stage_trains_the_same_steps():
    split = make_image_split()
    samples, steps = epoch_compute(len(split.train), CONFIG.batch_size)
    recipes = {"plain": Recipe(), "over-sampled": Recipe(resample=OverSampler()),
               "dynamic": Recipe(batch_sampler=DynamicSampler()),
               "reorganisation": Recipe(batch_sampler=ClassReorganisationSampler()),
               "two-stage-under": _two_stage("under"), "two-stage-over": _two_stage("over"),
               "head-on-embeddings": Recipe(stages=[Stage("a", 0.5), Stage("b", 0.5, feature_resample=Doubling())])}
    trained = {name: DeepEngine().fit(split, r, CONFIG, seed=1, device="cpu").timings for name, r in recipes.items()}
    for name, t in trained.items():
        assert (t["epoch_samples"], t["train_samples"], t["train_steps"]) == (samples, 3 * samples, 3 * steps), name
    assert trained["plain"]["training_rows"] == 68 and trained["over-sampled"]["training_rows"] == 68 + 32


class Doubling:
    """A feature_resample that doubles the embedded training set (a longer head-training set)."""

    def resample(self, F, y, seed):
        return torch.cat([F, F]), torch.cat([y, y])


def test_stacked_members_with_different_samplers_stack_and_train_equal_compute():
    split = make_image_split()
    recipes = [Recipe(), Recipe(batch_sampler=DynamicSampler()), Recipe(batch_sampler=ClassReorganisationSampler()),
               Recipe(batch_sampler=BalancedSubsetSampler("under"))]
    assert stack_conflicts(recipes, [CONFIG] * 4) is None
    models = fit_many(split, recipes, [CONFIG] * 4, [1, 2, 3, 4], device="cpu")
    samples, steps = epoch_compute(len(split.train), CONFIG.batch_size)
    for m in models:
        assert not isinstance(m, BaseException), m
        assert m.timings["stacked_trials"] == 4  # trained as one stacked model, not one by one
        assert (m.timings["train_samples"], m.timings["train_steps"]) == (3 * samples, 3 * steps)


def test_the_stage_epochs_split_the_suite_epochs_and_each_counts_the_same_samples():
    split = make_image_split()
    seen = []

    class Recording:
        def __init__(self, inner):
            self.inner = inner

        def batch_indices(self, epoch, state):
            idx = self.inner.batch_indices(epoch, state)
            seen.append((state.stage, epoch, idx.numel()))
            return idx

    recipe = Recipe(stages=[Stage("under", 0.25, batch_sampler=Recording(BalancedSubsetSampler("under"))),
                            Stage("head", 0.75, train="head", batch_sampler=Recording(ClassReorganisationSampler()))])
    config = TrainingConfig(epochs=4, batch_size=16, lr=3e-3)
    model = DeepEngine().fit(split, recipe, config, seed=0, device="cpu")
    # the under-sampled set holds 3 x 8 rows: 3 draws fill an epoch of 68; class re-organisation's 120 are cut
    assert [(s, e) for s, e, _ in seen] == [("under", 0)] * 3 + [("head", e) for e in (1, 2, 3)]
    assert {n for s, _, n in seen if s == "under"} == {24} and {n for s, _, n in seen if s == "head"} == {120}
    assert model.timings["train_samples"] == 4 * 68 and model.timings["train_steps"] == 4 * 5


@pytest.mark.gpu
@pytest.mark.parametrize("recipe", [Recipe(resample=OverSampler()), Recipe(batch_sampler=ClassReorganisationSampler())],
                         ids=["over-sampled", "reorganisation"])
def test_cuda_graphs_replay_the_fixed_epochs_as_eager_steps(recipe):
    """68 rows in batches of 16: every epoch is 4 full batches and one of 4, two shapes captured once."""
    from dataclasses import replace

    split = make_image_split()
    config = TrainingConfig(epochs=3, batch_size=16, lr=3e-3, model="resnet32", precision="fp32")
    eager = DeepEngine().fit(split, recipe, replace(config, cuda_graphs=False), seed=1, device="cuda")
    graphed = DeepEngine().fit(split, recipe, config, seed=1, device="cuda")
    assert graphed.timings["graph_capture_seconds"] > 0  # the steps were replayed, not run eagerly
    assert (graphed.timings["train_samples"], graphed.timings["train_steps"]) == (3 * 68, 3 * 5)
    assert eager.timings["train_steps"] == graphed.timings["train_steps"]
    assert np.abs(eager.predict_proba(split.test.X) - graphed.predict_proba(split.test.X)).max() < 1e-3


@pytest.mark.gpu
def test_stacked_members_with_different_samplers_replay_graphs_on_cuda():
    split = make_image_split()
    config = TrainingConfig(epochs=2, batch_size=16, lr=3e-3, model="small-cnn")
    recipes = [Recipe(), Recipe(batch_sampler=DynamicSampler()), Recipe(batch_sampler=BalancedSubsetSampler("under"))]
    models = fit_many(split, recipes, [config] * 3, [1, 2, 3], device="cuda")
    for m in models:
        assert not isinstance(m, BaseException), m
        assert m.timings["stacked_trials"] == 3 and (m.timings["train_samples"], m.timings["train_steps"]) == (136, 10)
