"""Multi-layer perceptrons for tabular rows and text feature vectors."""

from __future__ import annotations

import torch
from torch import nn

from benchmark.models.base import Backbone, register_model
from benchmark.models.sparse_rows import SparseInputLinear


class NominalOneHot(nn.Module):
    """One-hot encodes the integer-coded nominal columns; numeric columns pass through."""

    def __init__(self, num_features: int, cardinalities: dict[int, int]):
        super().__init__()
        nominal = sorted(cardinalities)
        self.register_buffer("numeric_idx", torch.tensor([j for j in range(num_features) if j not in cardinalities], dtype=torch.long))
        self.register_buffer("nominal_idx", torch.tensor(nominal, dtype=torch.long))
        self.cards = [cardinalities[j] for j in nominal]
        self.out_features = num_features - len(nominal) + sum(self.cards)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        codes = x[:, self.nominal_idx].round().long()
        parts = [x[:, self.numeric_idx]]
        for k, card in enumerate(self.cards):
            parts.append(nn.functional.one_hot(codes[:, k].clamp(0, card - 1), card).to(x.dtype))
        return torch.cat(parts, dim=1)


@register_model("mlp")
def mlp(spec, num_classes: int, hidden: int = 128, dropout: float = 0.1) -> Backbone:
    """Two hidden layers of ``hidden`` units with ReLU and dropout; nominal columns one-hot encoded. Without
    nominal columns the first layer also takes sparse rows (:class:`SparseInputLinear`)."""
    (num_features,) = spec.shape
    layers: list[nn.Module] = []
    width = num_features
    first: type[nn.Linear] = SparseInputLinear  # takes sparse TF-IDF rows too (models/sparse_rows.py)
    if spec.nominal_cardinalities:
        encoder = NominalOneHot(num_features, spec.nominal_cardinalities)
        layers.append(encoder)
        width, first = encoder.out_features, nn.Linear
    layers += [first(width, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout)]
    layers += [nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout)]
    return Backbone(nn.Sequential(*layers), nn.Linear(hidden, num_classes))
