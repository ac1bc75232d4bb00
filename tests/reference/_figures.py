"""Reference figures: what the authors' published code gives on small fixed inputs (tests/reference/data).

Each ``data/<row>.json`` holds the inputs, the authors' outputs, the source they came from
(``repository``, ``commit``, ``file``, ``function``), how the figure was produced and the tolerance. The
authors' code itself is never part of the project: it was run outside it, and only its figures are kept.
The tests feed the same inputs to the row's own component, built through the method registry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark.methods.base import MethodContext, Recipe, method_registry

DATA = Path(__file__).parent / "data"
SOURCE_KEYS = ("repository", "commit", "file", "function")


NO_CODE_KEYS = ("paper", "equation", "searched")


def load(name: str) -> dict[str, Any]:
    """The record ``data/<name>.json``. It must name its source: the authors' code (``SOURCE_KEYS``), or, for
    a row whose authors published none, the paper, the equation the figure was worked out from and where
    code was looked for (``NO_CODE_KEYS``)."""
    record = json.loads((DATA / f"{name}.json").read_text())
    source = record.get("source", {})
    keys = NO_CODE_KEYS if source.get("no_code_published") else SOURCE_KEYS
    missing = [k for k in keys if not source.get(k)]
    assert not missing, f"{name}.json names no {missing} of its source"
    for key in ("produced_by", "tolerance"):
        assert record.get(key), f"{name}.json says nothing under {key!r}"
    return record


def context(class_counts, epochs: int = 1, modality: str = "image", engine: str = "deep") -> MethodContext:
    counts = tuple(int(c) for c in class_counts)
    minority = (int(np.argmin(counts)),)
    return MethodContext(modality, engine, len(counts), counts, minority, epochs=epochs)


def build(row: str, params: dict, ctx: MethodContext) -> Recipe:
    """The row's recipe, as the tuner builds it."""
    return method_registry.get(row).build(dict(params), ctx)


def loss_and_grad(loss, logits, target, epoch: int = 0) -> tuple[float, np.ndarray]:
    """A loss component's value and its gradient with respect to the logits."""
    z = torch.tensor(logits, dtype=torch.float32, requires_grad=True)
    value = loss(z, torch.as_tensor(target), epoch)
    value.backward()
    return float(value.detach()), z.grad.double().numpy()


def assert_close(actual, expected, tolerance: dict, what: str) -> None:
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64),
                               rtol=tolerance.get("rtol", 1e-5), atol=tolerance.get("atol", 1e-6),
                               err_msg=f"{what} disagrees with the authors' code")
