"""The feature space of the fidelity measures, and the ``fidelity`` artifact of a generative seed row.

No Inception weights exist offline here, so images are compared in the penultimate-layer features of a
*reference network*, one per dataset split: the small CNN, trained with plain cross-entropy (Adam,
learning rate 1e-3) on the real training rows for a budget of its own (:data:`REFERENCE_BUDGET`, seed
:data:`REFERENCE_SEED`), whatever the suite's backbone and generator budget. It is cached by the split's
fingerprint and training rows like a generator (tensors only, read with ``torch.load(weights_only=True)``),
so every generative row of a dataset, in any suite and at any generator budget, is measured in the same
space and the figures compare across budgets and suites. Tabular rows and other feature vectors are
compared as features standardised with the real training rows' mean and standard deviation.
Memorisation is measured on the inputs themselves (pixels in [0, 1], standardised features), where a
copy is exactly at distance 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from benchmark.methods.base import GeneratorBudget, ResampleContext
from benchmark.methods.generative._fidelity import class_fidelity
from benchmark.methods.generative._nets import batches, module_state, seeded, to_unit

MAX_PER_CLASS = 1000  # rows of each set per class in the measures (pairwise distances stay small)
REFERENCE_SEED = 0
REFERENCE_BACKBONE = "small-cnn"
# The reference network's own budget, fixed: 20 passes at batch 128 (fashion-mnist-lt-mini: 100 steps,
# seconds on a CPU; fashion-mnist-lt: about 1,400 steps, a few minutes on two cores, once per split).
REFERENCE_BUDGET = GeneratorBudget(epochs=20, batch_size=128)


@dataclass(frozen=True)
class _Spec:
    modality: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    nominal_cardinalities: dict[int, int] | None = None
    vocab_size: int | None = None


class ReferenceNetwork:
    """The backbone trained on the real training images, whose penultimate features the measures use.
    It follows the generator contract so :class:`GeneratorCache` stores it."""

    name = "fidelity-reference"

    def __init__(self, backbone: str = REFERENCE_BACKBONE):
        self.backbone = backbone
        self.model: Any = None
        self.device = "cpu"

    def settings(self) -> dict[str, Any]:
        return {"backbone": self.backbone, "optimizer": "adam", "lr": 1e-3}

    def _build(self, shape: tuple[int, ...], num_classes: int) -> None:
        from benchmark.models.base import build_model

        self.shape, self.num_classes = tuple(int(s) for s in shape), int(num_classes)
        self.model = build_model(self.backbone, _Spec("image", self.shape), self.num_classes).to(self.device)

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def fit(self, X: np.ndarray, y: np.ndarray, *, budget: GeneratorBudget, device: str, seed: int) -> None:
        self.device = device
        torch.manual_seed(seed)  # the backbone's initial weights
        self._build(X.shape[1:], int(y.max()) + 1)
        x = to_unit(X, device)
        self.mean = x.mean(dim=(0, 2, 3), keepdim=True)[0]
        self.std = x.std(dim=(0, 2, 3), keepdim=True)[0].clamp_min(1e-3)
        labels = torch.as_tensor(y, device=device)
        optimiser = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.model.train()
        for idx in batches(len(y), budget, seeded(seed, device), device):
            loss = torch.nn.functional.cross_entropy(self.model(self._normalise(x[idx])), labels[idx])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        self.model.eval()

    def sample(self, counts: dict[int, int], *, seed: int) -> np.ndarray:
        raise NotImplementedError("the reference network embeds images; it does not generate them")

    def state_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "num_classes": self.num_classes, "mean": self.mean.cpu(),
                "std": self.std.cpu(), "model": module_state(self.model)[0]}

    def load_state_dict(self, state: dict[str, Any], *, device: str = "cpu") -> None:
        self.device = device
        self._build(tuple(state["shape"]), state["num_classes"])
        self.model.load_state_dict(state["model"])
        self.mean, self.std = state["mean"].to(device), state["std"].to(device)
        self.model.eval()

    @torch.no_grad()
    def embed(self, X: np.ndarray, chunk: int = 1024) -> np.ndarray:
        out = [self.model.features(self._normalise(to_unit(X[s:s + chunk], self.device))).float().cpu()
               for s in range(0, len(X), chunk)]
        return torch.cat(out).numpy() if out else np.zeros((0, self.model.embedding_dim), np.float32)


def _per_class(y: np.ndarray, classes: list[int], seed: int) -> dict[int, np.ndarray]:
    """Row indices of each class, at most MAX_PER_CLASS of them (a seeded subsample)."""
    rng = np.random.default_rng(seed)
    out = {}
    for c in classes:
        rows = np.flatnonzero(y == c)
        out[c] = np.sort(rng.choice(rows, MAX_PER_CLASS, replace=False)) if rows.size > MAX_PER_CLASS else rows
    return out


def reference_network(X: np.ndarray, y: np.ndarray, *, device: str, cache: tuple[Any, str]) -> ReferenceNetwork:
    """The split's reference network (trained on the real training images ``X``, ``y`` with
    :data:`REFERENCE_BUDGET`, or loaded from the cache). ``cache``: (cache folder, split fingerprint)."""
    from benchmark.methods.generative._cache import GeneratorCache

    reference = ReferenceNetwork()
    context = ResampleContext(device=device, cache_dir=cache[0], split_fingerprint=cache[1], budget=REFERENCE_BUDGET)
    GeneratorCache.for_context(context).get_or_fit(reference, X, y, context, REFERENCE_SEED)
    return reference


REFERENCE_FEATURES = (f"penultimate layer of {REFERENCE_BACKBONE} trained with cross-entropy on the real training "
                      f"images for the reference network's own budget ({REFERENCE_BUDGET.epochs} epochs, batch "
                      f"{REFERENCE_BUDGET.batch_size}, seed {REFERENCE_SEED}), the same for every suite and "
                      "generator budget")


def fidelity_artifact(X: np.ndarray, y: np.ndarray, samples: np.ndarray, labels: np.ndarray, classes: list[int], *,
                      device: str, cache: tuple[Any, str]) -> dict[str, Any]:
    """The ``fidelity`` artifact: per-class Frechet distance, precision, recall and memorised share of the
    generated rows of ``classes`` against the real training rows of the same class, with the feature space
    named. ``cache``: (cache folder, split fingerprint) where the reference network is kept."""
    real_rows, gen_rows = _per_class(y, classes, 0), _per_class(labels, classes, 1)
    if X.ndim == 4 and X.dtype == np.uint8:
        reference = reference_network(X, y, device=device, cache=cache)
        features = REFERENCE_FEATURES

        def feats(A: np.ndarray) -> np.ndarray:
            return reference.embed(A)

        def inputs(A: np.ndarray) -> np.ndarray:
            return A.reshape(len(A), -1).astype(np.float32) / 255.0
    else:
        flat = X.reshape(len(X), -1).astype(np.float64)
        mean, std = flat.mean(0), flat.std(0)
        std[std < 1e-12] = 1.0
        features = "the training features standardised with the real training rows' mean and standard deviation"

        def feats(A: np.ndarray) -> np.ndarray:
            return (A.reshape(len(A), -1).astype(np.float64) - mean) / std

        inputs = feats
    per_class = {}
    for c in classes:
        real, gen = X[real_rows[c]], samples[gen_rows[c]]
        per_class[str(c)] = class_fidelity(feats(real), feats(gen), inputs(real), inputs(gen))
    mean_of = {}
    for key in ("frechet_distance", "precision", "recall", "memorised_share"):
        values = [m[key] for m in per_class.values() if m[key] is not None]
        mean_of[key] = round(float(np.mean(values)), 6) if values else None
    return {"format": "fidelity/2", "features": features, "memorisation_space": "inputs (pixels in [0, 1] or "
            "standardised features)", "k": 3, "memorisation_percentile": 5, "classes": per_class, "mean": mean_of}
