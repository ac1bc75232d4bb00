"""Batch-level samplers: the indices of an epoch, class by class."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.errors import BenchmarkError
from benchmark.methods.resampling.batch_sampling import (
    ClassBalancedSampler,
    ClassReorganisationSampler,
    DeferredResampler,
    DynamicSampler,
    dynamic_sample_counts,
)
from benchmark.training.deep import TrainState


def make_state(counts=(150, 60, 30), seed: int = 0, f1=None) -> TrainState:
    y = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    gen = torch.Generator().manual_seed(seed)
    state = TrainState(y, torch.tensor(counts), len(counts), 10, gen, torch.device("cpu"))
    state.val_per_class_f1 = None if f1 is None else np.asarray(f1)
    return state


def label_counts(state: TrainState, idx: torch.Tensor) -> list[int]:
    return torch.bincount(state.y[idx], minlength=state.num_classes).tolist()


def test_dynamic_sampling_shares_are_proportional_to_one_minus_f1():
    counts = dynamic_sample_counts([0.1, 0.2, 0.3], 240)  # shares 0.9/2.4, 0.8/2.4, 0.7/2.4 of N
    assert counts.tolist() == [90, 80, 70]
    assert np.allclose(counts / 240, [0.375, 0.3333, 0.2917], atol=1e-4)
    assert dynamic_sample_counts([0.1, 0.2, 0.3], 100).tolist() == [38, 33, 29]  # largest remainders, sum 100
    assert dynamic_sample_counts([1.0, 1.0], 10).tolist() == [5, 5]


def test_dynamic_sampler_uses_the_last_validation_f1():
    state = make_state((150, 60, 30), f1=[0.1, 0.2, 0.3])  # mean class size N = 80
    idx = DynamicSampler().batch_indices(1, state)
    assert label_counts(state, idx) == [30, 27, 23]  # 0.375, 0.333, 0.292 of 80
    first = make_state((150, 60, 30))  # no validation yet: equal shares
    assert label_counts(first, DynamicSampler().batch_indices(0, first)) == [27, 27, 26]
    small = make_state((200, 20, 20), f1=[0.9, 0.5, 0.5])  # N = 80 -> 7, 36, 36 (0.1, 0.5, 0.5 of 1.1)
    idx = DynamicSampler().batch_indices(1, small)
    assert label_counts(small, idx) == [7, 37, 36]
    rows = set(idx[small.y[idx] == 1].tolist())
    assert rows == set(range(200, 220))  # an over-sampled class shows every row before repeating any


def test_class_balanced_and_square_root_weights():
    state = make_state((150, 60, 30))
    weights = ClassBalancedSampler(0.0).row_weights(state)
    per_class = [weights[state.y == c].sum().item() for c in range(3)]
    assert np.allclose(per_class, [1.0, 1.0, 1.0])  # rows weighted 1 / n_c: classes equally likely
    weights = ClassBalancedSampler(0.5).row_weights(state)
    per_class = np.array([weights[state.y == c].sum().item() for c in range(3)])
    assert np.allclose(per_class / per_class.sum(), np.sqrt([150, 60, 30]) / np.sqrt([150, 60, 30]).sum())
    draws = torch.cat([ClassBalancedSampler(0.0).batch_indices(e, state) for e in range(20)])
    assert draws.numel() == 20 * 240
    freq = np.array(label_counts(state, draws)) / draws.numel()
    assert np.allclose(freq, 1 / 3, atol=0.03)
    with pytest.raises(BenchmarkError, match="exponent"):
        ClassBalancedSampler(2.0)


def test_class_reorganisation_gives_every_class_max_num_rows():
    state = make_state((150, 60, 30))
    idx = ClassReorganisationSampler().batch_indices(0, state)
    assert label_counts(state, idx) == [150, 150, 150]
    assert idx.min() >= 0 and idx.max() < 240
    assert not torch.equal(idx, idx.sort().values)  # shuffled across classes


def test_deferred_resampling_switches_at_its_epoch():
    state = make_state((150, 60, 30))
    sampler = DeferredResampler(start_epoch=3)
    before = sampler.batch_indices(2, state)
    assert torch.equal(before.sort().values, torch.arange(240))  # a plain shuffled epoch
    after = torch.cat([sampler.batch_indices(3 + e, state) for e in range(10)])
    assert np.allclose(np.array(label_counts(state, after)) / after.numel(), 1 / 3, atol=0.04)


@pytest.mark.parametrize("sampler", [ClassBalancedSampler(0.5), ClassReorganisationSampler(), DynamicSampler(),
                                     DeferredResampler(1)])
def test_samplers_are_reproducible_from_the_generator(sampler):
    a = sampler.batch_indices(2, make_state(seed=5, f1=[0.5, 0.4, 0.1]))
    b = sampler.batch_indices(2, make_state(seed=5, f1=[0.5, 0.4, 0.1]))
    c = sampler.batch_indices(2, make_state(seed=6, f1=[0.5, 0.4, 0.1]))
    assert torch.equal(a, b) and not torch.equal(a, c)
