"""VAE over-sampling: the conditional VAE's two sampling modes under the generator contract."""

from __future__ import annotations

import pytest
import torch

from benchmark.errors import BenchmarkError
from benchmark.methods.generative.vae import ConditionalVAE, ConditionalVAEGenerator, elbo_loss
from benchmark.testing import make_image_split
from tests.methods.generative.helpers import check_generator_contract


@pytest.mark.parametrize("mode", ["prior", "posterior"])
def test_vae_generates_the_requested_images_deterministically(mode):
    split = make_image_split()
    out = check_generator_contract(lambda: ConditionalVAEGenerator(mode, latent_dim=4, width=8), split, {0: 2, 2: 6})
    assert out.shape == (8, 1, 8, 8)


def test_both_modes_share_one_trained_model_and_the_mode_is_checked():
    assert ConditionalVAEGenerator("prior").settings() == ConditionalVAEGenerator("posterior").settings()
    with pytest.raises(BenchmarkError, match="mode"):
        ConditionalVAEGenerator("likelihood")


def test_the_elbo_is_the_reconstruction_plus_the_kl_term():
    model = ConditionalVAE((1, 8, 8), 3, 4, 2).eval()
    x, c = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 0])
    loss = elbo_loss(model, x, c, torch.Generator().manual_seed(0))
    # the negative ELBO is at least the summed BCE of the best reconstruction, which is positive here
    assert loss.item() > 0
    mu, log_var = model.posterior(x, c)
    kl = (-0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp()) / 4).item()
    assert kl >= 0 and loss.item() > kl
