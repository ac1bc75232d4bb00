"""Report artifacts a seed row may carry besides its metrics, and their format.

A seed row's ``artifacts`` column (a JSON object) holds material for the report's plots. Two keys
are read:

``pr_curves``
    Written for every re-run: ``{"<class index>": {"precision": [...], "recall": [...]}}`` for each
    minority class, thinned to about 100 points (:func:`benchmark.metrics.pr_curves`).

``generated_samples``
    For generative oversamplers (VAE, diffusion, DeepSMOTE, ...): a grid of generated minority
    images beside a grid of real training images of the same classes, drawn by the report as
    "generated | real". The value is an object::

        {
          "format": "png-grid/1",
          "classes": [8, 9],                  # class index of each grid row, head to tail order not needed
          "generated": "<base64 PNG>",        # one row per class, samples side by side
          "real": "<base64 PNG>",             # the same layout, real training samples
          "caption": "DDPM, 50 steps, guidance 0"   # optional: how they were generated
        }

    Build it with :func:`sample_grid_artifact` from uint8 arrays; keep it small (at most 8 samples a
    class and 12 classes; each PNG must stay under :data:`MAX_PNG_BYTES`), since it is stored in the
    results database with every seed row. The report shows the first seed's grid of each method.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmark.errors import BenchmarkError

SAMPLES_FORMAT = "png-grid/1"
MAX_PNG_BYTES = 512 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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


@dataclass
class SampleGrids:
    """A validated ``generated_samples`` artifact, ready for ``<img src="data:image/png;base64,...">``."""

    classes: list[int]
    generated: str
    real: str
    caption: str = ""


def read_sample_grids(value: Any) -> SampleGrids:
    """Check a stored ``generated_samples`` value; ValueError says what is wrong with it."""
    if not isinstance(value, dict):
        raise ValueError(f"generated_samples is a {type(value).__name__}, expected an object")
    if value.get("format") != SAMPLES_FORMAT:
        raise ValueError(f"generated_samples has format {value.get('format')!r}, expected {SAMPLES_FORMAT!r}")
    classes = value.get("classes")
    if not isinstance(classes, list) or not all(isinstance(c, int) for c in classes):
        raise ValueError("generated_samples['classes'] is not a list of class indices")
    for key in ("generated", "real"):
        text = value.get(key)
        try:
            data = base64.b64decode(text, validate=True) if isinstance(text, str) else b""
        except (binascii.Error, ValueError):
            data = b""
        if not data.startswith(PNG_SIGNATURE):
            raise ValueError(f"generated_samples['{key}'] is not a base64-encoded PNG")
        if len(data) > MAX_PNG_BYTES:
            raise ValueError(f"generated_samples['{key}'] is {len(data)} bytes, over {MAX_PNG_BYTES}")
    caption = value.get("caption") or ""
    return SampleGrids(classes, value["generated"], value["real"], str(caption))
