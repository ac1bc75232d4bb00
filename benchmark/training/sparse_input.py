"""Which fits train on sparse input rows: the one home of the rule (issue 26).

TF-IDF rows are 99.7% zeros; the MLP's first layer takes them as CSR rows on the CPU
(:mod:`benchmark.models.sparse_rows`), in every training step, validation pass and prediction of the
fit. The rule is decided once per fit, before featurisation, from the split, the recipe, the settings
and the device (:func:`dense_input_reason`); the deep engine and the exact stacked path both ask it.

A fit keeps dense rows where something needs them, and the reason says what:

- the inputs are not TF-IDF rows (images, tables, token ids, sentence embeddings);
- the device is not a CPU: on CUDA the steps are replayed as graphs, and the sparse gather reads a
  length on the host every batch; the dense product is fast there;
- the backbone is not the MLP (only its first layer takes sparse rows);
- an ``augment`` hook (the recipe's, or a stage's outside a ``feature_resample`` stage, where it sees
  embeddings) transforms input batches (mixing TF-IDF vectors needs dense rows);
- a ``pretrain`` component, whose views transform input rows;
- a recipe that learns from the unlabeled pool, whose rows join the training rows dense.

Hooks that leave input rows alone keep the sparse path: ``batch_sampler`` (indices), ``loss`` and
``adjust`` (logits), ``stages`` (head-only, re-initialised or wrapped heads; a ``feature_resample``
stage embeds the sparse rows), and ``resample`` in input space (raw texts, featurised after it). A
``resample`` in feature space still gets dense rows, the array it always got (so it samples exactly
as before), and what it returns is stored as CSR for training (:func:`as_csr`: the same values; the
feature-space samplers of the registry return TF-IDF rows or interpolations of two, 0.3-0.6%
non-zeros on SMS spam).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from benchmark.datasets.base import Split
from benchmark.methods.base import Recipe, Stage
from benchmark.training.base import TrainingConfig

SPARSE_MODEL = "mlp"  # the backbone whose first layer takes sparse rows (models/mlp.py)


def dense_input_reason(split: Split, recipe: Recipe, config: TrainingConfig, device: torch.device,
                       model: str) -> str | None:
    """Why this fit trains on dense input rows, or None when it trains on sparse TF-IDF rows."""
    if split.modality != "text" or config.text_features != "tfidf":
        return "the inputs are not TF-IDF rows"
    if device.type != "cpu":
        return f"the device is {device.type}, not the CPU (CUDA graphs the dense steps)"
    if model != SPARSE_MODEL:
        return f"the backbone '{model}' is not the MLP"
    stages = recipe.stages or [Stage("main", 1.0)]
    if recipe.augment is not None or any(s.augment is not None and s.feature_resample is None for s in stages):
        return "an augment hook transforms input batches"
    if recipe.pretrain is not None:
        return "a pretrain component transforms input rows"
    if recipe.uses_unlabeled():
        return "the unlabeled pool joins the training rows"
    return None


def as_csr(rows: Any) -> sp.csr_matrix:
    """Feature rows (a dense array or a scipy sparse matrix) as float32 CSR, values unchanged."""
    return sp.csr_matrix(rows if sp.issparse(rows) else np.asarray(rows), dtype=np.float32)


def as_dense(rows: Any) -> np.ndarray:
    """Feature rows as the dense array a feature-space resampler has always been given."""
    return rows.toarray() if sp.issparse(rows) else np.asarray(rows)
