"""What every training engine shares: the training configuration, devices, the fitted model."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from benchmark.datasets.base import standard_layout
from benchmark.datasets.base import standard_strides as standard_strides  # re-exported: the layout tests
from benchmark.errors import BenchmarkError
from benchmark.limits import LIMITS, check_setting
from benchmark.methods.base import GeneratorBudget, ResampleContext
from benchmark.methods.base import fit_adjuster as fit_adjuster  # re-exported: the engines call it

# Called after every epoch with (epoch, validation class probabilities); may raise optuna.TrialPruned.
EpochCallback = Callable[[int, np.ndarray], None]


@dataclass(frozen=True)
class TrainingConfig:
    """Shared training settings of a suite; every method of a suite trains under the same ones.

    ``lr`` and ``weight_decay`` may be tuned per pair, for every method alike (see ``Suite.tune``).
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"  # "adam" or "sgd" (momentum 0.9, nesterov)
    model: str | None = None  # backbone; None = the dataset's default for the engine
    classical_model: str = "logreg"  # classical engine: "logreg", "rf" or "hgb"
    text_features: str = "tfidf"  # featuriser of raw texts: "tfidf", "tokens" or "minilm" (training/features.py)
    tfidf_max_features: int = 5000
    token_vocab_size: int = 20000  # "tokens": vocabulary size, padding and out-of-vocabulary ids included
    max_tokens: int = 64  # "tokens": ids kept per text
    eval_batch_size: int = 4096
    precision: str = "auto"  # "auto" (bf16 autocast on CUDA), "bf16" or "fp32"
    cuda_graphs: bool = True  # on CUDA, replay each training step as a CUDA graph when every batch hook allows it
    channels_last: bool = True  # on CUDA, image models and batches in channels-last memory layout
    deterministic: bool = True  # same seed, same device -> same result (deterministic cuDNN algorithms)
    # torch threads of every trial, whatever --workers is: CPU kernels split their sums by thread (1 and 2
    # threads differ in the 7th digit), so the count belongs to the results; more workers run more trials
    # at once instead (see pin_threads).
    cpu_threads: int = 1
    # Learning-rate schedule within each stage (see lr_factor): "constant", "cosine" or "step" (x0.1 at
    # each fraction of lr_steps, as LDAM-DRW's 160/180 of 200 epochs), after warmup_epochs of linear warm-up.
    lr_schedule: str = "constant"
    warmup_epochs: int = 0
    lr_steps: tuple[float, ...] = (0.8, 0.9)
    # The generative rows' budget (benchmark.methods.base.GeneratorBudget): passes of each generator over the
    # training rows and its batch size; the same for every generative method on a dataset, never tuned.
    generator_epochs: int = GeneratorBudget.epochs  # the defaults are GeneratorBudget's
    generator_batch_size: int = GeneratorBudget.batch_size
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def generator_budget(self) -> GeneratorBudget:
        """The budget of every generator trained under this configuration (generative rows)."""
        return GeneratorBudget(self.generator_epochs, self.generator_batch_size)

    def __post_init__(self) -> None:
        for name in CONFIG_LIMITS:  # every numeric setting's range: benchmark.limits, one home
            check_setting(name, getattr(self, name))
        for fraction in self.lr_steps:
            check_setting("lr_steps", fraction)
        if self.optimizer not in ("adam", "sgd"):
            raise BenchmarkError(f"optimizer {self.optimizer!r} is unknown", "use 'adam' or 'sgd'")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise BenchmarkError(f"precision {self.precision!r} is unknown", "use 'auto', 'bf16' or 'fp32'")
        if self.text_features not in ("tfidf", "tokens", "minilm"):
            raise BenchmarkError(f"text features {self.text_features!r} are unknown", "use 'tfidf', 'tokens' or 'minilm'")
        if self.lr_schedule not in ("constant", "cosine", "step"):
            raise BenchmarkError(f"lr_schedule {self.lr_schedule!r} is unknown", "use 'constant', 'cosine' or 'step'")
        if self.warmup_epochs < 0 or (self.warmup_epochs and self.warmup_epochs >= self.epochs):
            raise BenchmarkError(f"warmup_epochs={self.warmup_epochs} is invalid for {self.epochs} epochs",
                                 "use 0 or fewer warm-up epochs than epochs")



# The numeric fields of TrainingConfig whose range benchmark.limits declares (lr_steps is a list of them).
CONFIG_LIMITS = tuple(name for name in TrainingConfig.__dataclass_fields__ if name in LIMITS and name != "lr_steps")

def resample_context(split: Any, recipe: Any, config: TrainingConfig, device: Any,
                     backbone: str | None = None) -> ResampleContext | None:
    """The :class:`ResampleContext` for a recipe whose ``resample`` or ``Stage.feature_resample`` component
    declares ``wants_context = True`` (None otherwise, so other recipes never pay for the fingerprint)."""
    parts = [recipe.resample] + [s.feature_resample for s in recipe.stages or []]
    if not any(getattr(c, "wants_context", False) for c in parts):
        return None
    return ResampleContext(device=str(device), split_fingerprint=split.fingerprint(), backbone=backbone,
                           budget=config.generator_budget)


def lr_factor(config: TrainingConfig, epoch: int, epochs: int, warmup: bool = True) -> float:
    """Multiplier of the base learning rate in ``epoch`` (0-based) of a stage of ``epochs`` epochs.

    Linear warm-up over the first ``warmup_epochs`` (the first stage only: ``warmup``), then constant,
    cosine annealing to zero, or x0.1 steps at the ``lr_steps`` fractions of the stage.
    """
    if warmup and epoch < config.warmup_epochs:
        return (epoch + 1) / (config.warmup_epochs + 1)
    if config.lr_schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * epoch / max(epochs, 1)))
    if config.lr_schedule == "step":
        return 0.1 ** sum(epoch >= round(f * epochs) for f in config.lr_steps)
    return 1.0


def resolve_device(device: str = "auto") -> str:
    """'auto' picks CUDA when present; 'cuda' without a GPU is an error before any work."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BenchmarkError("--device cuda was asked for but no CUDA device is visible", "use --device cpu or auto")
    if device != "cpu" and not device.startswith("cuda"):
        raise BenchmarkError(f"device {device!r} is unknown", "use auto, cpu or cuda")
    return device


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch (CPU and every CUDA device); with ``deterministic``, also ask cuDNN
    for deterministic algorithms and cuBLAS for a fixed workspace, so a seed reproduces a run on the
    same device."""
    import random

    import torch

    if deterministic and "CUBLAS_WORKSPACE_CONFIG" not in os.environ:
        # Read by cuBLAS when its handle is created; without it, split reductions may vary run to run.
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # seeds the CUDA generators too
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic


def pin_threads(config: TrainingConfig) -> None:
    """Run this trial's torch operations on exactly ``config.cpu_threads`` threads (called as a fit starts;
    its predictions follow in the same process).

    A CPU convolution or matrix product splits its sums by thread, so the same trial trained on 1 and
    on 2 threads differs in the last digits. The count is therefore the suite's, never derived from
    the machine or from ``--workers``: a run with 1 worker, with 2, or resumed after a kill, trains
    every trial alike. Local workers each run one trial at a time, so ``--workers N`` uses N times
    ``cpu_threads`` cores.
    """
    import torch

    if torch.get_num_threads() != config.cpu_threads:
        torch.set_num_threads(config.cpu_threads)


def model_input(array: Any, device: Any) -> Any:
    """``array`` as a torch tensor on ``device`` in the standard row-major layout.

    NumPy gives a size-1 axis any stride, so the same (N, 1, H, W) images can arrive with channel
    stride 1 (a freshly built split: ``images[:, None][rows]``) or H*W (the same split read back from
    the cache). Torch reads the first as channels-last and convolves it with another oneDNN kernel
    (brgconv NHWC rather than the direct NCHW one), whose sums round differently in the last digit:
    the cause of scores that differed between an uninterrupted run and its resume. A standard layout
    makes the kernel depend on the shape alone. A scipy sparse matrix (TF-IDF rows on the sparse path)
    becomes :class:`~benchmark.models.sparse_rows.SparseRows`.
    """
    import scipy.sparse as sp
    import torch

    if sp.issparse(array):
        from benchmark.models.sparse_rows import SparseRows

        return SparseRows.from_scipy(array, device)
    return torch.as_tensor(standard_layout(np.ascontiguousarray(array))).to(device)



class TrainedModel(Protocol):
    """A fitted model: class probabilities for rows of the same kind as the split's X."""

    timings: dict[str, float]

    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
