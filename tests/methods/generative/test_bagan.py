"""BAGAN-GP: the generator contract, its noise and the gradient penalty."""

from __future__ import annotations

import torch

from benchmark.methods.generative._nets import ConvEncoder
from benchmark.methods.generative.bagan import BAGANGPGenerator, Critic, gradient_penalty
from benchmark.testing import make_image_split
from tests.methods.generative.helpers import check_generator_contract


def test_bagan_gp_generates_the_requested_images_deterministically():
    split = make_image_split()
    out = check_generator_contract(lambda: BAGANGPGenerator(latent_dim=8, width=8, n_critic=2), split, {1: 3, 2: 4})
    assert out.shape == (7, 1, 8, 8)


def test_generator_noise_is_standard_normal_for_every_class():
    """BAGAN-GP draws z ~ N(0, I) and conditions through the embedding (its eq. 14), not BAGAN's class Gaussians."""
    g = BAGANGPGenerator(latent_dim=3)
    for c in (0, 1):
        drawn = g._codes(torch.full((4000,), c, dtype=torch.long), torch.Generator().manual_seed(c))
        assert torch.allclose(drawn.mean(0), torch.zeros(3), atol=0.06)
        assert torch.allclose(drawn.std(0), torch.ones(3), atol=0.04)


def test_the_gradient_penalty_is_zero_for_a_unit_gradient_critic():
    x = torch.rand(3, 1, 8, 8)
    c = torch.tensor([0, 1, 0])
    critic = Critic(ConvEncoder((1, 8, 8), 4, 3), 2)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in critic.modules())  # WGAN-GP's critic has none

    class Linear(torch.nn.Module):  # D(x) = sum(x) / 8: gradient norm sqrt(64) / 8 = 1 everywhere
        def forward(self, x, c):
            return x.flatten(1).sum(1) / 8

    assert gradient_penalty(Linear(), x, x.flip(0), c, torch.Generator()).item() == 0.0
