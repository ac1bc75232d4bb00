"""The ``generated_samples`` artifact of a seed row: PNG grids of generated minority images beside real ones.

The format (``png-grid/1``) is described in :mod:`benchmark.report.artifacts`, which reads it and
re-exports :func:`sample_grid_artifact`. It is built here, below the report in the package's stages, so
that the generative methods (stage "methods") can build it without importing the report.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmark.errors import BenchmarkError

SAMPLES_FORMAT = "png-grid/1"
MAX_PNG_BYTES = 512 * 1024


def _grid_png(images: np.ndarray, labels: np.ndarray, classes: Sequence[int], per_class: int) -> str:
    """A PNG (base64) of ``per_class`` images of each class in ``classes``, one row per class."""
    from PIL import Image

    images = np.asarray(images)
    if images.ndim == 3:  # (N, H, W): grey
        images = images[:, None]
    if images.ndim != 4 or images.dtype != np.uint8 or images.shape[1] not in (1, 3):
        raise BenchmarkError(f"sample images have shape {images.shape} and dtype {images.dtype}",
                             "pass uint8 images shaped (N, 1 or 3, H, W) or (N, H, W)")
    n, c, h, w = images.shape
    pad = 2
    grid = np.full((len(classes) * (h + pad) + pad, per_class * (w + pad) + pad, c), 255, dtype=np.uint8)
    for row, cls in enumerate(classes):
        chosen = np.flatnonzero(np.asarray(labels) == cls)[:per_class]
        for col, idx in enumerate(chosen):
            y0, x0 = pad + row * (h + pad), pad + col * (w + pad)
            grid[y0:y0 + h, x0:x0 + w] = images[idx].transpose(1, 2, 0)
    scale = max(1, 48 // max(h, w))  # tiny images (8x8 digits) are enlarged so they can be seen
    image = Image.fromarray(grid[:, :, 0] if c == 1 else grid)
    image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    data = buffer.getvalue()
    if len(data) > MAX_PNG_BYTES:
        raise BenchmarkError(f"the sample grid PNG is {len(data)} bytes, over {MAX_PNG_BYTES}",
                             "show fewer classes or samples per class")
    return base64.b64encode(data).decode("ascii")


def sample_grid_artifact(generated: np.ndarray, generated_labels: np.ndarray, real: np.ndarray,
                         real_labels: np.ndarray, classes: Sequence[int], per_class: int = 8,
                         caption: str = "") -> dict[str, Any]:
    """The ``artifacts["generated_samples"]`` value for a generative oversampler.

    ``generated``/``real``: uint8 images (N, C, H, W) with their labels; ``classes``: the minority
    classes to show (at most 12), one grid row each, ``per_class`` samples a row (at most 8).
    """
    classes = [int(c) for c in classes]
    if not 1 <= len(classes) <= 12 or not 1 <= per_class <= 8:
        raise BenchmarkError(f"a sample grid of {len(classes)} classes x {per_class} samples is out of range",
                             "show 1 to 12 classes and 1 to 8 samples per class")
    return {"format": SAMPLES_FORMAT, "classes": classes, "caption": caption,
            "generated": _grid_png(generated, generated_labels, classes, per_class),
            "real": _grid_png(real, real_labels, classes, per_class)}
