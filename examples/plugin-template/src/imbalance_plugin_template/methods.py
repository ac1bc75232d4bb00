"""A loss method: class-weighted focal loss. Registered on import (entry point group benchmark.methods)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.methods import ALL_MODALITIES, MethodContext, Recipe, register_method

PAPER = """@inproceedings{lin2017focal,
  title={Focal Loss for Dense Object Detection},
  author={Lin, Tsung-Yi and Goyal, Priya and Girshick, Ross and He, Kaiming and Doll{\\'a}r, Piotr},
  booktitle={Proceedings of the IEEE International Conference on Computer Vision (ICCV)}, year={2017}}"""


class ClassWeightedFocalLoss:
    """-sum_c t_c w_c (1 - p_c)^gamma log p_c, averaged over the batch; w_c = inverse class frequency.
    Soft targets (from mixing augmentations) arrive as (B, C) tensors."""

    graph_safe = True  # device tensor work only: the deep engine may replay its steps as CUDA graphs

    def __init__(self, gamma: float, class_counts: list[int]):
        counts = np.maximum(np.asarray(class_counts, dtype=np.float64), 1.0)
        self.weights = torch.tensor(counts.sum() / (len(counts) * counts), dtype=torch.float32)
        self.gamma = gamma

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, epoch: int) -> torch.Tensor:
        soft = F.one_hot(target, logits.shape[1]).float() if target.dim() == 1 else target.float()
        log_p = F.log_softmax(logits.float(), dim=1)
        if self.weights.device != logits.device:
            self.weights = self.weights.to(logits.device)
        per_class = -soft * self.weights * (1 - log_p.exp()).pow(self.gamma) * log_p
        return per_class.sum(dim=1).mean()


@register_method(
    "weighted-focal-loss", family="loss", modalities=ALL_MODALITIES, engines=("deep",),
    summary="Focal loss with inverse-frequency class weights.", paper=PAPER,
    search_space=lambda trial, ctx: {"gamma": trial.suggest_float("gamma", 0.5, 5.0)},
    neutral_params={"gamma": 0.0},  # cross-entropy when the classes are balanced: the shipped checks use it
    differences="Softmax form for all tasks (the paper uses per-class sigmoids).",
)
def weighted_focal_loss(params: dict, ctx: MethodContext) -> Recipe:
    """Class-weighted focal loss (Lin et al. 2017) with tuned gamma."""
    return Recipe(loss=ClassWeightedFocalLoss(params["gamma"], ctx.class_counts))
