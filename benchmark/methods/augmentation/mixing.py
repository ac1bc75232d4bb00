"""The mixup family (the ``augment`` hook, soft labels through the loss): MixUp, CutMix, CutMix/MixUp
alternated, FMix, Remix and Remix with deferred re-weighting.

Each batch is paired with a random permutation of itself; the mixing factor lambda ~ Beta(alpha,
alpha) is drawn once per batch, as in the papers' code. Every draw (the permutation, lambda, the
coins, CutMix's box, FMix's spectrum) is made on the batch's device from the trial's generator
(``state.generator``, seeded by the engine with the trial's seed), so the rows are reproducible and
replay as CUDA graphs with fresh draws at every step. The targets become soft labels (B, C) that sum
to one; every loss of the project accepts them.

How often a batch is mixed follows each paper's code: CutMix mixes a batch with probability 0.5 (the
authors' CIFAR recipe, ``--cutmix_prob 0.5``; their ImageNet recipe uses 1.0), MixUp, FMix and Remix
mix every batch (their authors' code draws no such coin), and CutMix/MixUp alternated mixes every
batch with one of the two (timm's ``mix_prob=1``, ``switch_prob=0.5``). An unmixed batch keeps its
images and gets one-hot targets.
"""

from __future__ import annotations

from typing import Any

import torch

from benchmark.errors import BenchmarkError
from benchmark.methods._papers import CUTMIX_BIB, FMIX_BIB, LDAM_BIB, MIXUP_BIB, REMIX_BIB
from benchmark.methods.augmentation import _mixing_ops as mc
from benchmark.methods.base import MethodContext, Recipe, register_method
from benchmark.methods.losses.deferred_reweighting import (
    DeferredReweightedCrossEntropy,
    drw_schedule,
    drw_space,
)

MODES = ("mixup", "cutmix", "switch", "fmix")


class MixingAugment:
    """The ``augment`` component of the mixup family.

    Args:
        num_classes: width of the soft targets.
        mode: "mixup" (convex combination), "cutmix" (pasted box), "fmix" (Fourier mask) or "switch"
            (CutMix or MixUp, chosen per batch with probability ``switch_prob`` for CutMix).
        alpha: lambda ~ Beta(alpha, alpha).
        remix: ``(kappa, tau)`` switches on Remix's label factor; None keeps lambda.
        decay_power: FMix's spectrum decay.
        apply_prob: the probability that a batch is mixed at all (CutMix's ``cutmix_prob``).

    ``graph_safe``: every draw is on the device from ``state.generator`` and every choice is a tensor.
    The per-batch coins (mixed or not; CutMix or MixUp) are folded into the mixing instead of a
    Python branch: an unmixed batch is blended with weight 1 and pastes nothing (its own images,
    one-hot targets), the switch's MixUp pastes nothing and its CutMix blends with weight 1. So each
    step draws the same numbers in the same order (the partners, the coin, lambda, the box or the
    spectrum, the switch's coin) and runs the same kernels whichever way the coins fall, and no
    full-batch ``torch.where`` is spent on a coin. ``last_lambda`` holds the last batch's share of x_i
    as a 0-dim device tensor.

    ``label_rule`` (:mod:`._chain`): "mixes" (soft targets from an earlier mixing are mixed again, so
    ``mixup+cutmix`` keeps exact label shares); Remix "mixes-by-class" (its rule reads hard classes).
    """

    graph_safe = True

    def __init__(
        self,
        num_classes: int,
        mode: str = "mixup",
        alpha: float = 1.0,
        remix: tuple[float, float] | None = None,
        decay_power: float = 3.0,
        switch_prob: float = 0.5,
        apply_prob: float = 1.0,
    ):
        if mode not in MODES:
            raise BenchmarkError(f"mixing mode {mode!r} is unknown", f"use one of {MODES}")
        if alpha <= 0:
            raise BenchmarkError(f"mixing got alpha={alpha}", "use alpha > 0 (lambda ~ Beta(alpha, alpha))")
        if not 0.0 < apply_prob <= 1.0:
            raise BenchmarkError(f"mixing got apply_prob={apply_prob}", "use a probability in (0, 1]")
        if remix is not None and (remix[0] < 1 or not 0 < remix[1] < 1):
            raise BenchmarkError(
                f"Remix got kappa={remix[0]}, tau={remix[1]}", "use kappa >= 1 and 0 < tau < 1"
            )
        self.num_classes, self.mode, self.alpha, self.remix = num_classes, mode, float(alpha), remix
        self.decay_power, self.switch_prob, self.apply_prob = float(decay_power), float(switch_prob), float(apply_prob)
        self.last_lambda: torch.Tensor | None = None  # the last batch's share of x_i (tests, diagnostics)
        self.label_rule = "mixes" if remix is None else "mixes-by-class"

    def augment(self, x: torch.Tensor, y: torch.Tensor, state: Any) -> tuple[torch.Tensor, torch.Tensor]:
        mc.check_mixable(x)
        if self.mode != "mixup":
            mc.check_images(x, "FMix" if self.mode == "fmix" else "CutMix")
        gen, dev = state.generator, x.device
        partner = torch.randperm(x.shape[0], generator=gen, device=dev)
        mixed = mc.coin(self.apply_prob, gen, dev) if self.apply_prob < 1.0 else None
        lam = mc.beta_lambda(self.alpha, gen, dev)
        # weight: x_i's share of each pixel (0-dim, or (H, W) for FMix); pasted: (H, W) pixels of the partner
        weight, pasted, share = None, None, lam
        if self.mode == "mixup":
            weight = lam
        elif self.mode == "fmix":
            weight = mc.fourier_mask(lam, x.shape[-2], x.shape[-1], self.decay_power, gen, dev)
            share = weight.mean()
        else:
            pasted, share = mc.cutmix_mask(lam, x.shape[-2], x.shape[-1], gen, dev)
            if self.mode == "switch":  # MixUp is the blend with lambda; CutMix, the paste under a blend of 1
                use_cutmix = mc.coin(self.switch_prob, gen, dev)
                pasted = pasted & use_cutmix
                weight = torch.where(use_cutmix, torch.ones_like(lam), lam)
                share = torch.where(use_cutmix, share, lam)
        if mixed is not None:  # an unmixed batch: a blend of 1 and no paste leave its images as they are
            weight = None if weight is None else torch.where(mixed, weight, torch.ones_like(weight))
            pasted = None if pasted is None else pasted & mixed
            share = torch.where(mixed, share, torch.ones_like(share))
        share = share.float()
        self.last_lambda = share
        out, other = x, x.index_select(0, partner)  # index_select: 3x faster than x[partner] on the CPU
        if weight is not None:
            w = weight.to(x.dtype)
            out = w * x + (1 - w) * other
        if pasted is not None:
            out = torch.where(pasted, other, out)
        if self.remix is not None and y.dim() == 1:
            counts = state.class_counts.to(dev)
            factor = mc.remix_label_factor(share, counts[y], counts[y[partner]], *self.remix)
        else:
            factor = share.expand(x.shape[0])
        return out, mc.mix_targets(y, partner, factor, self.num_classes)


# -- search spaces --------------------------------------------------------------------------------------
def alpha_space(trial, ctx: MethodContext) -> dict:
    """alpha in [0.1, 2]: the papers use 0.2-0.4 (ImageNet MixUp) and 1 (CIFAR, CutMix, Remix)."""
    return {"alpha": trial.suggest_float("alpha", 0.1, 2.0, log=True)}


def remix_space(trial, ctx: MethodContext) -> dict:
    """Remix's kappa (paper: 3) and tau (paper: 0.5), and the mixing it rebalances."""
    return {
        **alpha_space(trial, ctx),
        "kappa": trial.suggest_float("kappa", 1.5, 5.0),
        "tau": trial.suggest_float("tau", 0.3, 0.7),
        "mix": trial.suggest_categorical("mix", ["mixup", "cutmix"]),
    }


def fmix_space(trial, ctx: MethodContext) -> dict:
    return {**alpha_space(trial, ctx), "decay_power": trial.suggest_float("decay_power", 1.0, 5.0)}


CUTMIX_PROB = 0.5  # the CutMix authors' CIFAR recipe (--cutmix_prob 0.5); fixed, not tuned


def _mixer(params: dict, ctx: MethodContext, mode: str, remix: bool = False, apply_prob: float = 1.0) -> MixingAugment:
    rule = (params.get("kappa", 3.0), params.get("tau", 0.5)) if remix else None
    return MixingAugment(
        ctx.num_classes, mode, params.get("alpha", 1.0), rule, params.get("decay_power", 3.0), apply_prob=apply_prob
    )


# -- the rows --------------------------------------------------------------------------------------------
@register_method(
    "mixup",
    family="mixing",
    modalities=("image",),
    engines=("deep",),
    summary="MixUp: train on convex combinations of pairs of images and of their one-hot labels.",
    paper=MIXUP_BIB,
    search_space=alpha_space,
    differences="One lambda per batch, partners by a random permutation of the batch, every batch mixed (as "
    "the authors' code); alpha is tuned from 0.1 to 2 (the paper: 1 on CIFAR); feature-vector mixing is the "
    "embedding-mixup row.",
)
def mixup(params: dict, ctx: MethodContext) -> Recipe:
    """MixUp (Zhang et al. 2018): lambda ~ Beta(alpha, alpha), x = lambda x_i + (1 - lambda) x_j."""
    return Recipe(augment=_mixer(params, ctx, "mixup"))


@register_method(
    "cutmix",
    family="mixing",
    modalities=("image",),
    engines=("deep",),
    summary="CutMix: paste a random box of another image into half of the batches; labels mixed by the "
    "pasted area.",
    paper=CUTMIX_BIB,
    search_space=alpha_space,
    differences="One box per batch (as the authors' code); label weights use the box area after "
    "clipping to the image. A batch is mixed with probability 0.5, fixed: the authors' CIFAR recipe "
    "(their ImageNet recipe mixes every batch); alpha is tuned (the paper: 1).",
)
def cutmix(params: dict, ctx: MethodContext) -> Recipe:
    """CutMix (Yun et al. 2019): box sides sqrt(1 - lambda) of the image; label weight = 1 - pasted area;
    applied to a batch with probability 0.5, as the authors' CIFAR recipe."""
    return Recipe(augment=_mixer(params, ctx, "cutmix", apply_prob=CUTMIX_PROB))


@register_method(
    "cutmix-mixup",
    family="mixing",
    modalities=("image",),
    engines=("deep",),
    summary="CutMix or MixUp, chosen at random for each batch (half and half).",
    paper=CUTMIX_BIB + "\n" + MIXUP_BIB,
    search_space=alpha_space,
    differences="The switch of common training recipes (timm's switch_prob=0.5, mix_prob=1: every batch is "
    "mixed by one of the two); one alpha for both.",
)
def cutmix_mixup(params: dict, ctx: MethodContext) -> Recipe:
    """CutMix and MixUp alternated per batch with probability 0.5."""
    return Recipe(augment=_mixer(params, ctx, "switch"))


@register_method(
    "fmix",
    family="mixing",
    modalities=("image",),
    engines=("deep",),
    summary="FMix: mix images through a binary mask thresholded from low-frequency Fourier noise.",
    paper=FMIX_BIB,
    search_space=fmix_space,
    differences="One mask per batch and every batch mixed, as the authors' code; the mask's exact share of x_i "
    "weighs the labels (the authors' code: the drawn lambda) and round(lambda H W) pixels are kept (theirs: the "
    "ceiling or the floor at a coin's toss); alpha and the decay power are tuned (the paper: 1 and 3). The "
    "spectrum is drawn as the paper describes, a complex Gaussian over every frequency: the authors' fmix.py "
    "builds it as spectrum[:, 0] + 1j * spectrum[:, 1], two rows of the frequency grid, so its masks hold only "
    "the lowest 2 frequencies along one image axis (tests/reference checks the row against their masks given "
    "that spectrum).",
)
def fmix(params: dict, ctx: MethodContext) -> Recipe:
    """FMix (Harris et al. 2020): lambda of the pixels (the highest of a 1/f^d noise image) from x_i."""
    return Recipe(augment=_mixer(params, ctx, "fmix"))


@register_method(
    "remix",
    family="mixing",
    modalities=("image",),
    engines=("deep",),
    summary="Remix: mixup whose label goes wholly to the minority sample when the pair's class-count "
    "ratio is at least kappa and the minority share of the pixels is at least 1 - tau.",
    paper=REMIX_BIB,
    search_space=remix_space,
    differences="The authors published no code (none is listed for the paper): this row follows the paper's "
    "equation for the label factor, and its reference test uses figures worked out by hand from it. Counts are "
    "those of the training split; the rebalanced labels apply to MixUp or "
    "CutMix (tuned), as the paper applies them to both; every batch is mixed, CutMix included (the "
    "Remix paper mixes every batch; plain CutMix's 0.5 is not carried over).",
)
def remix(params: dict, ctx: MethodContext) -> Recipe:
    """Remix (Chou et al. 2020) with kappa and tau tuned around the paper's 3 and 0.5."""
    return Recipe(augment=_mixer(params, ctx, params.get("mix", "mixup"), remix=True))


@register_method(
    "remix-drw",
    family="mixing",
    modalities=("image",),
    engines=("deep",),
    summary="Remix with deferred re-weighting: class-balanced loss weights from a tuned epoch on.",
    paper=REMIX_BIB + "\n" + LDAM_BIB,
    search_space=lambda t, c: {**remix_space(t, c), **drw_space(t, c)},
    differences="DRW as in the project's drw row (effective-number weights, Cui et al. 2019) applied "
    "to the soft-label cross-entropy of the Remix targets.",
)
def remix_drw(params: dict, ctx: MethodContext) -> Recipe:
    """Remix (Chou et al. 2020) with the DRW schedule of Cao et al. (2019), as Remix-DRW in the paper."""
    return Recipe(
        augment=_mixer(params, ctx, params.get("mix", "mixup"), remix=True),
        loss=DeferredReweightedCrossEntropy(drw_schedule(params, ctx)),
    )
