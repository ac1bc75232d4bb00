"""Image augmentation rows (the ``augment`` hook): standard transforms and policies, batched on the device.

Each row applies one transform (:mod:`benchmark.methods.augmentation._image_ops`, one random draw per
image) to each training image of a batch with a tuned probability ``p``, either to every class or to
the minority classes only (the tuned switch ``apply_to``): augmenting only the tail gives the rare classes
more variety without changing how the head classes look.

Label safety: a transform that can change the label (a digit turned upside down: 6 becomes 9) must
not run on that dataset. Each dataset card lists its label-preserving transforms
(``Dataset.label_preserving_transforms``); a row whose transform is not on that list is "not
applicable" to the dataset, with the reason. A dataset that lists nothing (``None``) declares no
restriction. The names this module asks for (:data:`TRANSFORM_NAMES`) are the datasets' vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from benchmark.errors import BenchmarkError
from benchmark.methods._papers import (
    AUGMIX_BIB,
    AUTOAUGMENT_BIB,
    CUTOUT_BIB,
    ERASING_BIB,
    HE_BIB,
    HOWARD_BIB,
    KRIZHEVSKY_BIB,
    RANDAUGMENT_BIB,
    SHORTEN_BIB,
    SIMARD_BIB,
    SIMCLR_BIB,
    SZEGEDY_BIB,
)
from benchmark.methods.augmentation import _image_ops as ops
from benchmark.methods.base import MethodContext, Recipe, register_method

if TYPE_CHECKING:
    from benchmark.datasets.base import Split

# The label-safety vocabulary shared with the dataset cards (benchmark/datasets/vision.py).
TRANSFORM_NAMES = {
    "hflip": "mirror left-right",
    "vflip": "mirror top-bottom",
    "rot90": "rotations by 90, 180 and 270 degrees",
    "affine-small": "rotation up to about 15 degrees, small shifts, scaling and shear",
    "crop": "zero padding and a random crop of the original size",
    "resized-crop": "a random box of 8-100% of the area resized to the full image",
    "colour-jitter": "brightness, contrast, saturation and hue changes",
    "blur": "Gaussian blur",
    "noise": "additive Gaussian noise",
    "erasing": "Cutout / Random Erasing (a box blanked out)",
    "autoaugment": "AutoAugment's learned policies (natural images)",
    "randaugment": "RandAugment's random operations (natural images)",
    "augmix": "AugMix's mixed operation chains (natural images)",
}
APPLY_TO = ("all", "minority")


def label_preserving_transforms(split: Split) -> tuple[str, ...] | None:
    """The transforms that keep the labels of ``split``'s dataset: from the split's info when its
    loader put them there, else from the registered dataset's card; ``None`` when nothing is declared."""
    declared = split.info.get("label_preserving_transforms")
    if declared is not None:
        return tuple(declared)
    from benchmark.datasets.base import dataset_registry

    if split.dataset in dataset_registry:
        return dataset_registry.get(split.dataset).label_preserving_transforms
    return None


def requires_transforms(*names: str) -> Callable[[Split], str | None]:
    """``applies_to``: the dataset must list every transform of ``names`` as label-preserving."""
    unknown = set(names) - set(TRANSFORM_NAMES)
    if unknown:
        raise BenchmarkError(
            f"transform names {sorted(unknown)} are not in the label-safety vocabulary",
            f"use some of {sorted(TRANSFORM_NAMES)}",
        )

    def applies_to(split: Split) -> str | None:
        if split.modality != "image":
            return f"image transforms do not apply to {split.modality} data"
        allowed = label_preserving_transforms(split)
        if allowed is None:
            return None
        missing = [n for n in names if n not in allowed]
        if missing:
            return (
                f"{', '.join(missing)} ({'; '.join(TRANSFORM_NAMES[n] for n in missing)}) may change "
                f"labels of "
                f"{split.dataset}: its card lists {', '.join(allowed) or 'no'} label-preserving transforms"
            )
        return None

    return applies_to


class ImageAugment:
    """The ``augment`` component: each transform of ``transforms`` runs on each image with probability
    ``p``, restricted to the images of ``classes`` (None: every class). Targets pass through unchanged.
    Every draw comes from the trial's generator ``state.generator`` (seeded by the engine), on the
    batch's device.

    ``graph_safe`` when every transform is (all of :mod:`._image_ops` but the policies). On a GPU each
    transform then runs on the whole batch and ``torch.where`` keeps its result for the images drawn
    (``masked``), so a step runs the same kernels and makes the same number of draws whatever the batch
    holds, and reads nothing on the host: it can be captured as a CUDA graph. On the CPU, where
    nothing is captured and a host read costs nothing, only the images drawn are transformed (their
    indices read on the host): the same distribution, at 1.3-2x less work than the whole batch for
    every class and 50-100x less for the minority only (docs/performance.md). ``masked=True`` or
    ``False`` forces one way on any device. Left eager: AutoAugment, RandAugment and AugMix (torchvision's policies draw
    their operations on the host); they always transform only the images drawn, which spares
    minority-only AugMix most of the batch.

    ``label_rule = "keeps"``: the targets pass through. In a chain after a mixing row
    (``mixup+horizontal-flip``, :mod:`._chain`) they arrive soft (B, C); an image then belongs to the
    class with the largest share of its target, for the minority-only switch.
    """

    label_rule = "keeps"

    def __init__(self, transforms: list[Any], p: float, classes: tuple[int, ...] | None, num_classes: int,
                 masked: bool | None = None):
        if not 0 < p <= 1:
            raise BenchmarkError(f"augmentation probability p={p}", "use 0 < p <= 1")
        if classes is not None and not classes:
            raise BenchmarkError(
                "augmentation restricted to an empty set of classes",
                "pass the minority classes, or None for every class",
            )
        self.transforms, self.p = list(transforms), float(p)
        self.classes = classes
        self.graph_safe = all(getattr(t, "graph_safe", False) for t in self.transforms)
        self.masked = masked
        selected = torch.ones(num_classes, dtype=torch.bool)
        if classes is not None:
            selected.zero_()
            selected[list(classes)] = True
        self._selected = selected

    def augment(self, x: torch.Tensor, y: torch.Tensor, state: Any) -> tuple[torch.Tensor, torch.Tensor]:
        ops._check(x)
        if y.dim() not in (1, 2) or y.shape[0] != x.shape[0]:
            raise BenchmarkError(
                f"image augmentation got targets of shape {tuple(y.shape)} for {x.shape[0]} images",
                "pass class indices (B,) or soft labels (B, C)",
            )
        gen = state.generator
        if self._selected.device != x.device:
            self._selected = self._selected.to(x.device)  # once, on the first (eager) call
        chosen = self._selected[y if y.dim() == 1 else y.argmax(dim=1)]
        masked = self.graph_safe and (self.masked if self.masked is not None else x.device.type != "cpu")
        for transform in self.transforms:
            apply = chosen & (torch.rand(x.shape[0], generator=gen, device=x.device) < self.p)
            if masked:
                x = torch.where(apply.view(-1, 1, 1, 1), transform(x, gen), x)
                continue
            idx = apply.nonzero().squeeze(1)  # the host reads which images were drawn
            if idx.numel():
                x = x.index_copy(0, idx, transform(x[idx], gen))
        return x, y


def augmentation_space(own: Callable[[Any, MethodContext], dict] | None = None):
    """Every row tunes where it applies (all classes or minority only) and how often; plus its own knobs."""

    def space(trial, ctx: MethodContext) -> dict:
        params = {
            "apply_to": trial.suggest_categorical("apply_to", list(APPLY_TO)),
            "p": trial.suggest_float("p", 0.25, 1.0),
        }
        if own is not None:
            params.update(own(trial, ctx))
        return params

    return space


def build_augment(transforms: list[Any], params: dict, ctx: MethodContext) -> ImageAugment:
    apply_to = params.get("apply_to", "all")
    if apply_to not in APPLY_TO:
        raise BenchmarkError(f"apply_to={apply_to!r}", f"use one of {APPLY_TO}")
    classes = tuple(ctx.minority_classes) if apply_to == "minority" else None
    return ImageAugment(transforms, params.get("p", 0.5), classes, ctx.num_classes)


def augmentation(
    name: str,
    transform: str,
    make: Callable[[dict], Any],
    summary: str,
    paper: str,
    own_space: Callable[[Any, MethodContext], dict] | None = None,
    differences: str = "",
) -> None:
    """Register a row that applies ``make(params)`` under the shared switches; ``transform`` names it
    in the label-safety vocabulary."""

    def build(params: dict, ctx: MethodContext) -> Recipe:
        return Recipe(augment=build_augment([make(params)], params, ctx))

    build.__doc__ = f"{summary} ({transform})"
    register_method(
        name,
        family="augmentation",
        modalities=("image",),
        engines=("deep",),
        summary=summary,
        paper=paper,
        search_space=augmentation_space(own_space),
        applies_to=requires_transforms(transform),
        differences=differences,
        tags=(f"transform:{transform}",),
    )(build)


BATCHED = "Batched here with one random draw per image (torchvision v2 draws once per batch)."

augmentation(
    "horizontal-flip",
    "hflip",
    lambda p: ops.HorizontalFlip(),
    "Mirror training images left-right.",
    KRIZHEVSKY_BIB,
    differences=BATCHED,
)
augmentation(
    "vertical-flip",
    "vflip",
    lambda p: ops.VerticalFlip(),
    "Mirror training images top-bottom.",
    SHORTEN_BIB,
    differences=BATCHED,
)
augmentation(
    "rotate-90",
    "rot90",
    lambda p: ops.Rotate90(),
    "Rotate training images by 90, 180 or 270 degrees (drawn per image).",
    SHORTEN_BIB,
    differences=BATCHED,
)
augmentation(
    "random-rotation",
    "affine-small",
    lambda p: ops.RandomRotation(p.get("degrees", 15.0)),
    "Rotate training images by a random angle up to a tuned bound (at most 15 degrees: label-safe).",
    SIMARD_BIB,
    lambda t, c: {"degrees": t.suggest_float("degrees", 5.0, 15.0)},
    differences=BATCHED + " Rotation about the centre with zero fill, bilinear.",
)
augmentation(
    "affine",
    "affine-small",
    lambda p: ops.RandomAffine(p.get("degrees", 10.0), p.get("translate", 0.06), p.get("scale", 0.06),
                               p.get("shear", 6.0)),
    "One random affine transform per image: rotation, shift, scaling and shear drawn together within tuned "
    "label-safe bounds.",
    SIMARD_BIB,
    lambda t, c: {
        "degrees": t.suggest_float("degrees", 5.0, 15.0),
        "translate": t.suggest_float("translate", 0.02, 0.1),
        "scale": t.suggest_float("scale", 0.02, 0.1),
        "shear": t.suggest_float("shear", 2.0, 10.0),
    },
    differences=BATCHED + " Simard et al. distort handwriting with affine (and elastic) maps; here one affine "
    "map per image, composed as torchvision's RandomAffine, its four bounds tuned within the 'affine-small' "
    "limits the dataset cards declare label-safe (rotation <= 15 degrees, shift and scaling <= 10%, shear "
    "<= 10 degrees); no elastic distortion.",
)
augmentation(
    "pad-crop",
    "crop",
    lambda p: ops.PadCrop(p.get("pad_fraction", 0.125)),
    "Zero-pad training images and crop them back at a random offset (the CIFAR pad-4 recipe).",
    KRIZHEVSKY_BIB + "\n" + HE_BIB,
    lambda t, c: {"pad_fraction": t.suggest_float("pad_fraction", 0.0625, 0.15)},
    differences=BATCHED + " The padding is a tuned fraction of the image side (4/32 = 0.125 in the paper).",
)
augmentation(
    "random-resized-crop",
    "resized-crop",
    lambda p: ops.RandomResizedCrop((p.get("min_scale", 0.08), 1.0)),
    "Crop a random box (area and aspect ratio drawn per image) and resize it to the full image.",
    SZEGEDY_BIB,
    lambda t, c: {"min_scale": t.suggest_float("min_scale", 0.08, 0.8)},
    differences=BATCHED + " A box that does not fit is shrunk to fit instead of redrawn.",
)
augmentation(
    "colour-jitter",
    "colour-jitter",
    lambda p: ops.ColourJitter(
        p.get("strength", 0.4), p.get("strength", 0.4), p.get("strength", 0.4), p.get("hue", 0.1)
    ),
    "Random brightness, contrast, saturation and hue changes per image.",
    HOWARD_BIB,
    lambda t, c: {"strength": t.suggest_float("strength", 0.1, 0.5), "hue": t.suggest_float("hue", 0.0, 0.1)},
    differences=BATCHED + " Hue rotates YIQ chroma instead of shifting HSV hue; fixed order of the four.",
)
augmentation(
    "gaussian-blur",
    "blur",
    lambda p: ops.GaussianBlur(p.get("kernel", 3), (0.1, p.get("max_sigma", 2.0))),
    "Gaussian blur with a random sigma per image.",
    SIMCLR_BIB,
    lambda t, c: {
        "kernel": t.suggest_categorical("kernel", [3, 5]),
        "max_sigma": t.suggest_float("max_sigma", 0.5, 2.0),
    },
    differences=BATCHED + " Separable kernels in one grouped convolution.",
)
augmentation(
    "gaussian-noise",
    "noise",
    lambda p: ops.GaussianNoise(p.get("sigma", 0.1)),
    "Additive Gaussian pixel noise with a random strength per image.",
    SHORTEN_BIB,
    lambda t, c: {"sigma": t.suggest_float("sigma", 0.02, 0.2)},
    differences=BATCHED,
)
augmentation(
    "cutout",
    "erasing",
    lambda p: ops.Cutout(p.get("size", 0.5)),
    "Cutout: blank a random square of a tuned size in each training image.",
    CUTOUT_BIB,
    lambda t, c: {"size": t.suggest_float("size", 0.2, 0.6)},
    differences=BATCHED + " The square's side is a tuned fraction of the image (16/32 in the paper).",
)
augmentation(
    "random-erasing",
    "erasing",
    lambda p: ops.RandomErasing((0.02, p.get("max_area", 0.33))),
    "Random Erasing: fill a random box of each training image with random values.",
    ERASING_BIB,
    lambda t, c: {"max_area": t.suggest_float("max_area", 0.1, 0.4)},
    differences=BATCHED,
)
augmentation(
    "autoaugment",
    "autoaugment",
    lambda p: ops.autoaugment(p.get("policy", "cifar10")),
    "AutoAugment: one of the learned augmentation policies (CIFAR-10, ImageNet or SVHN).",
    AUTOAUGMENT_BIB,
    lambda t, c: {"policy": t.suggest_categorical("policy", ["cifar10", "imagenet", "svhn"])},
    differences="torchvision v2's AutoAugment on 8 slices of each batch, one policy draw per slice.",
)
augmentation(
    "randaugment",
    "randaugment",
    lambda p: ops.randaugment(p.get("num_ops", 2), p.get("magnitude", 9)),
    "RandAugment: a tuned number of random operations at a tuned shared magnitude.",
    RANDAUGMENT_BIB,
    lambda t, c: {"num_ops": t.suggest_int("num_ops", 1, 3), "magnitude": t.suggest_int("magnitude", 5, 15)},
    differences="torchvision v2's RandAugment on 8 slices of each batch, one draw of operations per slice.",
)
augmentation(
    "augmix",
    "augmix",
    lambda p: ops.augmix(p.get("severity", 3), p.get("mixture_width", 3)),
    "AugMix: chains of random operations mixed together and with the original image.",
    AUGMIX_BIB,
    lambda t, c: {
        "severity": t.suggest_int("severity", 1, 5),
        "mixture_width": t.suggest_int("mixture_width", 2, 4),
    },
    differences="torchvision v2's AugMix on 8 slices of each batch (operations drawn per slice, mixing "
    "weights per image); without the paper's Jensen-Shannon consistency loss.",
)
