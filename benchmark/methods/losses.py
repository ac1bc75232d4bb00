"""Re-weighting losses (the ``loss`` hook), with ``class_weight`` for the classical engine.

Every loss takes ``(logits, target, epoch)``; ``target`` is class indices (B,) or soft labels (B, C)
from mixing augmentations, and every loss here accepts both.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.methods.base import MethodContext, Recipe, register_method

ALL_MODALITIES = ("image", "text", "tabular")


def as_soft(target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Class indices -> one-hot rows; soft labels pass through."""
    if target.dtype in (torch.long, torch.int64, torch.int32):
        return F.one_hot(target, num_classes).float()
    return target.float()


def inverse_frequency_weights(class_counts: Sequence[int]) -> np.ndarray:
    """w_c = N / (C * n_c): the weights scikit-learn calls ``class_weight="balanced"`` (mean 1 over samples)."""
    counts = np.maximum(np.asarray(class_counts, dtype=np.float64), 1.0)
    return counts.sum() / (len(counts) * counts)


class WeightedCrossEntropy:
    """Cross-entropy with per-class weights w: -sum_c t_c w_c log p_c, averaged over the batch
    (normalised by the summed weights of the targets, as ``torch.nn.CrossEntropyLoss`` does)."""

    def __init__(self, weights: Sequence[float]):
        self.weights = torch.as_tensor(np.asarray(weights), dtype=torch.float32)

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, epoch: int) -> torch.Tensor:
        w = self.weights.to(logits.device)
        soft = as_soft(target, logits.shape[1])
        per_sample = -(soft * w * F.log_softmax(logits, dim=1)).sum(dim=1)
        return per_sample.sum() / (soft * w).sum().clamp_min(1e-12)


class FocalLoss:
    """Focal loss (Lin et al. 2017) on softmax probabilities: -alpha_t (1 - p_t)^gamma log p_t.

    Binary tasks weight the positive class by ``alpha`` and the negative by ``1 - alpha``, as the
    paper does; multi-class tasks use no alpha (the paper defines alpha for the binary case).
    Soft targets: -sum_c t_c alpha_c (1 - p_c)^gamma log p_c. Mean over the batch.
    """

    def __init__(self, gamma: float = 2.0, alpha: float | None = None, num_classes: int = 2):
        self.gamma = gamma
        self.alpha = None
        if alpha is not None and num_classes == 2:
            self.alpha = torch.tensor([1.0 - alpha, alpha])

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, epoch: int) -> torch.Tensor:
        log_p = F.log_softmax(logits.float(), dim=1)
        soft = as_soft(target, logits.shape[1])
        modulating = (1.0 - log_p.exp()).clamp_min(0.0).pow(self.gamma)
        per_class = -soft * modulating * log_p
        if self.alpha is not None:
            per_class = per_class * self.alpha.to(logits.device)
        return per_class.sum(dim=1).mean()


CLASS_WEIGHT_BIB = """@article{king2001logistic,
  title={Logistic Regression in Rare Events Data},
  author={King, Gary and Zeng, Langche},
  journal={Political Analysis}, volume={9}, number={2}, pages={137--163}, year={2001}}"""

FOCAL_BIB = """@inproceedings{lin2017focal,
  title={Focal Loss for Dense Object Detection},
  author={Lin, Tsung-Yi and Goyal, Priya and Girshick, Ross and He, Kaiming and Doll{\\'a}r, Piotr},
  booktitle={Proceedings of the IEEE International Conference on Computer Vision (ICCV)},
  pages={2980--2988}, year={2017}}"""


@register_method(
    "class-weighted-ce",
    family="loss",
    modalities=ALL_MODALITIES,
    engines=("deep", "classical"),
    summary="Cross-entropy weighted by inverse class frequency (class_weight='balanced' for classical models).",
    paper=CLASS_WEIGHT_BIB,
)
def class_weighted_ce(params: dict, ctx: MethodContext) -> Recipe:
    """Inverse-frequency class weights: w_c = N / (C n_c)."""
    weights = inverse_frequency_weights(ctx.class_counts)
    if ctx.engine == "classical":
        return Recipe(class_weight=weights)
    return Recipe(loss=WeightedCrossEntropy(weights))


def focal_space(trial, ctx: MethodContext) -> dict:
    params = {"gamma": trial.suggest_float("gamma", 0.5, 5.0)}
    if ctx.num_classes == 2:
        params["alpha"] = trial.suggest_float("alpha", 0.1, 0.9)
    return params


@register_method(
    "focal-loss",
    family="loss",
    modalities=ALL_MODALITIES,
    engines=("deep",),
    summary="Down-weights well-classified samples by (1 - p_t)^gamma so training focuses on hard ones.",
    paper=FOCAL_BIB,
    search_space=focal_space,
    differences="Softmax form for all tasks (the paper uses per-class sigmoids); alpha only for binary tasks.",
)
def focal_loss(params: dict, ctx: MethodContext) -> Recipe:
    """Focal loss with tuned gamma (default 2) and, for binary tasks, alpha (default 0.25)."""
    return Recipe(loss=FocalLoss(params.get("gamma", 2.0), params.get("alpha", 0.25), ctx.num_classes))
