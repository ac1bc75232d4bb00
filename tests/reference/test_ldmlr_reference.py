"""The LDMLR row's diffusion against the authors' code (AlvinHan123/LDMLR, model/ddpm_conditional.py): the
cosine schedule, the noised features q(x_t | x_0), and the training loss. The authors' model predicts x_0 with an
SNR-weighted loss; the row predicts the noise with a plain MSE, which is the same loss for the same prediction:
the test feeds the row's training step a denoiser that predicts the noise the authors' fixed x_0 implies."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmark.methods.generative._ddpm import TRAIN_TIMESTEPS, train_denoiser
from benchmark.methods.generative.feature_diffusion import (
    FeatureDiffusionGenerator,
    FeatureDiffusionResampler,
)
from tests.reference._figures import assert_close, build, context, load

pytestmark = pytest.mark.reference


def test_ldmlr_schedule_and_noising_match_the_authors_code():
    record = load("ldmlr")
    inputs, expected, tol = record["inputs"], record["expected"], record["tolerance"]
    assert TRAIN_TIMESTEPS == inputs["timesteps"]
    scheduler = FeatureDiffusionGenerator()._training().scheduler()  # the row's diffusion settings
    assert_close(scheduler.betas[inputs["beta_steps"]], expected["betas"], tol, "LDMLR's cosine betas")
    x_t = scheduler.add_noise(torch.tensor(inputs["x0"]), torch.tensor(inputs["noise"]), torch.tensor(inputs["t"]))
    assert_close(x_t, expected["x_t"], tol, "LDMLR's noised features")


class ImpliedNoise(nn.Module):
    """Predicts the noise that the fixed x0_hat implies at (x_t, t): (x_t - sqrt(abar_t) x0_hat) / sqrt(1 - abar_t)."""

    def __init__(self, x0_hat, alphas_cumprod):
        super().__init__()
        self.x0_hat, self.abar = x0_hat, alphas_cumprod
        self.unused = nn.Parameter(torch.zeros(()))  # the optimiser needs a parameter; its gradient is 0
        self.seen: list[int] = []

    def forward(self, x_t, t, labels):
        self.seen += t.tolist()
        abar = self.abar[t].view(-1, 1).to(x_t.dtype)
        return (x_t - abar.sqrt() * self.x0_hat) / (1 - abar).sqrt() + 0 * self.unused


def test_ldmlr_training_loss_matches_the_authors_x0_loss_at_the_drawn_timestep():
    record = load("ldmlr")
    inputs, expected, tol = record["inputs"], record["expected"], record["tolerance"]
    generator = FeatureDiffusionGenerator()
    training = generator._training(steps=1, batch_size=1)
    x0 = torch.tensor(inputs["x0"][:1])
    net = ImpliedNoise(torch.tensor(inputs["x0_hat"]), training.scheduler().alphas_cumprod)
    for seed in range(4):
        net.seen.clear()
        _, losses = train_denoiser(net, net, x0, torch.zeros(1, dtype=torch.long), 1, training, seed)
        (t,) = net.seen
        assert_close(losses[0], expected["loss_of_row0_by_t"][t], {"rtol": tol["loss_rtol"], "atol": 0},
                     f"LDMLR's training loss at t={t}")


def test_the_registered_row_resamples_embeddings_with_the_feature_diffusion_generator():
    recipe = build("ldmlr", {"target_ratio": 1.0}, context([40, 20, 5], modality="tabular"))
    resamplers = [s.feature_resample for s in recipe.stages if s.feature_resample is not None]
    assert len(resamplers) == 1 and isinstance(resamplers[0], FeatureDiffusionResampler)
    assert isinstance(resamplers[0].oversampler.make_generator(), FeatureDiffusionGenerator)
