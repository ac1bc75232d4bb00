"""FixMatch's weak and strong views of an image batch, batched on the device with one draw per image.

Weak (Sohn et al. 2020, section 2.3): a horizontal flip with probability 0.5 and a random translation of
up to 12.5% of the side (zero padding and a random crop, the CIFAR recipe), per image.

Strong: RandAugment as FixMatch uses it ("RA" of the paper's Table 12): for every image two operations
drawn at random from the list below, each at a magnitude drawn per image (FixMatch draws magnitudes at
random instead of RandAugment's one global magnitude), followed by Cutout of half the side. The
geometric and photometric operations reuse the project's batched transforms
(:mod:`benchmark.methods.augmentation._image_ops`); auto-contrast, equalise, posterise, solarise and
shear, which it lacks, are written here as tensor operations. Every draw comes from the generator
passed in (the trial's device generator), so a seeded run repeats its views.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from benchmark.methods.augmentation import _image_ops as ops

Op = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def _per_image(v: torch.Tensor) -> torch.Tensor:
    return v.view(-1, 1, 1, 1)


def random_flip(x: torch.Tensor, gen: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Mirror left-right each image with probability ``p`` (one draw per image)."""
    flip = torch.rand(x.shape[0], generator=gen, device=x.device) < p
    return torch.where(_per_image(flip), x.flip(-1), x)


_WEAK_SHIFT = ops.PadCrop(0.125)


def weak_view(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """FixMatch's weak augmentation: flip-and-shift (p = 0.5 flip, shift up to 12.5% of the side)."""
    return _WEAK_SHIFT(random_flip(x, gen), gen)


# -- the operations of the strong view that _image_ops has no batched form of ----------------------------
def identity(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return x


def autocontrast(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Stretch each channel of each image to the full [0, 1] range (a flat channel is left as it is)."""
    low = x.amin(dim=(-2, -1), keepdim=True)
    high = x.amax(dim=(-2, -1), keepdim=True)
    span = high - low
    return torch.where(span > 1e-6, (x - low) / span.clamp_min(1e-6), x)


def equalise(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Histogram equalisation per channel: each pixel becomes the share of the channel's pixels below
    it (ties share their mean rank), which flattens the channel's histogram."""
    b, c, h, w = x.shape
    flat = (x * 255).round().reshape(b * c, h * w)
    # rank of each value = number of pixels strictly below it + half of its ties (a rank-based CDF)
    sorted_flat, _ = flat.sort(dim=1)
    below = torch.searchsorted(sorted_flat, flat, side="left")
    upto = torch.searchsorted(sorted_flat, flat, side="right")
    cdf = (below + upto).float() / (2 * h * w)
    return cdf.reshape(b, c, h, w).clamp(0, 1).to(x.dtype)


def posterise(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Keep 4 to 8 bits per channel value (drawn per image)."""
    bits = torch.randint(4, 9, (x.shape[0],), generator=gen, device=x.device)
    step = _per_image(2.0 ** (8 - bits).float())
    return (torch.floor(x * 255 / step) * step / 255).clamp(0, 1)


def solarise(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Invert every value above a threshold drawn per image from U[0, 1]."""
    threshold = _per_image(torch.rand(x.shape[0], generator=gen, device=x.device))
    return torch.where(x >= threshold, 1.0 - x, x)


def shear(x: torch.Tensor, gen: torch.Generator, limit: float = 0.3) -> torch.Tensor:
    """Shear along x or y (drawn per image) by a factor from U[-limit, limit], about the centre."""
    b = x.shape[0]
    factor = ops.uniform(b, -limit, limit, gen, x.device)
    along_x = torch.rand(b, generator=gen, device=x.device) < 0.5
    theta = torch.zeros(b, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, 0, 1] = torch.where(along_x, factor, torch.zeros_like(factor))
    theta[:, 1, 0] = torch.where(along_x, torch.zeros_like(factor), factor)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False).clamp(0, 1)


# FixMatch's RA list (its Table 12) with the project's batched forms: brightness, colour (saturation) and
# contrast factors in [0.05, 1.95] around the identity (the paper: PIL enhancement factors in [0.05, 0.95]
# of the way to the degenerate image), rotation up to 30 degrees, translation up to 30% of the side,
# sharpness as a light blur (PIL's factors below one blur).
STRONG_OPS: tuple[tuple[str, Op], ...] = (
    ("identity", identity),
    ("autocontrast", autocontrast),
    ("brightness", ops.ColourJitter(brightness=0.95, contrast=0.0, saturation=0.0, hue=0.0)),
    ("colour", ops.ColourJitter(brightness=0.0, contrast=0.0, saturation=0.95, hue=0.0)),
    ("contrast", ops.ColourJitter(brightness=0.0, contrast=0.95, saturation=0.0, hue=0.0)),
    ("equalise", equalise),
    ("posterise", posterise),
    ("rotate", ops.RandomRotation(30.0)),
    ("sharpness", ops.GaussianBlur(3, (0.1, 1.0))),
    ("shear", shear),
    ("solarise", solarise),
    ("translate", ops.PadCrop(0.3)),
)
STRONG_OPS_PER_IMAGE = 2
_CUTOUT = ops.Cutout(0.5)


def random_ops(x: torch.Tensor, gen: torch.Generator, n_ops: int = STRONG_OPS_PER_IMAGE) -> torch.Tensor:
    """``n_ops`` rounds; in each, every image gets one operation of :data:`STRONG_OPS` drawn for it."""
    for _ in range(n_ops):
        which = torch.randint(len(STRONG_OPS), (x.shape[0],), generator=gen, device=x.device)
        out = x.clone()
        for k, (_, op) in enumerate(STRONG_OPS):
            chosen = which == k
            if bool(chosen.any()):  # eager component (not graph-safe): the host sync is allowed
                out[chosen] = op(x[chosen], gen)
        x = out
    return x


def strong_view(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """FixMatch's strong augmentation: flip-and-shift, two random operations per image, then Cutout."""
    return _CUTOUT(random_ops(weak_view(x, gen), gen), gen)
