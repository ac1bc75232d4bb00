"""The self-supervised rows' pretext tasks: rotation views and labels, SimCLR's views and NT-Xent,
VIME's corruption and loss, where each row applies, and the combined rows built on them."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from benchmark.errors import BenchmarkError
from benchmark.methods import method_registry
from benchmark.methods._composition import CompositionError
from benchmark.methods.base import MethodContext
from benchmark.methods.self_supervised.contrastive import NO_PARTNER, ContrastivePretext, nt_xent
from benchmark.methods.self_supervised.rotation import (
    RotationPrediction,
    balanced_rotation_labels,
    square_images,
)
from benchmark.methods.self_supervised.vime import MaskedFeaturePretext, vime_corrupt
from benchmark.testing import make_image_split, make_tabular_split, make_text_split, tiny_config
from benchmark.training.deep import DeepEngine
from benchmark.training.features import InputSpec


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- rotation --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("batch", [8, 7, 2])
def test_rotation_views_are_the_four_rotations_with_their_labels(batch):
    x = torch.rand(batch, 3, 5, 5, generator=generator(1))
    inputs, labels = RotationPrediction(0.3).views(x, generator(2))
    assert inputs.shape == x.shape and labels.dtype == torch.long
    for i in range(batch):  # by hand: image i turned labels[i] quarter turns
        assert torch.equal(inputs[i], torch.rot90(x[i], int(labels[i]), dims=(1, 2)))
    counts = torch.bincount(labels, minlength=4)
    assert counts.max() - counts.min() <= 1  # each rotation a quarter of the batch, up to one
    if batch == 8:
        assert counts.tolist() == [2, 2, 2, 2]


def test_rotation_labels_are_drawn_from_the_generator():
    draws = {tuple(balanced_rotation_labels(12, generator(s), torch.device("cpu")).tolist()) for s in range(5)}
    assert len(draws) > 1
    assert balanced_rotation_labels(12, generator(3), torch.device("cpu")).tolist() == \
        balanced_rotation_labels(12, generator(3), torch.device("cpu")).tolist()


def test_rotation_head_and_loss():
    task = RotationPrediction(0.3)
    head = task.head(16, InputSpec("image", (1, 8, 8)))
    assert isinstance(head, torch.nn.Linear) and head.out_features == 4
    outputs, targets = torch.randn(6, 4, generator=generator()), torch.tensor([0, 1, 2, 3, 0, 1])
    assert torch.isclose(task.loss(outputs, targets), F.cross_entropy(outputs, targets))


def test_rotation_applies_only_to_square_images():
    split = make_image_split()
    assert square_images(split) is None
    split.train.X = np.zeros((len(split.train), 1, 8, 6), dtype=np.uint8)
    reason = square_images(split)
    assert reason is not None and "8x6" in reason and "tiny-image" in reason
    assert method_registry.get("ssp-rotation").not_applicable_reason(split, "deep") == reason
    with pytest.raises(BenchmarkError, match="square"):
        RotationPrediction(0.3).views(torch.zeros(4, 1, 8, 6), generator())


# -- SimCLR ----------------------------------------------------------------------------------------------
def nt_xent_by_hand(z: torch.Tensor, partner: list[int], temperature: float) -> float:
    z = F.normalize(z, dim=1)
    terms = []
    for i, p in enumerate(partner):
        if p == NO_PARTNER:
            continue
        sims = [float(z[i] @ z[k]) / temperature for k in range(len(z)) if k != i]
        terms.append(-float(z[i] @ z[p]) / temperature + math.log(sum(math.exp(s) for s in sims)))
    return sum(terms) / len(terms)


def test_nt_xent_matches_its_definition():
    z = torch.randn(5, 7, generator=generator(4))
    partner = [3, 4, NO_PARTNER, 0, 1]
    got = nt_xent(z, torch.tensor(partner), 0.3)
    assert math.isclose(float(got), nt_xent_by_hand(z, partner, 0.3), rel_tol=1e-5)


def test_nt_xent_is_lower_for_matching_views_than_for_random_pairs():
    base = torch.randn(8, 16, generator=generator(5))
    partner = (torch.arange(16) + 8) % 16
    identical = nt_xent(torch.cat([base, base]), partner, 0.2)
    random = nt_xent(torch.randn(16, 16, generator=generator(6)), partner, 0.2)
    assert float(identical) < float(random)


def test_simclr_views_pair_two_views_of_each_image():
    task = ContrastivePretext(0.3, temperature=0.2)
    x = torch.rand(7, 3, 8, 8, generator=generator(7))
    inputs, partner = task.views(x, generator(8))
    assert inputs.shape == x.shape and inputs.min() >= 0 and inputs.max() <= 1
    # rows 0..3 are first views of images 0..3, rows 4..6 second views of images 0..2; image 3 lost its pair
    assert partner.tolist() == [4, 5, 6, NO_PARTNER, 0, 1, 2]
    assert not torch.equal(inputs[0], inputs[4])  # two random views differ
    even, even_partner = task.views(x[:6], generator(8))
    assert even_partner.tolist() == [3, 4, 5, 0, 1, 2]
    head = task.head(16, InputSpec("image", (3, 8, 8)))
    assert head(torch.randn(6, 16)).shape == (6, 128)
    with pytest.raises(BenchmarkError, match="temperature"):
        ContrastivePretext(0.3, temperature=0.0)


# -- VIME ------------------------------------------------------------------------------------------------
def test_vime_corruption_keeps_unmasked_values_and_draws_masked_ones_from_the_column():
    rows, cols = 200, 5
    x = torch.arange(cols).float() * 1000 + torch.arange(rows).float().view(-1, 1)  # every value tells its column
    corrupted, mask = vime_corrupt(x, 0.3, generator(9))
    kept = mask == 0
    assert torch.equal(corrupted[kept], x[kept])
    changed = mask == 1
    assert torch.equal(changed, corrupted != x)
    assert torch.equal(torch.div(corrupted, 1000, rounding_mode="floor"), torch.div(x, 1000, rounding_mode="floor"))
    assert 0.2 < changed.float().mean() < 0.4  # about p_m of the entries replaced
    for j in range(cols):  # the replaced values of a column are that column's values, spread over its rows
        assert set(corrupted[changed[:, j], j].tolist()) <= set(x[:, j].tolist())
    _, mask_small = vime_corrupt(x, 0.01, generator(9))
    assert mask_small.mean() < 0.05


def test_vime_views_and_loss():
    task = MaskedFeaturePretext(0.3, p_m=0.3, alpha=2.0)
    x = torch.randn(32, 4, generator=generator(10))
    inputs, targets = task.views(x, generator(11))
    assert inputs.shape == x.shape and targets.shape == (32, 8)
    assert torch.equal(targets[:, 4:], x) and torch.equal(targets[:, :4], (inputs != x).float())
    head = task.head(16, InputSpec("tabular", (4,)))
    outputs = head(torch.randn(32, 16))
    expected = (F.binary_cross_entropy_with_logits(outputs[:, :4], targets[:, :4])
                + 2.0 * F.mse_loss(outputs[:, 4:], targets[:, 4:]))
    assert torch.isclose(task.loss(outputs, targets), expected)
    with pytest.raises(BenchmarkError, match="p_m"):
        MaskedFeaturePretext(0.3, p_m=1.0, alpha=1.0)


# -- the rows --------------------------------------------------------------------------------------------
def test_no_self_supervised_row_claims_text():
    for name in ("ssp-rotation", "ssp-simclr", "vime-ssl"):
        method = method_registry.get(name)
        assert method.family == "self-supervised" and "text" not in method.modalities
        assert "text" in (method.summary + method.differences).lower() or method.modalities == ("image",)
        reason = method.not_applicable_reason(make_text_split(), "deep")
        assert reason is not None and "text" in reason
    assert method_registry.get("ssp-rotation").paper_key == "yang2020rethinking"


@pytest.mark.parametrize(("name", "parts"), [
    ("crt+ssp-rotation", ("ssp-rotation", "crt")),
    ("balanced-softmax+ssp-rotation", ("ssp-rotation", "balanced-softmax")),
    ("class-balanced-sampling+ssp-rotation", ("ssp-rotation", "class-balanced-sampling")),
])
def test_ssp_combines_with_other_remedies(name, parts):
    method = method_registry.get(name)
    assert method.name == "+".join(parts) and method.parts == parts
    split = make_image_split()
    ctx = MethodContext.from_split(split, "deep", epochs=4)
    recipe = method.build({f"{parts[0]}.share": 0.25}, ctx)
    assert recipe.pretrain is not None and recipe.pretrain.share == 0.25
    model = DeepEngine().fit(split, recipe, replace(tiny_config(), epochs=4), seed=0, device="cpu")
    assert model.timings["pretrain_epochs"] == 1 and model.timings["epochs"] == 4


def test_two_pretrainings_do_not_combine():
    with pytest.raises(CompositionError, match="pretrain"):
        method_registry.get("ssp-rotation+ssp-simclr")


def test_vime_runs_on_nominal_columns():
    split = make_tabular_split(nominal=True)
    ctx = MethodContext.from_split(split, "deep", epochs=2)
    recipe = method_registry.get("vime-ssl").build({"share": 0.5, "p_m": 0.4, "alpha": 1.0}, ctx)
    model = DeepEngine().fit(split, recipe, tiny_config(), seed=0, device="cpu")
    assert model.timings["pretrain_epochs"] == 1
    assert np.isfinite(model.predict_proba(split.test.X)).all()
