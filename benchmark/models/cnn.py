"""Convolutional backbones for images."""

from __future__ import annotations

from torch import nn

from benchmark.models.base import Backbone, register_model


@register_model("small-cnn")
def small_cnn(spec, num_classes: int, width: int = 32, hidden: int = 128, dropout: float = 0.25) -> Backbone:
    """Two 3x3 conv layers (32 and 64 channels, each with ReLU and 2x2 max-pooling), dropout and two
    linear layers (128 hidden units; 421,642 parameters at 28x28 with 10 classes). Any input size of
    at least 4x4 works: the flattened size follows the input."""
    channels, height, width_px = spec.shape
    flat = 2 * width * (height // 4) * (width_px // 4)
    features = nn.Sequential(
        nn.Conv2d(channels, width, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Dropout(dropout),
        nn.Flatten(),
        nn.Linear(flat, hidden),
        nn.ReLU(inplace=True),
        nn.Dropout(2 * dropout),
    )
    return Backbone(features, nn.Linear(hidden, num_classes))
