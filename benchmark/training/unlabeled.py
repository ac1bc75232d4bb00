"""The deep engine's unlabeled pool: on the device for components that ask, and pseudo-labelled stages.

A split may carry ``split.unlabeled``: pool rows with features only (the split object holds no label
for them). A recipe whose components declare ``uses_unlabeled = True``, or that has a
``Stage.pseudo_label`` (:meth:`~benchmark.methods.base.Recipe.uses_unlabeled`), gets the pool
featurised with the featuriser fitted on the training rows and put on the device once per trial
(:func:`unlabeled_pool`); the engine stores it as ``state.extra["unlabeled"]``.

A pseudo-labelling stage (:func:`pseudo_labelled`) predicts every pool row with the current model
(eval mode, standardised as any prediction), lets the stage's component choose rows and labels from
the class probabilities alone, and returns the training set extended by those rows. Validation and
test rows never enter: the pool is its own array, apart from them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from benchmark.errors import BenchmarkError
from benchmark.training.base import softmax

__all__ = ["pseudo_labelled", "unlabeled_pool"]


def unlabeled_pool(split: Any, featurizer: Any, device: torch.device) -> torch.Tensor:
    """The split's pool, featurised like the training rows, on ``device`` (uint8 images or float features)."""
    pool = split.unlabeled
    if pool is None:
        raise BenchmarkError(
            f"the method learns from an unlabeled pool, but dataset {split.dataset} exposes none",
            "run it on a dataset whose card lists an unlabeled pool (its applies_to should have refused this one)")
    features = np.ascontiguousarray(np.asarray(featurizer.transform(pool)))
    return torch.as_tensor(features).to(device)


def pseudo_labelled(component: Any, stage_name: str, predict: Callable[[torch.Tensor], np.ndarray],
                    pool: torch.Tensor, X: torch.Tensor, y: torch.Tensor, num_classes: int,
                    seed: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``(X', y', n)``: the training rows ``X, y`` plus the ``n`` pool rows the component selects, with
    its labels. ``predict`` maps rows to logits (the current model, eval mode); the component's
    ``select(proba (M, C), seed) -> (rows, labels)`` sees class probabilities only."""
    if not callable(getattr(component, "select", None)):
        raise BenchmarkError(f"stage '{stage_name}' has a pseudo_label component without select()",
                             "give it select(proba, seed) -> (rows, labels)")
    logits = predict(pool).astype(np.float64)
    if logits.shape != (pool.shape[0], num_classes):
        raise BenchmarkError(f"stage '{stage_name}': the model gave pool logits of shape {logits.shape}",
                             f"predict ({pool.shape[0]}, {num_classes}) logits")
    rows, labels = component.select(softmax(logits), seed)
    rows, labels = np.asarray(rows).reshape(-1), np.asarray(labels).reshape(-1)
    if rows.shape != labels.shape or (rows.size and (rows.dtype.kind not in "iu" or labels.dtype.kind not in "iu")):
        raise BenchmarkError(
            f"stage '{stage_name}': select() gave rows {rows.shape} of {rows.dtype} and labels {labels.shape} of "
            f"{labels.dtype}", "return two integer arrays of equal length (pool row indices, their labels)")
    if rows.size and (rows.min() < 0 or rows.max() >= pool.shape[0] or len(np.unique(rows)) != rows.size):
        raise BenchmarkError(f"stage '{stage_name}': select() gave pool rows outside [0, {pool.shape[0]}) or "
                             "repeated ones", "return each selected pool row once, as an index into the pool")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise BenchmarkError(f"stage '{stage_name}': select() gave labels outside [0, {num_classes})",
                             f"label each selected row with a class in 0..{num_classes - 1}")
    index = torch.as_tensor(rows, dtype=torch.long, device=pool.device)
    extra_y = torch.as_tensor(labels, dtype=torch.long, device=y.device)
    return torch.cat([X, pool[index].to(X.dtype)]), torch.cat([y, extra_y]), int(rows.size)
