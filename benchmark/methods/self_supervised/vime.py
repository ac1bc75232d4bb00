"""VIME's self-supervised pre-training for tabular networks (``vime-ssl``): mask estimation and feature
reconstruction.

VIME (Yoon et al. 2020) corrupts each row by a random binary mask m (each feature masked with
probability p_m) and replaces every masked feature by a value drawn from that feature's empirical
marginal distribution (in their code: the column permuted over the rows). From the corrupted row the
encoder's representation feeds two heads: the mask estimator (which features were replaced: binary
cross-entropy) and the feature estimator (the original row: squared error). The loss is
``mask_loss + alpha * reconstruction_loss`` (their eq. 3; ``loss_weights={'mask': 1, 'feature':
alpha}`` in their code). The encoder is the MLP's ``features`` here; Yang & Xu's SSP recipe (pre-train
without labels, then train as usual) carries it to the imbalanced tabular rows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.errors import BenchmarkError
from benchmark.methods._papers import VIME_BIB, YANG_XU_BIB
from benchmark.methods.base import MethodContext, Recipe, register_method
from benchmark.methods.self_supervised._pretext import checked_share, suggest_share


def vime_corrupt(x: torch.Tensor, p_m: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(corrupted rows, mask labels) for a batch ``x`` (B, D): each entry is masked with probability
    ``p_m`` and a masked entry takes the value of the same column in a random row of the batch (each
    column permuted on its own: its empirical marginal within the batch). The label of an entry is 1 where
    the corrupted value differs from the original (VIME's ``m_new``: a masked entry that drew an equal
    value is labelled unchanged)."""
    mask = torch.rand(x.shape, generator=generator, device=x.device) < p_m
    perm = torch.rand(x.shape, generator=generator, device=x.device).argsort(dim=0)
    shuffled = torch.gather(x, 0, perm)
    corrupted = torch.where(mask, shuffled, x)
    return corrupted, (corrupted != x).to(x.dtype)


class MaskedFeaturePretext:
    """The ``pretrain`` component of ``vime-ssl``.

    ``head``: one linear layer to 2D outputs, the mask estimator's logits (first D) and the feature
    estimator's reconstruction (last D), as VIME's two single-layer heads. ``views``: the corrupted rows,
    with targets (B, 2D) = [mask labels, original rows]. ``loss``: BCE(mask) + ``alpha`` * MSE(features).
    ``graph_safe``: device ops drawing only from the generator passed, nothing read on the host.
    """

    graph_safe = True

    def __init__(self, share: float, p_m: float, alpha: float):
        self.share = checked_share(share)
        if not 0 < p_m < 1 or not alpha >= 0:
            raise BenchmarkError(f"VIME got p_m={p_m}, alpha={alpha}", "use 0 < p_m < 1 and alpha >= 0")
        self.p_m, self.alpha = float(p_m), float(alpha)

    def head(self, feature_dim: int, spec) -> nn.Module:
        (num_features,) = spec.shape
        return nn.Linear(feature_dim, 2 * num_features)

    def views(self, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() != 2:
            raise BenchmarkError(f"VIME corrupts feature rows (B, D), got a batch of shape {tuple(x.shape)}",
                                 "run vime-ssl on tabular data")
        corrupted, mask = vime_corrupt(x, self.p_m, generator)
        return corrupted, torch.cat([mask, x], dim=1)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        d = targets.shape[1] // 2
        mask_loss = F.binary_cross_entropy_with_logits(outputs[:, :d], targets[:, :d])
        return mask_loss + self.alpha * F.mse_loss(outputs[:, d:], targets[:, d:])


@register_method(
    "vime-ssl",
    family="self-supervised",
    modalities=("tabular",),
    engines=("deep",),
    summary="VIME self-supervised pre-training: the network first learns, without labels, to tell which features "
            "of a row were replaced by values of other rows and to restore them, then trains as usual from those "
            "weights. Tabular only (text features here are fixed TF-IDF or sentence vectors).",
    paper=VIME_BIB + "\n" + YANG_XU_BIB,
    search_space=lambda trial, ctx: {"share": suggest_share(trial),
                                     "p_m": trial.suggest_float("p_m", 0.1, 0.5),
                                     "alpha": trial.suggest_float("alpha", 0.1, 10.0, log=True)},
    differences="VIME pre-trains its encoder on a separate unlabeled set for its own epochs; here the pretext stage "
                "runs on the training rows without their labels for a tuned 20-50% of the suite's epochs, so the "
                "row trains as many samples as the baseline. Masked values come from the same column of another "
                "row of the batch (VIME: of the whole data set). Features are the featuriser's: standardised "
                "numeric columns (VIME scales to [0, 1] and uses sigmoid outputs; here the reconstruction is "
                "linear) and integer-coded nominal columns, reconstructed by squared error like the rest. The "
                "encoder is the backbone's features (VIME: one layer); both heads are single linear layers "
                "dropped after the stage. VIME's semi-supervised part (consistency on an unlabeled pool) is not "
                "this row.",
)
def vime_ssl(params: dict, ctx: MethodContext) -> Recipe:
    """VIME self-supervised pre-training (Yoon et al. 2020) as an SSP stage (Yang & Xu 2020)."""
    return Recipe(pretrain=MaskedFeaturePretext(params.get("share", 0.3), params.get("p_m", 0.3),
                                                params.get("alpha", 2.0)))
