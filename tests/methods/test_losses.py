"""Losses checked against hand computation and against torch's own losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from benchmark.errors import BenchmarkError
from benchmark.methods.losses._cross_entropy import (
    SoftLabelCrossEntropy,
    SoftLabelKL,
    kl_divergence,
    soft_cross_entropy,
)
from benchmark.methods.losses.class_weighting import (
    AlphaBalancedCrossEntropy,
    BinaryCrossEntropyPosWeight,
    WeightedCrossEntropy,
    binary_alpha,
    effective_number_weights,
    inverse_frequency_weights,
)
from benchmark.methods.losses.deferred_reweighting import (
    DeferredReweightedCrossEntropy,
    DRWSchedule,
    drw_start_epoch,
)
from benchmark.methods.losses.example_weighting import FocalLoss, GHMClassificationLoss
from benchmark.methods.losses.margin import LDAMLoss, LogitAdjustedLoss, ldam_margins, log_prior


@pytest.fixture
def batch():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(12, 3, generator=gen) * 2
    target = torch.tensor([0, 1, 2, 0, 0, 1, 2, 2, 0, 1, 0, 0])
    return logits, target


def test_focal_with_gamma_zero_is_weighted_cross_entropy(batch):
    logits, target = batch
    binary_logits, binary_target = logits[:, :2], (target > 0).long()
    focal = FocalLoss(gamma=0.0, alpha=0.25, num_classes=2)(binary_logits, binary_target, 0)
    weighted = F.cross_entropy(binary_logits, binary_target, weight=torch.tensor([0.75, 0.25]), reduction="none")
    assert torch.allclose(focal, weighted.mean())
    assert torch.allclose(focal, AlphaBalancedCrossEntropy(0.25)(binary_logits, binary_target, 0))
    weights = [0.5, 1.0, 2.0]
    multi = FocalLoss(gamma=0.0, weights=weights)(logits, target, 0)
    assert torch.allclose(multi, F.cross_entropy(logits, target, weight=torch.tensor(weights), reduction="none").mean())
    assert torch.allclose(FocalLoss(gamma=0.0, num_classes=3)(logits, target, 0), F.cross_entropy(logits, target))


def test_focal_loss_by_hand():
    logits = torch.tensor([[0.0, math.log(3.0)]])  # p = (0.25, 0.75)
    loss = FocalLoss(gamma=2.0, alpha=0.25, num_classes=2)(logits, torch.tensor([1]), 0)
    assert loss.item() == pytest.approx(-0.25 * 0.25**2 * math.log(0.75))
    loss = FocalLoss(gamma=2.0, alpha=0.25, num_classes=2)(logits, torch.tensor([0]), 0)
    assert loss.item() == pytest.approx(-0.75 * 0.75**2 * math.log(0.25))


def test_weighted_cross_entropy_matches_torch(batch):
    logits, target = batch
    weights = inverse_frequency_weights([6, 3, 3])
    assert np.allclose(weights, [12 / 18, 12 / 9, 12 / 9])
    expected = F.cross_entropy(logits, target, weight=torch.tensor(weights, dtype=torch.float32))
    assert torch.allclose(WeightedCrossEntropy(weights)(logits, target, 0), expected)


def test_soft_targets_cross_entropy_and_kl(batch):
    logits, target = batch
    assert torch.allclose(soft_cross_entropy(logits, target), F.cross_entropy(logits, target))
    soft = torch.softmax(torch.randn(12, 3, generator=torch.Generator().manual_seed(1)), dim=1)
    assert torch.allclose(soft_cross_entropy(logits, soft), F.cross_entropy(logits, soft))
    expected_kl = F.kl_div(F.log_softmax(logits, dim=1), soft, reduction="batchmean")
    assert torch.allclose(kl_divergence(logits, soft), expected_kl, atol=1e-6)
    entropy = -(soft * soft.log()).sum(dim=1).mean()
    assert torch.allclose(SoftLabelKL()(logits, soft, 0), SoftLabelCrossEntropy()(logits, soft, 0) - entropy, atol=1e-6)


ONE_HOT_EQUIVALENT = [
    lambda: WeightedCrossEntropy([1.0, 2.0, 3.0]),
    lambda: WeightedCrossEntropy([1.0, 2.0, 3.0], reduction="mean"),
    lambda: GHMClassificationLoss(bins=10, momentum=0.75),
    lambda: FocalLoss(gamma=2.0, weights=[1.0, 2.0, 3.0]),
    lambda: GHMClassificationLoss(bins=10, momentum=0.0),
    lambda: LDAMLoss(ldam_margins([100, 10, 5], 0.5), scale=5.0),
    lambda: LogitAdjustedLoss([100, 10, 5], tau=1.0),
    lambda: DeferredReweightedCrossEntropy(DRWSchedule([100, 10, 5], start_epoch=0)),
    lambda: SoftLabelCrossEntropy(),
    lambda: SoftLabelKL(),
]


@pytest.mark.parametrize("make_loss", ONE_HOT_EQUIVALENT)
def test_every_loss_takes_soft_targets(make_loss, batch):
    logits, target = batch
    hard = make_loss()(logits, target, 0)
    one_hot = make_loss()(logits, F.one_hot(target, 3).float(), 0)
    assert torch.allclose(hard, one_hot, atol=1e-6)
    mixed = 0.7 * F.one_hot(target, 3).float() + 0.3 * F.one_hot(target.roll(1), 3).float()
    assert torch.isfinite(make_loss()(logits, mixed, 0))


def test_bce_with_pos_weight_on_the_log_odds(batch):
    logits, target = batch
    logits, target = logits[:, :2], (target > 0).long()
    loss = BinaryCrossEntropyPosWeight(3.0)(logits, target, 0)
    expected = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(3.0))(logits[:, 1] - logits[:, 0], target.float())
    assert torch.allclose(loss, expected)
    with pytest.raises(BenchmarkError, match="binary"):
        BinaryCrossEntropyPosWeight(3.0)(torch.zeros(2, 3), torch.tensor([0, 1]), 0)
    with pytest.raises(BenchmarkError, match="pos_weight"):
        BinaryCrossEntropyPosWeight(0.0)


def test_effective_number_and_binary_alpha_weights():
    beta = 0.9
    raw = np.array([(1 - beta) / (1 - beta**100), (1 - beta) / (1 - beta**10)])
    assert np.allclose(effective_number_weights([100, 10], beta), raw / raw.sum() * 2)
    assert np.allclose(effective_number_weights([100, 10], 0.0), [1.0, 1.0])
    near_one = effective_number_weights([100, 10], 0.999999)
    assert near_one[1] / near_one[0] == pytest.approx(10.0, rel=1e-3)  # beta -> 1: inverse frequency
    assert binary_alpha([90, 10]) == pytest.approx(0.9)
    with pytest.raises(BenchmarkError, match="beta"):
        effective_number_weights([100, 10], 1.0)


def test_ghm_weights_on_a_known_gradient_histogram():
    # hard labels 1 with p_1 = 0.95, 0.95, 0.95, 0.55, 0.05, 0.05: g = 1 - p_1 = .05 .05 .05 .45 .95 .95
    p = torch.tensor([0.95, 0.95, 0.95, 0.55, 0.05, 0.05])
    logits = torch.stack([torch.zeros(6), torch.log(p / (1 - p))], dim=1)
    target = torch.ones(6, dtype=torch.long)
    loss_fn = GHMClassificationLoss(bins=10, momentum=0.0)
    g = 1 - p
    # bins 0 (3 samples), 4 (1), 9 (2); 3 non-empty bins; beta = N / (R_b * 3)
    expected = torch.tensor([6 / 9, 6 / 9, 6 / 9, 6 / 3, 6 / 6, 6 / 6])
    assert torch.allclose(loss_fn.weights(g), expected)
    ce = F.cross_entropy(logits, target, reduction="none")
    assert torch.allclose(GHMClassificationLoss(bins=10, momentum=0.0)(logits, target, 0), (expected * ce).mean())



def test_ghm_moving_average_starts_at_zero_and_keeps_empty_bins():
    """The authors' GHM-C: acc_sum starts at 0; a batch updates only the bins it fills,
    S_b <- 0.75 S_b + 0.25 R_b; beta = N / (S_b * bins filled by this batch)."""
    loss_fn = GHMClassificationLoss(bins=10, momentum=0.75)
    first = torch.tensor([0.05, 0.05, 0.05, 0.45, 0.95, 0.95])  # R = 3 in bin 0, 1 in bin 4, 2 in bin 9
    # S = (0.75, 0, 0, 0, 0.25, 0, 0, 0, 0, 0.5): a quarter of the counts; 3 bins filled
    expected = torch.tensor([6 / (0.75 * 3)] * 3 + [6 / (0.25 * 3)] + [6 / (0.5 * 3)] * 2)
    assert torch.allclose(loss_fn.weights(first), expected)
    second = torch.tensor([0.05, 0.05, 0.95, 0.95, 0.95, 0.95])  # R = 2 in bin 0, 4 in bin 9; bin 4 empty
    s0, s9 = 0.75 * 0.75 + 0.25 * 2, 0.75 * 0.5 + 0.25 * 4
    expected = torch.tensor([6 / (s0 * 2)] * 2 + [6 / (s9 * 2)] * 4)
    assert torch.allclose(loss_fn.weights(second), expected)
    assert loss_fn.running[4].item() == pytest.approx(0.25)  # the empty bin kept its value
    third = torch.tensor([0.45, 0.45])  # bin 4 again: 0.75 * 0.25 + 0.25 * 2, one bin filled
    assert torch.allclose(loss_fn.weights(third), torch.full((2,), 2 / (0.75 * 0.25 + 0.25 * 2)))
    assert torch.allclose(loss_fn.running, torch.tensor([s0, 0, 0, 0, 0.6875, 0, 0, 0, 0, s9]))


def test_class_balanced_loss_takes_the_mean_of_weighted_losses_in_both_variants():
    """Cui et al.'s code: per-sample weight w_{y_i} (weights summing to C), loss = mean_i w_{y_i} l_i, for
    softmax cross-entropy and for focal loss alike (hand-computed on two samples)."""
    from benchmark.methods import method_registry
    from benchmark.methods.base import MethodContext

    counts, beta = (90, 10), 0.9
    raw = np.array([(1 - beta) / (1 - beta**90), (1 - beta) / (1 - beta**10)])
    w = raw / raw.sum() * 2
    logits = torch.tensor([[0.0, math.log(3.0)], [math.log(4.0), 0.0]])  # p = (.25, .75) and (.8, .2)
    target = torch.tensor([0, 0])  # two samples of the frequent class: torch's weighted mean would cancel w_0
    ctx = MethodContext("tabular", "deep", 2, counts, (1,))
    build = method_registry.get("class-balanced-loss").build
    softmax = build({"beta": beta, "loss_type": "softmax"}, ctx).loss(logits, target, 0)
    assert softmax.item() == pytest.approx(w[0] * -(math.log(0.25) + math.log(0.8)) / 2, rel=1e-5)
    assert softmax.item() != pytest.approx(-(math.log(0.25) + math.log(0.8)) / 2, rel=1e-3)
    focal = build({"beta": beta, "loss_type": "focal", "gamma": 2.0}, ctx).loss(logits, target, 0)
    by_hand = w[0] * -(0.75**2 * math.log(0.25) + 0.2**2 * math.log(0.8)) / 2
    assert focal.item() == pytest.approx(by_hand, rel=1e-5)
    # a mixed batch: softmax = (w_0 l_0 + w_1 l_1) / 2, not / (w_0 + w_1)
    mixed = torch.tensor([0, 1])
    loss = build({"beta": beta, "loss_type": "softmax"}, ctx).loss(logits, mixed, 0)
    assert loss.item() == pytest.approx((w[0] * -math.log(0.25) + w[1] * -math.log(0.2)) / 2, rel=1e-5)
    # class-weighted-ce keeps torch's convention (divided by the targets' summed weights)
    assert torch.allclose(WeightedCrossEntropy(w)(logits, mixed, 0),
                          F.cross_entropy(logits, mixed, weight=torch.tensor(w, dtype=torch.float32)))
    with pytest.raises(BenchmarkError, match="reduction"):
        WeightedCrossEntropy(w, reduction="sum")


def test_ldam_margins_follow_the_inverse_fourth_root():
    counts = [1000, 100, 10]
    margins = ldam_margins(counts, max_margin=0.5)
    assert margins[2] == pytest.approx(0.5)
    assert margins[0] / margins[2] == pytest.approx((10 / 1000) ** 0.25)
    assert margins[1] / margins[2] == pytest.approx((10 / 100) ** 0.25)
    logits = torch.tensor([[1.0, 0.5, -0.2]])
    loss = LDAMLoss(margins, scale=2.0)(logits, torch.tensor([2]), 0)
    shifted = 2.0 * torch.tensor([[1.0, 0.5, -0.2 - 0.5]])
    assert loss.item() == pytest.approx(F.cross_entropy(shifted, torch.tensor([2])).item(), rel=1e-6)


def test_balanced_softmax_is_cross_entropy_on_logits_plus_log_prior(batch):
    logits, target = batch
    counts = [60, 30, 10]
    prior = torch.tensor([0.6, 0.3, 0.1])
    expected = F.cross_entropy(logits + prior.log(), target)
    assert torch.allclose(LogitAdjustedLoss(counts, tau=1.0)(logits, target, 0), expected)
    assert torch.allclose(LogitAdjustedLoss(counts, tau=0.5)(logits, target, 0),
                          F.cross_entropy(logits + 0.5 * prior.log(), target))
    assert np.allclose(log_prior(counts), np.log([0.6, 0.3, 0.1]))


def test_drw_schedule_switches_at_its_epoch(batch):
    logits, target = batch
    schedule = DRWSchedule([6, 3, 3], start_epoch=3, beta=0.99)
    loss = DeferredReweightedCrossEntropy(schedule)
    assert schedule.weights(2) is None
    assert torch.allclose(loss(logits, target, 2), F.cross_entropy(logits, target))
    weights = torch.tensor(effective_number_weights([6, 3, 3], 0.99), dtype=torch.float32)
    assert torch.allclose(schedule.weights(3), weights)
    assert torch.allclose(loss(logits, target, 5), F.cross_entropy(logits, target, weight=weights))
    assert drw_start_epoch(0.8, 200) == 160
    assert drw_start_epoch(0.9, 2) == 1 and drw_start_epoch(0.1, 2) == 1  # one epoch on each side
    assert drw_start_epoch(0.5, 1) == 0
