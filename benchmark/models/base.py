"""The backbone registry and the structure every backbone shares."""

from __future__ import annotations

import torch
from torch import nn

from benchmark.errors import BenchmarkError
from benchmark.registry import Registry


class Backbone(nn.Module):
    """``features`` maps an input batch to penultimate embeddings; ``head`` maps those to logits."""

    def __init__(self, features: nn.Module, head: nn.Linear):
        super().__init__()
        self.features = features
        self.head = head

    @property
    def embedding_dim(self) -> int:
        return self.head.in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def reset_head(self) -> None:
        self.head.reset_parameters()


model_registry: Registry = Registry("model", package="benchmark.models", entry_point_group="benchmark.models")
register_model = model_registry.register


def build_model(name: str, spec, num_classes: int) -> Backbone:
    """Build backbone ``name`` for inputs of ``spec``; a shape it cannot take is a clear error."""
    builder = model_registry.get(name)
    try:
        model = builder(spec, num_classes)
        with torch.no_grad():  # fail before training, not in the middle of it
            probe = torch.zeros((2, *spec.shape), dtype=getattr(torch, getattr(spec, "dtype", "float32")))
            out = model.eval()(probe)
        model.train()
    except BenchmarkError:
        raise
    except Exception as exc:
        raise BenchmarkError(
            f"model '{name}' does not fit inputs of shape {spec.shape} ({spec.modality}): {exc}",
            "choose a backbone made for this data with the suite's model setting",
        ) from exc
    if tuple(out.shape) != (2, num_classes):
        raise BenchmarkError(f"model '{name}' gives outputs of shape {tuple(out.shape)}", f"it must give (N, {num_classes})")
    return model
