"""The BAGAN-GP row against the authors' code (GH920/improved-bagan-gp, codes/improved_bagan_gp.py): the
gradient penalty at fixed interpolates, the critic and generator losses for fixed critic outputs, and the
labelled latent (noise times the label's embedding)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmark.methods.generative.bagan import (
    GP_WEIGHT,
    BAGANGPGenerator,
    critic_loss,
    generator_loss,
    gradient_penalty,
)
from tests.reference._figures import assert_close, build, context, load

pytestmark = pytest.mark.reference


class FixedCritic(nn.Module):
    """The record's critic: D(x, c) = sum(W * tanh(x)) * (1 + s[c]) + sum(x^2) / 10."""

    def __init__(self, weight, class_scale):
        super().__init__()
        self.weight, self.scale = torch.tensor(weight, dtype=torch.float64), torch.tensor(class_scale, dtype=torch.float64)

    def forward(self, x, c):
        return (self.weight * torch.tanh(x)).flatten(1).sum(1) * (1 + self.scale[c]) + (x ** 2).flatten(1).sum(1) / 10


def test_bagan_gp_penalty_losses_and_labelled_latent_match_the_authors_code():
    record = load("bagan_gp")
    inputs, expected, tol = record["inputs"], record["expected"], record["tolerance"]
    f64 = lambda key: torch.tensor(inputs[key], dtype=torch.float64)  # noqa: E731
    real, fake, labels = f64("real"), f64("fake"), torch.tensor(inputs["labels"])
    gen = torch.Generator().manual_seed(inputs["uniform_seed"])
    # the row interpolates t * real + (1 - t) * fake; the authors real + alpha * (fake - real): alpha = 1 - t
    t = torch.rand((len(labels), 1, 1, 1), generator=torch.Generator().manual_seed(inputs["uniform_seed"]))
    assert_close(1 - t.double().flatten(), inputs["alpha"], {"atol": 1e-7}, "the interpolation draw")
    gp = gradient_penalty(FixedCritic(inputs["critic_weight"], inputs["critic_class_scale"]), real, fake, labels, gen)
    assert_close(gp.item(), expected["gradient_penalty"], tol, "BAGAN-GP's gradient penalty")
    assert GP_WEIGHT == inputs["gp_weight"]

    logits = {k: f64(k) for k in ("real_logits", "fake_logits", "wrong_label_logits")}
    cost = critic_loss(logits["real_logits"], logits["fake_logits"], logits["wrong_label_logits"])
    assert_close(cost.item(), expected["discriminator_cost"], tol, "BAGAN-GP's critic loss")
    assert_close(generator_loss(logits["fake_logits"]).item(), expected["generator_loss"], tol, "BAGAN-GP's generator loss")

    table = f64("embedding_table")
    g = BAGANGPGenerator(latent_dim=table.shape[1])
    g._build((1, 8, 8), table.shape[0])
    g.embed = g.embed.double()
    with torch.no_grad():
        g.embed.weight.copy_(table)
    g.decoder = nn.Identity()  # what enters the decoder: the labelled latent
    assert_close(g.generate(f64("noise"), labels).detach(), expected["labelled_latent"], tol, "BAGAN-GP's labelled latent")


def test_the_registered_row_builds_the_bagan_gp_generator():
    recipe = build("bagan-gp", {"target_ratio": 1.0}, context([40, 20, 5], modality="image"))
    assert recipe.resample is not None and isinstance(recipe.resample.make_generator(), BAGANGPGenerator)
