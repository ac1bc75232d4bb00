"""Models for rows of numbers: the MLP denoiser of TabDDPM and LDMLR, and the adapter to ``ctgan``.

``ConditionalMLPDenoiser`` follows TabDDPM's ``MLPDiffusion`` (Kotelnikov et al., ICML 2023): the
row is projected to a hidden width, the sinusoidal timestep embedding (diffusers' ``Timesteps`` and
``TimestepEmbedding``) and a learned class embedding are added to it, and an MLP predicts the noise.
The class embedding has one extra row, the null class of classifier-free guidance.

``CtganSynthesizer`` fits CTGAN or TVAE (Xu et al., NeurIPS 2019) from the ``ctgan`` package on the
training rows. CTGAN gets the class label as one more discrete column, so it learns the joint
distribution of features and label and the minority classes borrow the structure the majority shows.
Rows of class c are drawn with CTGAN's conditional vector set to c (its training-by-sampling and the
generator's cross-entropy term teach it to honour that condition). TVAE has no condition: one TVAE is
fitted per class on that class's rows (together they see every training row once per epoch, the same
compute as one model), and class c's rows come from class c's model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from benchmark.errors import BenchmarkError, ResourceUnavailableError


class ConditionalMLPDenoiser(nn.Module):
    """eps(x_t, t, label) for (B, dim) rows: TabDDPM's MLP, class embedding added to the time embedding."""

    def __init__(self, dim: int, num_classes: int, hidden: int = 256, depth: int = 3, embed: int = 128,
                 dropout: float = 0.0):
        from diffusers.models.embeddings import TimestepEmbedding, Timesteps

        super().__init__()
        if dim < 1 or depth < 1 or hidden < 1:
            raise BenchmarkError(f"MLP denoiser with dim={dim}, depth={depth}, hidden={hidden}",
                                 "give at least one feature, one layer and one hidden unit")
        self.time_proj = Timesteps(embed, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embed = TimestepEmbedding(embed, embed)
        self.label_embed = nn.Embedding(num_classes + 1, embed)  # the last row: the null class
        self.project = nn.Linear(dim, embed)
        layers: list[nn.Module] = []
        width = embed
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, dim))
        self.mlp = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        emb = self.time_embed(self.time_proj(t).to(x.dtype)) + self.label_embed(labels)
        return self.mlp(self.project(x) + emb)


def ctgan_version() -> str:
    """The installed ``ctgan`` version; :class:`ResourceUnavailableError` when it is missing."""
    try:
        import ctgan
    except ImportError as exc:
        raise ResourceUnavailableError("the 'ctgan' package is not installed (CTGAN and TVAE come from it)",
                                       "pip install 'imbalance-benchmark[generative]'") from exc
    return str(ctgan.__version__)


def ctgan_batch_size(batch_size: int, n_rows: int) -> int:
    """A batch size CTGAN accepts (a multiple of its pac = 10) no larger than the rows (at least 10)."""
    return max(10, min(int(batch_size), n_rows) // 10 * 10)


class CtganSynthesizer:
    """CTGAN or TVAE of the ``ctgan`` package, class-conditional; see the module docstring.

    ``nominal`` lists the integer-coded nominal feature columns, handled as discrete columns (CTGAN's
    one-hot encoding and training-by-sampling); the other columns get its mode-specific normalisation.
    ``models`` maps a class to the model that samples it (CTGAN: one shared model; TVAE: one per class).
    """

    def __init__(self, kind: str, nominal: tuple[int, ...] = (), *, epochs: int, batch_size: int,
                 device: str = "cpu"):
        if kind not in ("ctgan", "tvae"):
            raise BenchmarkError(f"tabular synthesiser {kind!r}", "use 'ctgan' or 'tvae'")
        self.kind, self.nominal, self.epochs, self.batch_size = kind, tuple(nominal), int(epochs), int(batch_size)
        self.device = str(device)
        self.models: dict[int, Any] = {}
        self.columns: list[str] = []

    def _frame(self, X: np.ndarray, y: np.ndarray | None = None):
        import pandas as pd

        frame = pd.DataFrame({c: X[:, j] for j, c in enumerate(self.columns)})
        for j in self.nominal:
            frame[self.columns[j]] = X[:, j].astype(np.int64)
        if y is not None:
            frame["label"] = y.astype(np.int64)
        return frame

    def _new_model(self, n_rows: int, seed: int):
        from ctgan import CTGAN, TVAE

        batch, gpu = ctgan_batch_size(self.batch_size, n_rows), self.device.startswith("cuda")
        model = (CTGAN(epochs=self.epochs, batch_size=batch, enable_gpu=gpu) if self.kind == "ctgan"
                 else TVAE(epochs=self.epochs, batch_size=batch, enable_gpu=gpu))
        model.set_random_state(int(seed) % 2**32)
        return model

    def fit(self, X: np.ndarray, y: np.ndarray, seed: int) -> CtganSynthesizer:
        ctgan_version()
        self.columns = [f"x{j}" for j in range(X.shape[1])]
        discrete = [self.columns[j] for j in self.nominal]
        classes = [int(c) for c in np.unique(y)]
        if self.kind == "ctgan":  # one model, the label a discrete column it is conditioned on
            model = self._new_model(len(y), seed)
            model.fit(self._frame(X, y), discrete_columns=[*discrete, "label"])
            self.models = dict.fromkeys(classes, model)
        else:  # TVAE samples unconditionally: one model per class, on that class's rows (same total rows)
            small = [c for c in classes if int(np.sum(y == c)) < 2]
            if small:
                raise BenchmarkError(f"TVAE needs two training rows of each class; classes {small} have one",
                                     "use a dataset with at least two training rows per class")
            self.models = {}
            for c in classes:
                model = self._new_model(int(np.sum(y == c)), seed + c)
                model.fit(self._frame(X[y == c]), discrete_columns=discrete)
                self.models[c] = model
        return self

    def sample(self, c: int, n: int, seed: int) -> np.ndarray:
        """n rows of class ``c`` as float32 features: CTGAN's conditional vector set to c, or c's TVAE."""
        if int(c) not in self.models:
            raise BenchmarkError(f"{self.kind.upper()} was asked for class {c}; it was fitted on {sorted(self.models)}",
                                 "sample only classes of the training rows (after fit)")
        model = self.models[int(c)]
        model.set_random_state(int(seed) % 2**32)
        rows = (model.sample(n, condition_column="label", condition_value=int(c)) if self.kind == "ctgan"
                else model.sample(n))
        return rows[self.columns].to_numpy(dtype=np.float32)[:n]

    def set_device(self, device: str) -> None:
        import torch as _torch

        self.device = str(device)
        for model in {id(m): m for m in self.models.values()}.values():
            model.set_device(_torch.device(device))
