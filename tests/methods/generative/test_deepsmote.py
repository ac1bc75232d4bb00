"""DeepSMOTE: SMOTE on segments between same-class codes, the authors' penalty and networks, the best-loss
weights, the generator contract (the authors' figures are in tests/reference/test_deepsmote_reference.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.errors import BenchmarkError
from benchmark.methods.base import GeneratorBudget
from benchmark.methods.generative._nets import ConvDecoder, ConvEncoder, downsampling_steps
from benchmark.methods.generative.deepsmote import (
    DeepSMOTEDecoder,
    DeepSMOTEEncoder,
    DeepSMOTEGenerator,
    decoder_plan,
    deepsmote_step,
    latent_smote,
    penalty_rows,
    rotation,
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


def test_the_penalty_draws_one_class_and_teaches_the_decoder_only():
    y = torch.tensor([0, 0, 1, 1, 1, 1, 2])
    gen = torch.Generator().manual_seed(3)
    for _ in range(10):
        rows = penalty_rows(y, 3, gen)
        assert len(set(y[rows].tolist())) == 1 and len(rows) <= 3
    assert rotation(4).tolist() == [1, 2, 3, 0]
    x = torch.rand(6, 1, 8, 8)
    enc, dec = DeepSMOTEEncoder((1, 8, 8), 4, 3), DeepSMOTEDecoder((1, 8, 8), 4, 3)
    grads = []
    for class_batch in (x[:1], x):  # one row: no penalty; six rows: the penalty adds decoder gradient only
        opt = torch.optim.SGD([*enc.parameters(), *dec.parameters()], lr=0.0)
        _, penalty = deepsmote_step(enc, dec, opt, x[:4], class_batch)
        grads.append(([p.grad.clone() for p in enc.parameters()], [p.grad.clone() for p in dec.parameters()]))
        assert (penalty.item() > 0) == (len(class_batch) > 1)
    for a, b in zip(grads[0][0], grads[1][0], strict=True):
        torch.testing.assert_close(a, b)  # the encoder learns from reconstruction alone
    assert any(not torch.equal(a, b) for a, b in zip(grads[0][1], grads[1][1], strict=True))


def test_the_networks_follow_the_image_shape():
    assert [downsampling_steps(s) for s in (28, 32, 8, 7)] == [2, 3, 1, 0]
    for shape in ((1, 28, 28), (3, 32, 32), (1, 8, 8)):
        enc, dec = ConvEncoder(shape, 8, 10), ConvDecoder(shape, 8, 10)
        assert dec(enc(torch.rand(2, *shape))).shape == (2, *shape)
    assert decoder_plan(28) == (7, 4, 0) and decoder_plan(32) == (9, 4, 0)  # 28: the authors' 7 -> 10 -> 13 -> 28
    for shape in ((1, 28, 28), (3, 32, 32), (1, 8, 8), (1, 7, 7), (1, 4, 4)):
        enc, dec = DeepSMOTEEncoder(shape, 4, 6), DeepSMOTEDecoder(shape, 4, 6)
        out = dec(enc(torch.rand(2, *shape)))
        assert out.shape == (2, *shape) and out.abs().max() <= 1
    with pytest.raises(BenchmarkError, match="at least 4x4"):
        decoder_plan(3)


def test_deepsmote_generates_the_requested_images_deterministically():
    split = make_image_split()
    out = check_generator_contract(lambda: DeepSMOTEGenerator(width=8, latent_dim=8), split, {1: 5, 2: 7})
    assert out.shape == (12, 1, 8, 8)


def test_deepsmote_keeps_the_weights_of_the_pass_with_the_lowest_training_loss():
    """Steps that report falling losses for three passes, then high ones: the kept weights (and the codes)
    are those at the end of the third pass, not the last ones."""
    split = make_image_split()
    snapshots = []

    class Recording(DeepSMOTEGenerator):
        @staticmethod
        def step(encoder, decoder, *args):
            deepsmote_step(encoder, decoder, *args)
            snapshots.append({k: v.clone() for k, v in encoder.state_dict().items()})
            i = len(snapshots) - 1
            return torch.tensor(10.0 - i // 5 if i < 15 else 100.0), torch.tensor(0.0)

    gen, budget = Recording(width=4, latent_dim=4), GeneratorBudget(6, 16)
    gen.fit(split.train.X, split.train.y, budget=budget, device="cpu", seed=0)
    assert len(snapshots) == budget.steps(len(split.train.y)) == 26  # 68 rows: passes of 5 steps (the last 1)
    assert gen.best_loss == 8.0
    for k, v in gen.encoder.state_dict().items():
        torch.testing.assert_close(v, snapshots[14][k])  # the end of the third pass
    assert any(not torch.equal(v, snapshots[-1][k]) for k, v in gen.encoder.state_dict().items())
    with torch.no_grad():
        codes = gen.encoder(torch.as_tensor(split.train.X).float() / 255)
    torch.testing.assert_close(codes, gen.codes)  # the codes are those of the kept weights


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
