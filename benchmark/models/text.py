"""Trainable token models for texts, fed by the ``tokens`` featuriser (padded token ids, 0 = padding).

``embedding-bag`` is the fastText-style classifier (Joulin et al. 2017): the mean of the word
embeddings of a text, then a hidden layer. ``text-cnn`` is the 1-D convolutional classifier of
Kim (2014): filters of widths 3, 4 and 5 over the embedded sequence, max-pooled over time. Both run
entirely on the device from integer id tensors; padding never contributes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.errors import BenchmarkError
from benchmark.models.base import Backbone, register_model


def _vocabulary(spec, model: str) -> int:
    if not getattr(spec, "vocab_size", None):
        raise BenchmarkError(
            f"model '{model}' needs token ids, but the inputs are {spec.modality} features of shape {spec.shape}",
            "use the 'tokens' text featuriser (TrainingConfig text_features='tokens')",
        )
    return int(spec.vocab_size)


class MeanEmbedding(nn.Module):
    """Mean of the embeddings of the non-padding tokens of each row (EmbeddingBag, padding_idx=0)."""

    def __init__(self, vocab_size: int, dim: int):
        super().__init__()
        self.bag = nn.EmbeddingBag(vocab_size, dim, mode="mean", padding_idx=0)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.bag(ids.long())


class ConvOverTime(nn.Module):
    """Embedding, parallel 1-D convolutions of several widths, ReLU, max over time, concatenated."""

    def __init__(self, vocab_size: int, dim: int, filters: int, widths: tuple[int, ...]):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(dim, filters, w, padding=w - 1) for w in widths)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = ids.long()
        x = self.embed(ids).transpose(1, 2)  # (B, dim, L)
        # Padding positions are pushed to -inf before the max so they never win it.
        pad = (ids == 0).unsqueeze(1)
        pooled = []
        for conv in self.convs:
            h = F.relu(conv(x))[:, :, : ids.shape[1]]
            pooled.append(h.masked_fill(pad, float("-inf")).amax(dim=2).clamp_min(0))
        return torch.cat(pooled, dim=1)


@register_model("embedding-bag")
def embedding_bag(spec, num_classes: int, dim: int = 64, hidden: int = 64, dropout: float = 0.2) -> Backbone:
    """fastText-style text classifier (Joulin, Grave, Bojanowski, Mikolov 2017, "Bag of Tricks for
    Efficient Text Classification"): mean word embedding, one hidden layer, linear head."""
    vocab = _vocabulary(spec, "embedding-bag")
    features = nn.Sequential(MeanEmbedding(vocab, dim), nn.Linear(dim, hidden), nn.ReLU(inplace=True),
                             nn.Dropout(dropout))
    return Backbone(features, nn.Linear(hidden, num_classes))


@register_model("text-cnn")
def text_cnn(spec, num_classes: int, dim: int = 64, filters: int = 64, widths: tuple[int, ...] = (3, 4, 5),
             dropout: float = 0.5) -> Backbone:
    """1-D CNN over token ids (Kim 2014, "Convolutional Neural Networks for Sentence Classification"):
    filters of widths 3, 4 and 5, max-over-time pooling, dropout, linear head."""
    vocab = _vocabulary(spec, "text-cnn")
    features = nn.Sequential(ConvOverTime(vocab, dim, filters, widths), nn.Dropout(dropout))
    return Backbone(features, nn.Linear(filters * len(widths), num_classes))


@register_model("linear")
def linear(spec, num_classes: int) -> Backbone:
    """A linear head over fixed feature vectors (sentence embeddings, TF-IDF): multinomial logistic
    regression trained by the deep engine, so loss-based methods apply to frozen encoders."""
    (num_features,) = spec.shape
    return Backbone(nn.Identity(), nn.Linear(num_features, num_classes))
