"""BAGAN-GP: the generator contract, per-class code distributions and the gradient penalty."""

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


def test_codes_of_a_class_follow_its_gaussian():
    g = BAGANGPGenerator(latent_dim=2)
    g.num_classes, g.latent_dim = 2, 2
    codes = torch.cat([torch.randn(500, 2) * 0.1 + 5, torch.randn(500, 2) * 0.1 - 5])
    labels = torch.tensor([0] * 500 + [1] * 500)
    g._class_gaussians(codes, labels)
    drawn = g._codes(torch.ones(2000, dtype=torch.long), torch.Generator().manual_seed(0))
    assert torch.allclose(drawn.mean(0), torch.tensor([-5.0, -5.0]), atol=0.05)
    assert torch.allclose(drawn.std(0), torch.tensor([0.1, 0.1]), atol=0.02)


def test_the_gradient_penalty_is_zero_for_a_unit_gradient_critic():
    x = torch.rand(3, 1, 8, 8)
    c = torch.tensor([0, 1, 0])
    critic = Critic(ConvEncoder((1, 8, 8), 4, 3), 2)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in critic.modules())  # WGAN-GP's critic has none

    class Linear(torch.nn.Module):  # D(x) = sum(x) / 8: gradient norm sqrt(64) / 8 = 1 everywhere
        def forward(self, x, c):
            return x.flatten(1).sum(1) / 8

    assert gradient_penalty(Linear(), x, x.flip(0), c, torch.Generator()).item() == 0.0
