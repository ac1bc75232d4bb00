"""The mixup family: soft labels sum to one, CutMix/FMix label weights equal the pasted share, Remix's
label factor follows the paper's rule on hand-made class counts, Remix-DRW re-weights from its epoch."""

from __future__ import annotations

import pytest
import torch

from benchmark.errors import BenchmarkError
from benchmark.methods import method_registry
from benchmark.methods.augmentation._mixing_ops import cutmix_mask, fourier_mask, remix_label_factor
from benchmark.methods.augmentation.mixing import MixingAugment
from benchmark.methods.base import MethodContext
from benchmark.methods.losses.deferred_reweighting import DeferredReweightedCrossEntropy
from benchmark.testing import make_image_split
from benchmark.training.deep import TrainState


def state_for(counts: list[int], seed: int = 0) -> TrainState:
    gen = torch.Generator().manual_seed(seed)
    y_all = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    return TrainState(y_all, torch.tensor(counts), len(counts), 4, gen, torch.device("cpu"))


def constant_images(n: int, size: int = 16) -> torch.Tensor:
    """Image i is filled with the value (i + 1) / (n + 1): a pixel tells which image it came from."""
    return (
        (torch.arange(1, n + 1, dtype=torch.float32) / (n + 1))
        .view(n, 1, 1, 1)
        .expand(n, 1, size, size)
        .clone()
    )


def partner_of(seed: int, n: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("mode", ["mixup", "cutmix", "fmix", "switch"])
def test_soft_labels_sum_to_one(mode):
    x, y = constant_images(8), torch.tensor([0, 1, 2, 0, 1, 2, 0, 0])
    out, target = MixingAugment(3, mode, alpha=1.0).augment(x, y, state_for([4, 2, 2]))
    assert out.shape == x.shape and target.shape == (8, 3)
    assert torch.allclose(target.sum(1), torch.ones(8))
    assert float(target.min()) >= 0


def test_mixup_blends_inputs_and_labels_with_one_lambda():
    x, y = torch.rand(6, 1, 4, 4), torch.tensor([0, 1, 0, 1, 0, 1])
    aug = MixingAugment(2, "mixup", alpha=0.4)
    out, target = aug.augment(x, y, state_for([3, 3], seed=7))
    lam, j = aug.last_lambda, partner_of(7, 6)
    assert 0 <= lam <= 1
    assert torch.allclose(out, lam * x + (1 - lam) * x[j])
    expected = lam * torch.eye(2)[y] + (1 - lam) * torch.eye(2)[y[j]]
    assert torch.allclose(target, expected)


@pytest.mark.parametrize("mode", ["cutmix", "fmix"])
def test_label_weight_is_the_share_of_own_pixels(mode):
    n = 8
    x, y = constant_images(n), torch.arange(n) % 4
    for seed in range(5):
        aug = MixingAugment(4, mode, alpha=1.0)
        out, target = aug.augment(x, y, state_for([2, 2, 2, 2], seed=seed))
        j = partner_of(seed, n)
        for i in range(n):
            if y[i] == y[j[i]]:
                continue
            own = torch.isclose(out[i], x[i]).float().mean().item()
            assert target[i, y[i]].item() == pytest.approx(own, abs=1e-6)
            assert target[i, y[j[i]]].item() == pytest.approx(1 - own, abs=1e-6)


def test_cutmix_box_area_matches_lambda_inside_the_image():
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        mask, kept = cutmix_mask(torch.tensor(0.75), 32, 32, gen, torch.device("cpu"))
        assert mask.shape == (32, 32) and mask.dtype == torch.bool
        assert int(mask.sum()) <= 16 * 16  # sides sqrt(1 - 0.75) * 32, less where clipped
        assert float(kept) == pytest.approx(1 - int(mask.sum()) / 1024)
        rows, cols = mask.any(1).nonzero().squeeze(1), mask.any(0).nonzero().squeeze(1)
        assert int(mask.sum()) == rows.numel() * cols.numel()  # one axis-aligned box


def test_fourier_mask_keeps_the_asked_share():
    mask = fourier_mask(torch.tensor(0.3), 20, 20, 3.0, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert set(mask.unique().tolist()) <= {0.0, 1.0} and int(mask.sum()) == 120


def test_remix_rule_on_hand_made_counts():
    kappa, tau = 3.0, 0.5
    n = torch.tensor([100.0, 10.0, 40.0])

    def factor(lam, i, j):
        return remix_label_factor(lam, n[[i]], n[[j]], kappa, tau).item()

    # head sample i (100) with tail partner j (10): ratio 10 >= kappa, lam < tau -> the label goes to j
    assert factor(0.3, 0, 1) == 0.0
    assert factor(0.7, 0, 1) == pytest.approx(0.7)  # lam >= tau: plain mixup
    # tail sample i with head partner: ratio 0.1 <= 1/kappa, 1 - lam < tau -> the label stays with i
    assert factor(0.7, 1, 0) == 1.0
    assert factor(0.3, 1, 0) == pytest.approx(0.3)  # 1 - lam = 0.7 >= tau
    # ratio 2.5 < kappa: plain mixup either way
    assert factor(0.3, 0, 2) == pytest.approx(0.3) and factor(0.7, 2, 0) == pytest.approx(0.7)
    # the bound is inclusive: ratio exactly kappa
    assert remix_label_factor(0.2, torch.tensor([30.0]), torch.tensor([10.0]), 3.0, 0.5).item() == 0.0


def test_remix_targets_follow_the_training_counts():
    counts = [90, 10]
    x, y = torch.rand(16, 1, 4, 4), torch.tensor([0] * 12 + [1] * 4)
    for seed in range(6):
        aug = MixingAugment(2, "mixup", alpha=1.0, remix=(3.0, 0.5))
        _, target = aug.augment(x, y, state_for(counts, seed=seed))
        lam, j = aug.last_lambda, partner_of(seed, 16)
        c = torch.tensor(counts, dtype=torch.float32)
        factor = remix_label_factor(lam, c[y], c[y[j]], 3.0, 0.5)
        assert torch.allclose(
            target, factor.view(-1, 1) * torch.eye(2)[y] + (1 - factor.view(-1, 1)) * torch.eye(2)[y[j]]
        )
        head_tail = (y == 0) & (y[j] == 1)
        if lam < 0.5 and head_tail.any():
            assert torch.all(target[head_tail, 1] == 1.0)  # the whole label went to the tail partner


def test_switch_uses_both_cutmix_and_mixup():
    x, y = constant_images(4), torch.tensor([0, 1, 0, 1])
    aug = MixingAugment(2, "switch", alpha=1.0)
    kinds = set()
    for seed in range(20):
        out, _ = aug.augment(x, y, state_for([2, 2], seed=seed))
        pure = torch.stack([torch.isclose(out, v).any(dim=(1, 2, 3)) for v in x[:, 0, 0, 0]]).any(0).all()
        kinds.add(
            "cutmix" if bool(pure) else "mixup"
        )  # CutMix leaves every pixel a value of some source image
    assert kinds == {"cutmix", "mixup"}


def test_mixing_refuses_token_ids_and_bad_parameters():
    with pytest.raises(BenchmarkError, match="token ids"):
        MixingAugment(2).augment(
            torch.zeros(4, 8, dtype=torch.long), torch.tensor([0, 1, 0, 1]), state_for([2, 2])
        )
    with pytest.raises(BenchmarkError, match="CutMix needs images"):
        MixingAugment(2, "cutmix").augment(torch.rand(4, 8), torch.tensor([0, 1, 0, 1]), state_for([2, 2]))
    with pytest.raises(BenchmarkError, match="kappa"):
        MixingAugment(2, remix=(0.5, 0.5))
    with pytest.raises(BenchmarkError, match="unknown"):
        MixingAugment(2, "blend")


def test_remix_drw_reweights_soft_targets_from_its_start_epoch():
    split = make_image_split()
    ctx = MethodContext.from_split(split, "deep", epochs=10)
    recipe = method_registry.get("remix-drw").build(
        {"alpha": 1.0, "kappa": 3.0, "tau": 0.5, "mix": "mixup", "drw_start": 0.8, "drw_beta": 0.999}, ctx
    )
    assert isinstance(recipe.loss, DeferredReweightedCrossEntropy) and recipe.augment.remix == (3.0, 0.5)
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    target = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.2, 0.8]])
    plain = -(target * torch.log_softmax(logits, 1)).sum(1).mean()
    assert recipe.loss(logits, target, 0).item() == pytest.approx(plain.item(), rel=1e-6)
    assert recipe.loss(logits, target, 9).item() != pytest.approx(plain.item(), rel=1e-3)


@pytest.mark.parametrize("name", ["mixup", "cutmix", "cutmix-mixup", "fmix", "remix", "remix-drw"])
def test_rows_build_on_images_only(name):
    method = method_registry.get(name)
    assert method.modalities == ("image",) and method.paper_key
    recipe = method.build({}, MethodContext.from_split(make_image_split(), "deep"))
    assert isinstance(recipe.augment, MixingAugment)


def test_cutmix_row_mixes_a_batch_with_the_papers_probability_one_half():
    """The authors' CIFAR recipe: a coin per batch, drawn on the device right after the partners'
    permutation; a batch that is not mixed keeps its images and gets one-hot targets."""
    ctx = MethodContext("image", "deep", 4, (2, 2, 2, 2), (3,), seed=11)
    aug = method_registry.get("cutmix").build({"alpha": 1.0}, ctx).augment
    assert aug.apply_prob == 0.5
    x, y = constant_images(8), torch.arange(8) % 4
    mixed = []
    for seed in range(40):
        out, target = aug.augment(x, y, state_for([2, 2, 2, 2], seed=seed))
        replica = torch.Generator().manual_seed(seed)  # the component's stream: permutation, then the coin
        torch.randperm(8, generator=replica)
        expect_mixed = bool(torch.rand((), generator=replica) < 0.5)
        if not expect_mixed:
            assert torch.equal(out, x) and torch.equal(target, torch.eye(4)[y]) and float(aug.last_lambda) == 1.0
        elif float(aug.last_lambda) < 1.0:  # a mixed batch whose box is not empty
            assert not torch.equal(out, x)
        mixed.append(expect_mixed)
    assert 10 <= sum(mixed) <= 30  # about half of the batches


@pytest.mark.parametrize("name", ["mixup", "fmix", "remix", "cutmix-mixup"])
def test_the_other_mixing_rows_mix_every_batch_as_their_papers(name):
    ctx = MethodContext("image", "deep", 2, (6, 2), (1,), seed=0)
    params = {"alpha": 1.0, "kappa": 3.0, "tau": 0.5, "mix": "mixup", "decay_power": 3.0}
    aug = method_registry.get(name).build(params, ctx).augment
    assert aug.apply_prob == 1.0
    x, y = constant_images(8), torch.tensor([0, 1] * 4)
    for seed in range(10):
        _, target = aug.augment(x, y, state_for([6, 2], seed=seed))
        j = partner_of(seed, 8)
        assert aug.last_lambda is not None
        if name != "remix":
            assert torch.allclose(target[:, 0], aug.last_lambda * (y == 0) + (1 - aug.last_lambda) * (y[j] == 0))
    with pytest.raises(BenchmarkError, match="apply_prob"):
        MixingAugment(2, "cutmix", apply_prob=0.0)
