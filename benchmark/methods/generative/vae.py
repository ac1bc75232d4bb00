"""VAE over-sampling: a class-conditional VAE (Kingma and Welling 2014; Sohn et al. 2015) trained on the
training images, sampled in the two modes Fajardo et al. (ESWA 2021) compare.

The conditional VAE encodes an image and its one-hot label into a diagonal Gaussian posterior over a
``latent_dim`` code and decodes a code and a one-hot label into an image (the DCGAN-style networks of
:mod:`._nets`); it is trained on the evidence lower bound: Bernoulli reconstruction likelihood of the
pixels (summed) plus the KL divergence to the standard normal prior, averaged over the batch.

Two rows share one trained model (the sampling mode is not part of the cache key, so the second row
reuses the first's generator):

- ``cvae-oversampling``: codes from the prior N(0, I), decoded with the minority label;
- ``vae-posterior-oversampling``: a real minority training image drawn uniformly, a code drawn from its
  posterior N(mu(x, c), sigma(x, c)^2), decoded with its label: new images near real ones, which is what
  the MNIST-LT notebook of the book chapter does (with an unconditional VAE there).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from benchmark.errors import BenchmarkError
from benchmark.methods._papers import CVAE_BIB, FAJARDO_BIB, VAE_BIB
from benchmark.methods.base import MethodContext, Recipe, register_method
from benchmark.methods.generative._base import (
    GenerativeOversampler,
    Generator,
    GeneratorBudget,
    image_width,
    ratio_space,
    requested,
)
from benchmark.methods.generative._nets import (
    ConvDecoder,
    ConvEncoder,
    batches,
    check_image_rows,
    module_state,
    seeded,
    to_uint8,
    to_unit,
)

MODES = ("prior", "posterior")


class ConditionalVAE(nn.Module):
    """Encoder q(z | x, c) and decoder p(x | z, c) for images of ``shape`` and ``num_classes`` labels."""

    def __init__(self, shape: tuple[int, int, int], num_classes: int, width: int, latent_dim: int):
        super().__init__()
        self.num_classes, self.latent_dim = num_classes, latent_dim
        self.encoder = ConvEncoder(shape, width, 2 * latent_dim)
        # the label joins the encoder after its convolutions: features -> (features, one-hot) -> (mu, log var)
        self.encoder.out = nn.Linear(self.encoder.feature_dim + num_classes, 2 * latent_dim)
        self.decoder = ConvDecoder(shape, width, latent_dim + num_classes)

    def one_hot(self, c: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(c, self.num_classes).float()

    def posterior(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.cat([self.encoder.features(x), self.one_hot(c)], dim=1)
        mu, log_var = self.encoder.out(h).chunk(2, dim=1)
        return mu, log_var.clamp(-10, 10)

    def decode(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([z, self.one_hot(c)], dim=1))


def elbo_loss(model: ConditionalVAE, x: torch.Tensor, c: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Negative ELBO per image: summed pixel BCE plus KL(q(z | x, c) || N(0, I)), averaged over the batch."""
    mu, log_var = model.posterior(x, c)
    eps = torch.randn(mu.shape, generator=gen, device=mu.device)
    recon = model.decode(mu + eps * torch.exp(0.5 * log_var), c)
    bce = nn.functional.binary_cross_entropy(recon, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp())
    return (bce + kl) / x.shape[0]


class ConditionalVAEGenerator(Generator):
    """The conditional VAE as a :class:`Generator`; ``mode`` ("prior" or "posterior") chooses the sampling."""

    name = "cvae"

    def __init__(self, mode: str = "prior", latent_dim: int = 32, width: int = 32, lr: float = 1e-3):
        if mode not in MODES:
            raise BenchmarkError(f"VAE over-sampling with mode={mode!r}", f"use one of {MODES}")
        self.mode, self.latent_dim, self.width, self.lr = mode, int(latent_dim), int(width), float(lr)
        self.device = "cpu"

    def settings(self) -> dict[str, Any]:  # the mode only changes sampling: both rows share one model
        return {"latent_dim": self.latent_dim, "width": self.width, "lr": self.lr}

    def _build(self, shape: tuple[int, int, int], num_classes: int) -> None:
        self.shape, self.num_classes = shape, num_classes
        self.model = ConditionalVAE(shape, num_classes, self.width, self.latent_dim).to(self.device)

    def fit(self, X: np.ndarray, y: np.ndarray, *, budget: GeneratorBudget, device: str, seed: int) -> None:
        self.device = device
        torch.manual_seed(seed)
        self._build(check_image_rows(X, "VAE over-sampling"), int(np.max(y)) + 1)
        x, labels, gen = to_unit(X, device), torch.as_tensor(y, device=device), seeded(seed, device)
        optimiser = torch.optim.Adam(self.model.parameters(), lr=self.lr)
        self.model.train()
        for idx in batches(len(y), budget, gen, device):
            loss = elbo_loss(self.model, x[idx], labels[idx], gen)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        self.model.eval()
        with torch.no_grad():  # the posteriors of the training images, for the posterior mode
            parts = [self.model.posterior(x[s:s + 1024], labels[s:s + 1024]) for s in range(0, len(x), 1024)]
        self.mu, self.log_var = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
        self.labels = labels.clone()

    @torch.no_grad()
    def sample(self, counts: dict[int, int], *, seed: int) -> np.ndarray:
        gen = seeded(seed, self.device)
        out = []
        for c, n in requested(counts, self.num_classes, "the VAE"):
            label = torch.full((n,), int(c), dtype=torch.long, device=self.device)
            eps = torch.randn((n, self.latent_dim), generator=gen, device=self.device)
            if self.mode == "prior":
                z = eps
            else:
                rows = torch.nonzero(self.labels == int(c)).flatten()
                if rows.numel() == 0:
                    raise BenchmarkError(f"posterior sampling of class {c}, which had no training image",
                                         "sample only classes present in the training rows")
                pick = rows[torch.randint(rows.numel(), (n,), generator=gen, device=self.device)]
                z = self.mu[pick] + eps * torch.exp(0.5 * self.log_var[pick])
            out += [to_uint8(self.model.decode(z[s:s + 1024], label[s:s + 1024])) for s in range(0, n, 1024)]
        return np.concatenate(out) if out else np.zeros((0, *self.shape), np.uint8)

    def state_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "num_classes": self.num_classes, "model": module_state(self.model)[0],
                "mu": self.mu.cpu(), "log_var": self.log_var.cpu(), "labels": self.labels.cpu()}

    def load_state_dict(self, state: dict[str, Any], *, device: str = "cpu") -> None:
        self.device = device
        self._build(tuple(state["shape"]), int(state["num_classes"]))
        self.model.load_state_dict(state["model"])
        self.model.eval()
        self.mu, self.log_var = state["mu"].to(device), state["log_var"].to(device)
        self.labels = state["labels"].to(device)


def vae_recipe(mode: str, params: dict, ctx: MethodContext) -> Recipe:
    width = image_width(ctx) // 2  # the VAE's networks at half DeepSMOTE's width: it has no 300-d code to feed
    return Recipe(resample=GenerativeOversampler(lambda: ConditionalVAEGenerator(mode, width=width),
                                                 params.get("target_ratio", 1.0),
                                                 caption=f"conditional VAE, {mode} sampling"))


VAE_DIFFERENCES = ("Training length is the suite's generator budget; DCGAN-style networks sized from the image "
                   "shape, 32-dimensional code; every class below the tuned target ratio is topped up. ")


@register_method(
    "cvae-oversampling",
    family="generative",
    modalities=("image",),
    engines=("deep",),
    summary="Class-conditional VAE trained on the training images; new minority images decoded from prior "
            "codes with the minority label.",
    paper="\n".join((FAJARDO_BIB, CVAE_BIB, VAE_BIB)),
    search_space=ratio_space,
    differences=VAE_DIFFERENCES + "Fajardo et al. also study CGAN and rejection steps; this row is their "
                                  "conditional-VAE oversampler without them.",
)
def cvae_oversampling(params: dict, ctx: MethodContext) -> Recipe:
    """Conditional-VAE over-sampling from the prior (Sohn et al. 2015; Fajardo et al. 2021)."""
    return vae_recipe("prior", params, ctx)


@register_method(
    "vae-posterior-oversampling",
    family="generative",
    modalities=("image",),
    engines=("deep",),
    summary="Conditional VAE trained on the training images; new minority images decoded from samples of "
            "real minority images' posteriors (reconstruction-style variations).",
    paper="\n".join((FAJARDO_BIB, VAE_BIB, CVAE_BIB)),
    search_space=ratio_space,
    differences=VAE_DIFFERENCES + "The book chapter's MNIST-LT notebook encodes minority images with an "
                                  "unconditional VAE; here the same conditional VAE as cvae-oversampling is "
                                  "used (so the two rows share one trained model and differ only in sampling).",
)
def vae_posterior_oversampling(params: dict, ctx: MethodContext) -> Recipe:
    """VAE posterior-reconstruction over-sampling (Kingma and Welling 2014; Fajardo et al. 2021)."""
    return vae_recipe("posterior", params, ctx)
