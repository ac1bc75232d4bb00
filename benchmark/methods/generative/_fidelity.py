"""Fidelity and memorisation of generated samples: pure functions on feature arrays.

- :func:`frechet_distance`: the Frechet distance between Gaussians fitted to two sets of features
  (Heusel et al. 2017, the FID formula) ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``. The
  trace of the matrix square root is computed from the eigenvalues of ``S_a^(1/2) S_b S_a^(1/2)``
  (symmetric positive semi-definite, so an eigen-decomposition is exact and stable where scipy's
  ``sqrtm`` of the non-symmetric product can return complex noise); identical sets give 0.
- :func:`precision_recall`: improved precision and recall (Kynkaanniemi et al., NeurIPS 2019): each
  set's manifold is the union of balls around its points with radius the distance to the point's k-th
  nearest neighbour in the same set (k = 3 in the paper); precision is the share of generated samples
  inside the real manifold, recall the share of real samples inside the generated one.
- :func:`memorisation_share`: the share of generated samples whose nearest real (training) sample is
  closer than the 5th percentile of the real samples' own nearest-neighbour distances (each real sample
  to its nearest *other* real sample). A generator that returns copies of training rows scores 1; a
  fresh draw from the data's distribution scores about 0.05 or less.
"""

from __future__ import annotations

import numpy as np


def _as_2d(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(x.shape[0], -1)


def pairwise_distances(a: np.ndarray, b: np.ndarray, block: int = 2048) -> np.ndarray:
    """Euclidean distances (len(a), len(b)), in blocks of rows (exact, float64)."""
    a, b = _as_2d(a), _as_2d(b)
    bb = (b * b).sum(1)
    out = np.empty((a.shape[0], b.shape[0]))
    for s in range(0, a.shape[0], block):
        q = a[s:s + block]
        d2 = (q * q).sum(1)[:, None] + bb[None, :] - 2.0 * q @ b.T
        out[s:s + block] = np.sqrt(np.maximum(d2, 0.0))
    return out


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance of Gaussians fitted to feature sets ``a`` and ``b`` (N, D) (at least 2 rows each)."""
    a, b = _as_2d(a), _as_2d(b)
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ValueError(f"the Frechet distance needs at least 2 samples per set, got {a.shape[0]} and {b.shape[0]}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    middle = root_a @ cov_b @ root_a
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_root)
    return max(value, 0.0)


def knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row of ``x`` to its k-th nearest other row."""
    d = pairwise_distances(x, x)
    np.fill_diagonal(d, np.inf)
    return np.sort(d, axis=1)[:, k - 1]


def precision_recall(real: np.ndarray, generated: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall of ``generated`` against ``real`` (k-NN manifolds; needs > k rows each)."""
    real, generated = _as_2d(real), _as_2d(generated)
    if real.shape[0] <= k or generated.shape[0] <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples per set, "
                         f"got {real.shape[0]} real and {generated.shape[0]} generated")
    d = pairwise_distances(generated, real)  # (G, R)
    precision = float((d <= knn_radii(real, k)[None, :]).any(axis=1).mean())
    recall = float((d.T <= knn_radii(generated, k)[None, :]).any(axis=1).mean())
    return precision, recall


def memorisation_share(real: np.ndarray, generated: np.ndarray, percentile: float = 5.0) -> float:
    """Share of ``generated`` rows nearer to a ``real`` row than the ``percentile``-th percentile of the real
    rows' nearest-other-real distances (needs at least 2 real rows)."""
    real, generated = _as_2d(real), _as_2d(generated)
    if real.shape[0] < 2 or generated.shape[0] == 0:
        raise ValueError(f"memorisation needs 2 real and 1 generated sample, got {real.shape[0]} and "
                         f"{generated.shape[0]}")
    threshold = np.percentile(knn_radii(real, 1), percentile)
    nearest = pairwise_distances(generated, real).min(axis=1)
    # a copy is at distance 0, and a real set with duplicate rows has threshold 0: copies still count
    return float(np.mean((nearest < threshold) | (nearest <= 1e-12)))


def class_fidelity(real_features: np.ndarray, generated_features: np.ndarray, real_inputs: np.ndarray,
                   generated_inputs: np.ndarray, k: int = 3) -> dict[str, float | int | None]:
    """The measures of one class: Frechet distance and precision/recall on the reference features,
    memorisation on the inputs (pixels in [0, 1], standardised tabular rows). A measure the sample
    sizes do not allow is None."""
    out: dict[str, float | int | None] = {"n_real": int(len(real_features)), "n_generated": int(len(generated_features))}
    try:
        out["frechet_distance"] = round(frechet_distance(real_features, generated_features), 6)
    except ValueError:
        out["frechet_distance"] = None
    try:
        p, r = precision_recall(real_features, generated_features, k)
        out["precision"], out["recall"] = round(p, 6), round(r, 6)
    except ValueError:
        out["precision"] = out["recall"] = None
    try:
        out["memorised_share"] = round(memorisation_share(real_inputs, generated_inputs), 6)
    except ValueError:
        out["memorised_share"] = None
    return out
