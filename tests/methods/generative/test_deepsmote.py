"""DeepSMOTE: SMOTE on segments between same-class codes, the permuted-code penalty, the generator contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from benchmark.methods.generative._nets import ConvDecoder, ConvEncoder, downsampling_steps
from benchmark.methods.generative.deepsmote import (
    DeepSMOTEGenerator,
    latent_smote,
    penalty_rows,
    permuted_penalty,
)
from benchmark.testing import make_image_split
from tests.methods.generative.helpers import check_generator_contract


def test_latent_smote_points_lie_on_segments_to_a_k_nearest_same_class_code():
    # four codes on a line and one far away: with k=1, each point lies between a code and its nearest one
    codes = torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [6.0, 0.0], [50.0, 50.0]])
    nearest = {0: 1, 1: 0, 2: 1, 3: 2, 4: 3}
    new = latent_smote(codes, 400, 1, torch.Generator().manual_seed(0))
    assert new.shape == (400, 2)
    for point in new:
        ok = False
        for i, j in nearest.items():
            a, b = codes[i], codes[j]
            t = torch.dot(point - a, b - a) / torch.dot(b - a, b - a)
            if 0 <= t <= 1 and torch.allclose(a + t * (b - a), point, atol=1e-5):
                ok = True
        assert ok, f"{point} is on no segment between a code and its nearest code"
    assert not any(torch.allclose(p, torch.tensor([25.0, 25.0]), atol=1.0) for p in new)  # never code 0 to 4
    assert latent_smote(codes[:1], 3, 5, torch.Generator()).tolist() == [[0.0, 0.0]] * 3  # one code: repeated


def test_the_penalty_compares_decoded_permuted_codes_of_one_class_with_the_images():
    y = torch.tensor([0, 0, 1, 1, 1, 1, 2])
    gen = torch.Generator().manual_seed(3)
    for _ in range(10):
        rows = penalty_rows(y, 3, gen)
        assert len(set(y[rows].tolist())) == 1 and len(rows) <= 3
    x = torch.arange(5 * 4, dtype=torch.float32).view(5, 1, 2, 2)
    identity = nn.Identity()
    penalty, perm = permuted_penalty(identity, identity, x, torch.Generator().manual_seed(1))
    assert sorted(perm.tolist()) == list(range(5)) and perm.tolist() != list(range(5))
    assert penalty.item() == nn.functional.mse_loss(x[perm], x).item() > 0


def test_the_networks_follow_the_image_shape():
    assert [downsampling_steps(s) for s in (28, 32, 8, 7)] == [2, 3, 1, 0]
    for shape in ((1, 28, 28), (3, 32, 32), (1, 8, 8)):
        enc, dec = ConvEncoder(shape, 8, 10), ConvDecoder(shape, 8, 10)
        assert dec(enc(torch.rand(2, *shape))).shape == (2, *shape)


def test_deepsmote_generates_the_requested_images_deterministically():
    split = make_image_split()
    out = check_generator_contract(lambda: DeepSMOTEGenerator(width=8, latent_dim=8), split, {1: 5, 2: 7})
    assert out.shape == (12, 1, 8, 8)


def test_deepsmote_trains_encoder_and_decoder_on_the_penalty():
    """The paper's Algorithm 1, not the authors' code: the penalty's gradient reaches the encoder too."""
    x = torch.rand(6, 1, 8, 8)
    enc, dec = ConvEncoder((1, 8, 8), 4, 3), ConvDecoder((1, 8, 8), 4, 3)
    penalty, _ = permuted_penalty(enc, dec, x, torch.Generator().manual_seed(0))
    penalty.backward()
    assert enc.out.weight.grad is not None and enc.out.weight.grad.abs().sum() > 0
    assert np.isfinite(penalty.item())


@pytest.mark.gpu
def test_image_generators_train_and_sample_on_the_gpu(tmp_path):
    """Generators train and sample on the trial's device and hand back host uint8 images, seed-deterministic."""
    from benchmark.methods.base import GeneratorBudget, ResampleContext
    from benchmark.methods.generative._base import GenerativeOversampler
    from benchmark.methods.generative.bagan import BAGANGPGenerator
    from benchmark.methods.generative.vae import ConditionalVAEGenerator

    split = make_image_split()
    for make in (lambda: DeepSMOTEGenerator(width=8, latent_dim=8), lambda: ConditionalVAEGenerator(width=8),
                 lambda: BAGANGPGenerator(width=8, latent_dim=8)):
        outs = []
        for _ in range(2):
            ctx = ResampleContext(device="cuda", cache_dir=tmp_path, split_fingerprint=split.fingerprint(),
                                  budget=GeneratorBudget(2, 16))
            X, y = GenerativeOversampler(make, 1.0).resample(split.train.X, split.train.y, seed=0, context=ctx)
            assert X.dtype == np.uint8 and np.bincount(y).tolist() == [40, 40, 40]
            outs.append(X)
        np.testing.assert_array_equal(outs[0], outs[1])
