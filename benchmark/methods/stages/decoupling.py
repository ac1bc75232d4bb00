"""Decoupled representation and classifier (Kang et al. 2020): cRT, tau-normalisation and LWS.

All three learn the representation with plain instance-balanced training and then re-balance only
the classifier (the backbone's last ``nn.Linear``):

- cRT re-initialises the head and re-trains it on frozen features with class-balanced sampling
  (a second stage of the ``stages`` hook, with the class-balanced batch sampler of
  :mod:`benchmark.methods.resampling.batch_sampling`).
- tau-normalisation re-scales each class's weight vector to w_c / ||w_c||^tau with no re-training.
  Scaling the class's whole affine function (weights and bias) by ||w_c||^-tau multiplies its logit
  by the same factor, so it is an ``adjust`` component: given the trained head's weight norms it
  maps logits z_c to z_c / ||w_c||^tau, and picks tau on the validation logits.
- LWS learns one scale f_c per class (logits f_c * z_c, weights and bias frozen) on frozen features
  with class-balanced sampling; the scales fold back into an ordinary ``nn.Linear`` afterwards.

tau-normalisation reads the trained head through ``adjust.attach(model)``, and LWS trains the
scaled head in place of the head through ``Stage.head_wrapper``; both are in the deep engine's
contract (:mod:`benchmark.methods.base`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from benchmark.errors import BenchmarkError
from benchmark.methods._papers import DECOUPLING_BIB
from benchmark.methods.base import ALL_MODALITIES, MethodContext, Recipe, Stage, register_method
from benchmark.methods.resampling.batch_sampling import ClassBalancedSampler
from benchmark.methods.stages.two_stage import stage_share, two_stage_schedule
from benchmark.metrics import confusion, per_class_scores

# Kang et al. pick tau on validation; their plots sweep [0, 2]. Steps of 0.05 cost one matrix scaling each.
TAU_GRID = tuple(np.round(np.linspace(0.0, 2.0, 41), 2))


# -- tau-normalisation ---------------------------------------------------------------------------------
def tau_normalised_weights(weight: torch.Tensor, tau: float) -> torch.Tensor:
    """w_c / ||w_c||^tau for every row (class) of a (C, D) weight matrix: tau = 0 leaves it, tau = 1
    gives unit-norm rows. A zero row stays zero."""
    norms = weight.norm(dim=1, keepdim=True).clamp_min(torch.finfo(weight.dtype).tiny)
    return weight / norms.pow(tau)


def balanced_accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean recall over the classes present in ``y`` (accuracy on a class-balanced validation set)."""
    num_classes = logits.shape[1]
    _, recall, _ = per_class_scores(confusion(y, logits.argmax(axis=1), num_classes))
    present = np.bincount(y, minlength=num_classes) > 0
    return float(recall[present].mean()) if present.any() else 0.0


class TauNormalisation:
    """The ``adjust`` hook of tau-normalisation (Kang et al. 2020).

    ``attach(model)`` reads the per-class weight norms of the trained head (``model.head.weight``);
    ``fit`` picks tau from ``grid`` by the balanced accuracy of the re-scaled validation logits (the
    smallest tau among ties, so a tie keeps the model closest to the trained one), unless ``tau`` is
    fixed; ``adjust(logits)`` returns z_c / ||w_c||^tau, the logits of the head whose weights are
    :func:`tau_normalised_weights` and whose biases are scaled alike.
    """

    def __init__(self, tau: float | None = None, grid: Sequence[float] = TAU_GRID):
        if tau is not None and not (np.isfinite(tau) and tau >= 0):
            raise BenchmarkError(f"tau={tau} is invalid for tau-normalisation", "use a tau >= 0 (0: no change, 1: unit norms)")
        if not grid or min(grid) < 0:
            raise BenchmarkError(f"the tau grid {list(grid)} is invalid", "give non-negative values of tau")
        self.tau = tau
        self.grid = tuple(float(t) for t in grid)
        self.norms: np.ndarray | None = None
        self.validation_scores: dict[float, float] = {}

    def attach(self, model: nn.Module) -> None:
        """Take the per-class weight norms of the trained backbone's head."""
        head = getattr(model, "head", None)
        if not isinstance(head, nn.Linear):
            raise BenchmarkError(f"tau-normalisation needs a backbone whose head is an nn.Linear, got {type(head).__name__}",
                                 "use a backbone of benchmark.models (features + linear head)")
        with torch.no_grad():
            norms = head.weight.detach().float().norm(dim=1).cpu().numpy().astype(np.float64)
        self.norms = np.maximum(norms, np.finfo(np.float64).tiny)

    def scales(self, tau: float) -> np.ndarray:
        """The per-class factors ||w_c||^-tau applied to the logits."""
        if self.norms is None:
            raise BenchmarkError(
                "tau-normalisation was not given the trained head (its attach(model) was never called)",
                "run it on the deep engine, which hands the trained model to adjust components before fit",
            )
        return self.norms ** -float(tau)

    def fit(self, val_logits: np.ndarray, val_y: np.ndarray, train_counts: Sequence[int]) -> None:
        logits = np.asarray(val_logits, dtype=np.float64)
        if self.norms is not None and logits.shape[1] != self.norms.size:
            raise BenchmarkError(f"validation logits have {logits.shape[1]} classes, the head {self.norms.size}",
                                 "fit tau-normalisation on the logits of the model it was attached to")
        if self.tau is not None:
            self.scales(self.tau)  # fails clearly when the head is missing
            return
        y = np.asarray(val_y)
        self.validation_scores = {t: balanced_accuracy(logits * self.scales(t), y) for t in self.grid}
        best = max(self.validation_scores.values())
        self.tau = min(t for t, s in self.validation_scores.items() if s >= best - 1e-12)

    def fitted(self) -> dict[str, float]:
        """What fit chose on validation, stored with the seed's row: tau, and how unequal the head's
        class norms were (largest / smallest; near 1, any tau changes little)."""
        out = {"tau": float(self.tau)} if self.tau is not None else {}
        if self.norms is not None:
            out["norm_ratio"] = round(float(self.norms.max() / self.norms.min()), 4)
        return out

    def adjust(self, logits: np.ndarray) -> np.ndarray:
        if self.tau is None:
            raise BenchmarkError("tau-normalisation was used before fit chose tau", "call fit on validation logits first")
        return (np.asarray(logits, dtype=np.float64) * self.scales(self.tau)).astype(np.float32)


# -- learnable weight scaling ----------------------------------------------------------------------------
class LearnableWeightScaling(nn.Module):
    """LWS (Kang et al. 2020): logits f_c * (w_c . x + b_c) with the head's weights and bias frozen and
    one learnable scale f_c per class (initially 1).

    The engine trains this module in place of the head during a stage (``Stage.head_wrapper``) and
    afterwards replaces it by :meth:`fold`, the ``nn.Linear`` with weights f_c w_c and biases f_c b_c,
    which gives the same logits.
    """

    def __init__(self, head: nn.Linear):
        super().__init__()
        if not isinstance(head, nn.Linear):
            raise BenchmarkError(f"learnable weight scaling wraps an nn.Linear head, got {type(head).__name__}",
                                 "use a backbone of benchmark.models (features + linear head)")
        self.linear = head
        for p in head.parameters():
            p.requires_grad_(False)
        self.scales = nn.Parameter(torch.ones(head.out_features, device=head.weight.device, dtype=head.weight.dtype))

    @property
    def in_features(self) -> int:
        return self.linear.in_features

    @property
    def out_features(self) -> int:
        return self.linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) * self.scales

    def fold(self) -> nn.Linear:
        """The plain linear head with the learned scales multiplied into its weights and bias."""
        lin = self.linear
        folded = nn.Linear(lin.in_features, lin.out_features, bias=lin.bias is not None,
                           device=lin.weight.device, dtype=lin.weight.dtype)
        with torch.no_grad():
            folded.weight.copy_(lin.weight * self.scales[:, None])
            if lin.bias is not None:
                folded.bias.copy_(lin.bias * self.scales)
        return folded


# -- rows ------------------------------------------------------------------------------------------------
@register_method(
    "crt",
    family="decoupling",
    modalities=ALL_MODALITIES,
    engines=("deep",),
    summary="Classifier re-training: instance-balanced training, then the last layer re-initialised and "
            "re-trained on frozen features with class-balanced sampling.",
    paper=DECOUPLING_BIB,
    search_space=lambda trial, ctx: {"first_stage_share": stage_share(trial)},
    differences="The paper trains the representation for 90 epochs and adds 10 for cRT; here both stages share "
                "the suite's epoch budget (the split is tuned) so every row trains equally long. Re-training "
                "batches are drawn i.i.d. with each class equally likely (the authors' ClassAwareSampler cycles "
                "through shuffled classes and rows: the same rate per row, but exactly equal class counts).",
)
def crt(params: dict, ctx: MethodContext) -> Recipe:
    """cRT (Kang et al. 2020)."""
    representation = Stage("representation", 0.0, train="all")
    retrain = Stage("classifier-retraining", 0.0, train="head", reinit_head=True, batch_sampler=ClassBalancedSampler(0.0))
    return Recipe(stages=two_stage_schedule(representation, retrain, params.get("first_stage_share", 0.7)))


@register_method(
    "tau-normalisation",
    family="decoupling",
    modalities=ALL_MODALITIES,
    engines=("deep",),
    summary="Instance-balanced training, then each class's logit divided by its weight norm to the power tau "
            "(tau chosen on validation); no re-training.",
    paper=DECOUPLING_BIB,
    differences="tau is chosen from 0 to 2 in steps of 0.05 by validation balanced accuracy (free: no "
                "re-training per value). The bias is scaled with its weight vector (the paper's code drops it), "
                "so tau = 0 is exactly the trained model.",
)
def tau_normalisation(params: dict, ctx: MethodContext) -> Recipe:
    """tau-normalised classifier (Kang et al. 2020)."""
    return Recipe(adjust=TauNormalisation())


@register_method(
    "lws",
    family="decoupling",
    modalities=ALL_MODALITIES,
    engines=("deep",),
    summary="Learnable weight scaling: instance-balanced training, then one scale per class learned on the "
            "frozen classifier and features with class-balanced sampling.",
    paper=DECOUPLING_BIB,
    search_space=lambda trial, ctx: {"first_stage_share": stage_share(trial)},
    differences="The scaling stage shares the suite's epoch budget with the representation stage (split tuned); "
                "the scales fold into the linear head afterwards.",
)
def lws(params: dict, ctx: MethodContext) -> Recipe:
    """LWS (Kang et al. 2020)."""
    representation = Stage("representation", 0.0, train="all")
    scaling = Stage("weight-scaling", 0.0, train="head", batch_sampler=ClassBalancedSampler(0.0),
                    head_wrapper=LearnableWeightScaling)
    return Recipe(stages=two_stage_schedule(representation, scaling, params.get("first_stage_share", 0.7)))
