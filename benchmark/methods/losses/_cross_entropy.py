"""Cross-entropy on hard or soft targets: the pieces the losses of :mod:`benchmark.methods.losses`
build on.

Every loss takes ``(logits, target, epoch)``; ``target`` is class indices (B,) or soft labels (B, C)
from mixing augmentations, and every loss accepts both. Losses built only from tensor operations
declare ``graph_safe = True`` so the deep engine may replay them in CUDA graphs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def as_soft(target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Class indices -> one-hot rows; soft labels pass through."""
    if target.dtype in (torch.long, torch.int64, torch.int32):
        return F.one_hot(target.long(), num_classes).float()
    return target.float()


def on_device(holder: object, name: str, device: torch.device) -> torch.Tensor:
    """A loss's constant tensor ``holder.<name>``, moved to ``device`` once and kept there: the first
    (eager, warm-up) step copies it, so steps replayed as CUDA graphs copy nothing from the host."""
    tensor = getattr(holder, name)
    if tensor.device != device:
        tensor = tensor.to(device)
        setattr(holder, name, tensor)
    return tensor


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """-sum_c t_c w_c log softmax(z)_c per sample, averaged over the batch; with class weights the
    average is normalised by the summed weights of the targets (as ``torch.nn.CrossEntropyLoss``)."""
    soft = as_soft(target, logits.shape[1])
    log_p = F.log_softmax(logits.float(), dim=1)
    if weights is None:
        return -(soft * log_p).sum(dim=1).mean()
    w = weights.to(logits.device)
    return -(soft * w * log_p).sum() / (soft * w).sum().clamp_min(1e-12)


def kl_divergence(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """KL(t || softmax(z)) averaged over the batch: cross-entropy minus the targets' entropy (same
    gradient, but 0 at a perfect fit, which makes mixed-label losses comparable across batches)."""
    soft = as_soft(target, logits.shape[1])
    log_p = F.log_softmax(logits.float(), dim=1)
    return (torch.xlogy(soft, soft) - soft * log_p).sum(dim=1).mean()


class SoftLabelCrossEntropy:
    """Cross-entropy on soft labels (for MixUp-style augmentations); equals CE on hard labels."""

    graph_safe = True

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, epoch: int) -> torch.Tensor:
        return soft_cross_entropy(logits, target)


class SoftLabelKL:
    """KL divergence to soft labels (for MixUp-style augmentations)."""

    graph_safe = True

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, epoch: int) -> torch.Tensor:
        return kl_divergence(logits, target)
