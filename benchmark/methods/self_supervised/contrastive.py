"""Contrastive self-supervised pre-training (``ssp-simclr``): SimCLR's views and NT-Xent loss as the SSP stage.

SimCLR (Chen et al. 2020) makes two random views of each image and trains the network so that the
projections of the two views of one image are closer to each other than to the views of every other
image of the batch (the normalised temperature-scaled cross-entropy, NT-Xent). Yang & Xu (2020) report
contrastive pre-training (MoCo) as an SSP variant beside rotation; this row is its SimCLR form.

Equal compute: a batch of B rows gives B inputs, two views of each of its first ceil(B/2) images (an
odd B leaves one view without its partner; it still serves as a negative). Views use the project's
batched on-device image transforms (:mod:`benchmark.methods.augmentation._image_ops`) with one draw
per image: a random resized crop, a horizontal flip, colour jitter and greyscale, SimCLR's CIFAR recipe.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.errors import BenchmarkError
from benchmark.methods._papers import SIMCLR_BIB, YANG_XU_BIB
from benchmark.methods.augmentation import _image_ops as ops
from benchmark.methods.base import MethodContext, Recipe, register_method
from benchmark.methods.self_supervised._pretext import checked_share, suggest_share

NO_PARTNER = -1  # the target of a view whose partner was cut off an odd batch (ignored by the loss)
PROJECTION_DIM = 128  # SimCLR's projection output


def nt_xent(z: torch.Tensor, partner: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent (Chen et al. 2020, eq. 1): for each row i with a partner p(i), the cross-entropy of
    picking p(i) among every other row by cosine similarity / ``temperature``; rows whose partner is
    :data:`NO_PARTNER` contribute no term (they stay negatives of the others). Mean over the terms."""
    if temperature <= 0:
        raise BenchmarkError(f"NT-Xent temperature={temperature}", "use a positive temperature")
    z = F.normalize(z.float(), dim=1)
    sim = z @ z.T / temperature
    self_pair = torch.eye(z.shape[0], dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(self_pair, float("-inf"))  # a row is never its own candidate
    return F.cross_entropy(sim, partner, ignore_index=NO_PARTNER)


def greyscale(x: torch.Tensor) -> torch.Tensor:
    """Luma (ITU-R 601) repeated over the three channels of colour images; grey images stay as they are.
    (Python-number weights: no host-to-device copy, so a captured step can hold it.)"""
    if x.shape[1] != 3:
        return x
    luma = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    return luma.expand_as(x)


class SimCLRViews:
    """SimCLR's augmentation, one draw per image: random resized crop (area 20-100%), horizontal flip
    (p = 0.5), colour jitter of strength 0.5 (p = 0.8) and greyscale (p = 0.2)."""

    def __init__(self, crop_scale: tuple[float, float] = (0.2, 1.0)):
        self.crop = ops.RandomResizedCrop(scale=crop_scale)
        self.jitter = ops.ColourJitter(0.4, 0.4, 0.4, 0.1)

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        b = x.shape[0]

        def chosen(p: float) -> torch.Tensor:
            return (torch.rand(b, generator=gen, device=x.device) < p).view(b, 1, 1, 1)

        x = self.crop(x, gen)
        x = torch.where(chosen(0.5), x.flip(-1), x)
        x = torch.where(chosen(0.8), self.jitter(x, gen), x)
        return torch.where(chosen(0.2), greyscale(x), x)


class ContrastivePretext:
    """The ``pretrain`` component of ``ssp-simclr``: two views per image, a two-layer projection head
    (feature_dim -> feature_dim -> 128, ReLU between), NT-Xent at ``temperature``.

    ``graph_safe`` when the image transforms it uses are (device ops drawing from the generator passed,
    nothing read on the host); its own steps (flip, greyscale, pairing, NT-Xent with ignored rows) are.
    """

    def __init__(self, share: float, temperature: float):
        self.share = checked_share(share)
        if not temperature > 0:
            raise BenchmarkError(f"NT-Xent temperature={temperature}", "use a positive temperature")
        self.temperature = float(temperature)
        self.augment = SimCLRViews()
        self.graph_safe = all(getattr(op, "graph_safe", False) for op in (self.augment.crop, self.augment.jitter))

    def head(self, feature_dim: int, spec) -> nn.Module:
        """SimCLR's projection head g(.): Linear, ReLU, Linear."""
        return nn.Sequential(nn.Linear(feature_dim, feature_dim), nn.ReLU(inplace=True),
                             nn.Linear(feature_dim, PROJECTION_DIM))

    def views(self, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(two views of each of the first ceil(B/2) images, cut to B rows; each row's partner row)."""
        b = x.shape[0]
        n = -(-b // 2)
        both = self.augment(torch.cat([x[:n], x[:n]]), generator)[:b]
        partner = (torch.arange(2 * n, device=x.device) + n) % (2 * n)
        partner = partner[:b]
        return both, torch.where(partner < b, partner, torch.full_like(partner, NO_PARTNER))

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return nt_xent(outputs, targets, self.temperature)


@register_method(
    "ssp-simclr",
    family="self-supervised",
    modalities=("image",),
    engines=("deep",),
    summary="Self-supervised pre-training with SimCLR: the backbone first learns, without labels, to match two "
            "random views (crop, flip, colour) of each training image against the other images' views, then "
            "trains as usual from those weights. Images only: the views are image transforms.",
    paper=SIMCLR_BIB + "\n" + YANG_XU_BIB,
    search_space=lambda trial, ctx: {"share": suggest_share(trial),
                                     "temperature": trial.suggest_float("temperature", 0.05, 1.0, log=True)},
    differences="SimCLR trains for hundreds of epochs at batch 256-4096 with LARS; here the pretext stage takes a "
                "tuned 20-50% of the suite's epochs with the suite's batch size and optimiser, and a batch of B "
                "rows is B forward passes: two views of each of its first B/2 images (SimCLR: 2B passes). Views "
                "are batched on the device with one draw per image: crop area 20-100% (SimCLR's CIFAR "
                "recipe uses 8-100%), no Gaussian blur (SimCLR drops it on CIFAR). Yang & Xu's contrastive SSP "
                "is MoCo; this row uses SimCLR's in-batch negatives instead of a queue. The projection head is "
                "dropped after the stage; the supervised head starts from its initialisation.",
)
def ssp_simclr(params: dict, ctx: MethodContext) -> Recipe:
    """SSP with SimCLR's contrastive task (Chen et al. 2020; Yang & Xu 2020)."""
    return Recipe(pretrain=ContrastivePretext(params.get("share", 0.3), params.get("temperature", 0.2)))
