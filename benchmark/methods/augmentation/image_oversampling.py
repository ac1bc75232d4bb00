"""Offline over-sampling by augmentation (the ``resample`` hook on raw uint8 training images).

Before training, every class below a tuned share of the largest class gets new images: copies of its
own training images (drawn uniformly with replacement), each changed by a random, non-empty subset of
label-safe transforms, until the class holds ``target_ratio`` times the largest class's count. Unlike
random over-sampling, no added image is an exact duplicate; unlike online augmentation, the added
images are fixed for the whole run and the class counts the other hooks see are the balanced ones.
Only the training split reaches this hook; the transforms run batched with torch on the CPU, seeded.
"""

from __future__ import annotations

import numpy as np
import torch

from benchmark.errors import BenchmarkError
from benchmark.methods._oversampling import check_ratio, top_up_targets
from benchmark.methods._papers import SHORTEN_BIB
from benchmark.methods.augmentation import _image_ops as ops
from benchmark.methods.augmentation.image import requires_transforms
from benchmark.methods.base import MethodContext, Recipe, register_method

# Transform sets every vision dataset card of this project lists as label-preserving.
TRANSFORM_SETS = {
    "geometric": ("crop", "affine-small"),
    "photometric": ("noise", "blur", "erasing"),
    "both": ("crop", "affine-small", "noise", "blur", "erasing"),
}


def make_transforms(names: tuple[str, ...]) -> list:
    table = {
        "crop": lambda: ops.PadCrop(0.125),
        "affine-small": lambda: ops.RandomRotation(15.0),
        "noise": lambda: ops.GaussianNoise(0.1),
        "blur": lambda: ops.GaussianBlur(3, (0.1, 1.5)),
        "erasing": lambda: ops.RandomErasing((0.02, 0.2)),
    }
    return [table[n]() for n in names]


class AugmentationOversampler:
    """Adds transformed copies of images of every class below ``target_ratio`` x the largest class.

    Args:
        target_ratio: each class ends with at least ``ceil(target_ratio * n_max)`` images (classes
            already above keep their count).
        transforms: names of :data:`TRANSFORM_SETS`' transforms; each new image gets a random non-empty
            subset of them, applied in order.
        chunk: images transformed per batch (bounds memory).
    """

    space = "input"

    def __init__(self, target_ratio: float, transforms: tuple[str, ...], chunk: int = 4096):
        check_ratio(target_ratio, "augmentation over-sampling")
        if not transforms:
            raise BenchmarkError(
                "augmentation over-sampling got no transforms", f"use one of {sorted(TRANSFORM_SETS)}"
            )
        self.target_ratio, self.names, self.chunk = float(target_ratio), tuple(transforms), int(chunk)

    def resample(self, X: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        X, y = np.asarray(X), np.asarray(y, dtype=np.int64)
        if X.ndim != 4 or X.dtype != np.uint8:
            raise BenchmarkError(
                f"augmentation over-sampling got {X.dtype} rows of shape {X.shape}",
                "it runs on raw uint8 images (N, C, H, W): give it space 'input' on image data",
            )
        wanted = top_up_targets(np.bincount(y), self.target_ratio, who="augmentation over-sampling")
        rng = np.random.default_rng(seed)
        sources = np.concatenate(
            [rng.choice(np.flatnonzero(y == c), size=n, replace=True) for c, n in wanted.items()]
            or [np.zeros(0, np.int64)]
        )
        self.added = int(sources.size)
        if sources.size == 0:
            return X, y
        gen = torch.Generator().manual_seed(seed)
        transforms = make_transforms(self.names)
        new = [
            self._transform(X[sources[i : i + self.chunk]], transforms, gen)
            for i in range(0, sources.size, self.chunk)
        ]
        return np.concatenate([X, *new]), np.concatenate([y, y[sources]])

    @staticmethod
    def _transform(images: np.ndarray, transforms: list, gen: torch.Generator) -> np.ndarray:
        x = torch.from_numpy(images).float().div_(255)
        b = x.shape[0]
        chosen = torch.rand(b, len(transforms), generator=gen) < 0.5
        # an image that drew no transform gets one at random: no added image is a plain duplicate
        forced = torch.randint(0, len(transforms), (b,), generator=gen)
        none = ~chosen.any(dim=1)
        chosen[none, forced[none]] = True
        for j, transform in enumerate(transforms):
            x = torch.where(chosen[:, j].view(-1, 1, 1, 1), transform(x, gen), x)
        return x.mul_(255).round_().clamp_(0, 255).to(torch.uint8).numpy()


def oversampling_space(trial, ctx: MethodContext) -> dict:
    counts = [c for c in ctx.class_counts if c > 0]
    low = min(1.0, max(0.2, min(counts) / max(counts) + 0.05))
    return {
        "target_ratio": trial.suggest_float("target_ratio", low, 1.0),
        "transforms": trial.suggest_categorical("transforms", sorted(TRANSFORM_SETS)),
    }


@register_method(
    "augmentation-oversampling",
    family="over-sampling",
    modalities=("image",),
    engines=("deep",),
    summary="Over-sample classes below a tuned share of the largest class with randomly transformed copies "
    "of their own images (offline, before training).",
    paper=SHORTEN_BIB,
    search_space=oversampling_space,
    applies_to=requires_transforms(*TRANSFORM_SETS["both"]),
    differences="Transforms: pad-and-crop (1/8 of the side), rotation up to 15 degrees, Gaussian noise, blur "
    "and "
    "random erasing; each added image gets a random non-empty subset of the tuned set.",
)
def augmentation_oversampling(params: dict, ctx: MethodContext) -> Recipe:
    """Offline over-sampling by augmentation of every class below the target ratio."""
    names = TRANSFORM_SETS[params.get("transforms", "both")]
    return Recipe(resample=AugmentationOversampler(params.get("target_ratio", 1.0), names))
