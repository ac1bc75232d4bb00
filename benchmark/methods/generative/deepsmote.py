"""DeepSMOTE (Dablain, Krawczyk and Chawla, IEEE TNNLS 2022): SMOTE in the code space of an autoencoder.

An encoder/decoder (:mod:`._nets`, DCGAN-style, sized from the image shape) is trained on the training
images with the reconstruction loss plus the paper's penalty term: for each batch, one class is drawn at
random, a batch of its images is encoded, the codes are permuted within the class, decoded, and the
decoded images are compared (mean squared error) with the images in their original order, so that the
decoder maps any code of a class to images that look like that class. Both encoder and decoder learn from
both terms (Algorithm 1 of the paper). New images of a minority class are decoded from SMOTE points in
code space: a code of the class drawn uniformly, one of its k nearest codes of the same class drawn
uniformly, and a point uniformly on the segment between them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from benchmark.errors import BenchmarkError
from benchmark.methods._papers import DEEPSMOTE_BIB, SMOTE_BIB
from benchmark.methods.base import MethodContext, Recipe, register_method
from benchmark.methods.generative._base import GenerativeOversampler, Generator, GeneratorBudget
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


def penalty_rows(y: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """Indices of up to ``size`` training rows of one class drawn at random (the penalty's batch)."""
    classes = torch.unique(y)
    c = classes[torch.randint(len(classes), (1,), generator=gen, device=y.device)]
    rows = torch.nonzero(y == c).flatten()
    pick = torch.randperm(rows.numel(), generator=gen, device=y.device)[:size]
    return rows[pick]


def permuted_penalty(encoder: nn.Module, decoder: nn.Module, x: torch.Tensor,
                     gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's penalty on images ``x`` of one class: MSE between ``decoder(codes[perm])`` and ``x``
    (the codes of the same images, permuted). Returns (penalty, perm)."""
    codes = encoder(x)
    perm = torch.randperm(x.shape[0], generator=gen, device=x.device)
    return nn.functional.mse_loss(decoder(codes[perm]), x), perm


def latent_smote(codes: torch.Tensor, n_new: int, k: int, gen: torch.Generator) -> torch.Tensor:
    """``n_new`` SMOTE points among ``codes`` (one class, (n, d)): base code uniform, one of its k nearest
    other codes uniform, a point uniformly on the segment. One code alone is repeated."""
    n = codes.shape[0]
    if n == 0 or n_new == 0:
        return codes.new_zeros((n_new, codes.shape[1]))
    base = torch.randint(n, (n_new,), generator=gen, device=codes.device)
    if n == 1:
        return codes[base]
    k = min(int(k), n - 1)
    dist = torch.cdist(codes, codes)
    dist.fill_diagonal_(float("inf"))
    neighbours = torch.topk(dist, k, dim=1, largest=False).indices  # (n, k)
    pick = torch.randint(k, (n_new,), generator=gen, device=codes.device)
    other = neighbours[base, pick]
    r = torch.rand((n_new, 1), generator=gen, device=codes.device)
    return codes[base] + r * (codes[other] - codes[base])


class DeepSMOTEGenerator(Generator):
    """The autoencoder, the training rows' codes, and SMOTE among them (see the module docstring)."""

    name = "deepsmote"

    def __init__(self, k_neighbors: int = 5, latent_dim: int = 300, width: int = 64, lr: float = 2e-4,
                 penalty_weight: float = 1.0):
        if int(k_neighbors) < 1:
            raise BenchmarkError(f"DeepSMOTE with k_neighbors={k_neighbors}", "use at least 1 neighbour")
        self.k, self.latent_dim, self.width = int(k_neighbors), int(latent_dim), int(width)
        self.lr, self.penalty_weight = float(lr), float(penalty_weight)
        self.device = "cpu"

    def settings(self) -> dict[str, Any]:  # k only changes sampling: trials differing in k share the autoencoder
        return {"latent_dim": self.latent_dim, "width": self.width, "lr": self.lr,
                "penalty_weight": self.penalty_weight}

    def _build(self, shape: tuple[int, int, int]) -> None:
        self.shape = shape
        self.encoder = ConvEncoder(shape, self.width, self.latent_dim).to(self.device)
        self.decoder = ConvDecoder(shape, self.width, self.latent_dim).to(self.device)

    def fit(self, X: np.ndarray, y: np.ndarray, *, budget: GeneratorBudget, device: str, seed: int) -> None:
        self.device = device
        torch.manual_seed(seed)
        self._build(check_image_rows(X, "DeepSMOTE"))
        x, labels, gen = to_unit(X, device), torch.as_tensor(y, device=device), seeded(seed, device)
        params = list(self.encoder.parameters()) + list(self.decoder.parameters())
        optimiser = torch.optim.Adam(params, lr=self.lr)
        self.encoder.train(), self.decoder.train()
        for idx in batches(len(y), budget, gen, device):
            batch = x[idx]
            reconstruction = nn.functional.mse_loss(self.decoder(self.encoder(batch)), batch)
            rows = penalty_rows(labels, int(budget.batch_size), gen)
            if rows.numel() > 1:  # batch norm needs two rows; a permutation of one is the identity anyway
                penalty, _ = permuted_penalty(self.encoder, self.decoder, x[rows], gen)
            else:
                penalty = reconstruction.new_zeros(())
            loss = reconstruction + self.penalty_weight * penalty
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        self.encoder.eval(), self.decoder.eval()
        with torch.no_grad():
            self.codes = torch.cat([self.encoder(x[s:s + 1024]) for s in range(0, len(x), 1024)])
        self.labels = labels.clone()

    @torch.no_grad()
    def sample(self, counts: dict[int, int], *, seed: int) -> np.ndarray:
        gen = seeded(seed, self.device)
        out = []
        for c in sorted(counts):
            n = int(counts[c])
            if n == 0:
                continue
            codes = self.codes[self.labels == int(c)]
            if codes.shape[0] == 0:
                raise BenchmarkError(f"DeepSMOTE was asked for class {c}, which had no training image",
                                     "sample only classes present in the training rows")
            z = latent_smote(codes, n, self.k, gen)
            out += [to_uint8(self.decoder(z[s:s + 1024])) for s in range(0, n, 1024)]
        return np.concatenate(out) if out else np.zeros((0, *self.shape), np.uint8)

    def state_dict(self) -> dict[str, Any]:
        encoder, decoder = module_state(self.encoder, self.decoder)
        return {"shape": list(self.shape), "encoder": encoder, "decoder": decoder, "codes": self.codes.cpu(),
                "labels": self.labels.cpu()}

    def load_state_dict(self, state: dict[str, Any], *, device: str = "cpu") -> None:
        self.device = device
        self._build(tuple(state["shape"]))
        self.encoder.load_state_dict(state["encoder"]), self.decoder.load_state_dict(state["decoder"])
        self.encoder.eval(), self.decoder.eval()
        self.codes, self.labels = state["codes"].to(device), state["labels"].to(device)


def ratio_space(trial, ctx: MethodContext) -> dict:
    """The target ratio of every smaller class to the largest, above where the data already is."""
    counts = [c for c in ctx.class_counts if c > 0]
    low = min(1.0, max(0.2, min(counts) / max(counts) + 0.05))
    return {"target_ratio": trial.suggest_float("target_ratio", low, 1.0)}


def deepsmote_space(trial, ctx: MethodContext) -> dict:
    return {**ratio_space(trial, ctx), "k_neighbors": trial.suggest_int("k_neighbors", 1, 10)}


def image_width(ctx: MethodContext) -> int:
    """DCGAN base width: the paper's 64 channels from 2,000 training images on, 32 below (tiny data)."""
    return 64 if ctx.modality == "image" and sum(ctx.class_counts) > 2000 else 32


@register_method(
    "deepsmote",
    family="generative",
    modalities=("image",),
    engines=("deep",),
    summary="DeepSMOTE: an autoencoder trained with reconstruction plus a permuted-code penalty, then SMOTE "
            "between same-class codes decoded into new minority images.",
    paper=DEEPSMOTE_BIB + "\n" + SMOTE_BIB,
    search_space=deepsmote_space,
    differences="Follows the paper's Algorithm 1: the penalty (codes of one random class permuted, decoded, "
                "compared with the images) trains encoder and decoder; the authors' code computes it after "
                "the reconstruction step and lets it update the decoder only. Training length is the suite's "
                "generator budget (the paper trains 200 epochs); the architecture follows the image shape "
                "(64 base channels from 2,000 training images on, 32 below; the 300-dimensional code of the "
                "paper); every class below the tuned target ratio is topped up (the paper balances fully); k "
                "is tuned (the paper uses SMOTE's 5).",
)
def deepsmote(params: dict, ctx: MethodContext) -> Recipe:
    """DeepSMOTE (Dablain et al. 2022) as a generative over-sampler of the training images."""
    k, width = int(params.get("k_neighbors", 5)), image_width(ctx)
    return Recipe(resample=GenerativeOversampler(lambda: DeepSMOTEGenerator(k_neighbors=k, width=width),
                                                 params.get("target_ratio", 1.0),
                                                 caption=f"DeepSMOTE, k={k}"))
