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

    Build it with :func:`sample_grid_artifact` (defined in :mod:`benchmark.methods.generative._grid`, so
    that methods can build it without importing the report) from uint8 arrays; keep it small (at most 8 samples a
    class and 12 classes; each PNG must stay under :data:`MAX_PNG_BYTES`), since it is stored in the
    results database with every seed row. The report shows the first seed's grid of each method.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from benchmark.methods.generative._grid import MAX_PNG_BYTES, SAMPLES_FORMAT, sample_grid_artifact

__all__ = ["MAX_PNG_BYTES", "SAMPLES_FORMAT", "SampleGrids", "read_sample_grids", "sample_grid_artifact"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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
