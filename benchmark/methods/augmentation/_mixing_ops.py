"""The mixing operations behind the mixup-family rows: partners, mixing factors, masks and soft labels.

A mixing augmentation pairs each sample i of a batch with a partner j (a random permutation of the
batch), blends the inputs with a factor lambda (the share of x_i) and the one-hot labels with a label
factor (lambda itself, or Remix's rebalanced factor), giving soft targets (B, C) whose rows sum to 1.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.errors import BenchmarkError


def check_mixable(x: torch.Tensor) -> None:
    if not x.is_floating_point():
        raise BenchmarkError(
            f"mixing needs float inputs; the batch holds {x.dtype} values of shape {tuple(x.shape)}",
            "token ids cannot be mixed: use the 'tfidf' or 'minilm' text features, or image/tabular data",
        )


def one_hot(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Class indices -> one-hot rows; soft labels (B, C) pass through as floats."""
    if y.dim() == 2:
        return y.float()
    return F.one_hot(y.long(), num_classes).float()


def mix_targets(
    y: torch.Tensor, partner: torch.Tensor, label_factor: torch.Tensor, num_classes: int
) -> torch.Tensor:
    """label_factor_i * y_i + (1 - label_factor_i) * y_partner(i): soft targets (B, C)."""
    t = one_hot(y, num_classes)
    w = label_factor.view(-1, 1).to(t)
    return w * t + (1 - w) * t[partner]


def sample_lambda(rng: np.random.Generator, alpha: float) -> float:
    """lambda ~ Beta(alpha, alpha) (alpha = 0 means no mixing: lambda = 1)."""
    if alpha < 0:
        raise BenchmarkError(
            f"mixing got alpha={alpha}", "use alpha >= 0 (the Beta distribution's parameter)"
        )
    return float(rng.beta(alpha, alpha)) if alpha > 0 else 1.0


def cutmix_box(lam: float, h: int, w: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """CutMix's box (Yun et al. 2019): sides sqrt(1 - lambda) of the image's, centre uniform, clipped
    to the image. Returns (top, bottom, left, right) in pixels."""
    cut = math.sqrt(1.0 - lam)
    ch, cw = int(h * cut), int(w * cut)
    cy, cx = int(rng.integers(h)), int(rng.integers(w))
    top, bottom = max(cy - ch // 2, 0), min(cy + ch // 2, h)
    left, right = max(cx - cw // 2, 0), min(cx + cw // 2, w)
    return top, bottom, left, right


def cutmix(
    x: torch.Tensor, partner: torch.Tensor, lam: float, rng: np.random.Generator
) -> tuple[torch.Tensor, float]:
    """Paste the partner's box into each image; returns the images and the kept share of x_i
    (1 - pasted area / image area, the label weight of x_i, exact after clipping)."""
    if x.dim() != 4:
        raise BenchmarkError(
            f"CutMix needs images (B, C, H, W), got a batch of shape {tuple(x.shape)}",
            "use MixUp for feature vectors",
        )
    h, w = x.shape[-2:]
    top, bottom, left, right = cutmix_box(lam, h, w, rng)
    out = x.clone()
    out[:, :, top:bottom, left:right] = x[partner][:, :, top:bottom, left:right]
    return out, 1.0 - (bottom - top) * (right - left) / (h * w)


def fourier_mask(lam: float, h: int, w: int, decay_power: float, rng: np.random.Generator) -> np.ndarray:
    """FMix's binary mask (Harris et al. 2020): a random complex spectrum whose amplitudes fall as
    1 / f^decay_power, transformed to a real grey image; its round(lam * H * W) largest pixels are 1."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    freq = np.sqrt(fy**2 + fx**2)
    scale = 1.0 / np.maximum(freq, 1.0 / max(h, w)) ** decay_power
    spectrum = (rng.standard_normal(freq.shape) + 1j * rng.standard_normal(freq.shape)) * scale
    grey = np.fft.irfft2(spectrum, s=(h, w))
    k = int(round(lam * h * w))
    mask = np.zeros(h * w, dtype=np.float32)
    mask[np.argsort(-grey.ravel(), kind="stable")[:k]] = 1.0
    return mask.reshape(h, w)


def fmix(
    x: torch.Tensor, partner: torch.Tensor, lam: float, decay_power: float, rng: np.random.Generator
) -> tuple[torch.Tensor, float]:
    """Blend images through one Fourier mask per batch; returns the images and the mask's share of x_i."""
    if x.dim() != 4:
        raise BenchmarkError(
            f"FMix needs images (B, C, H, W), got a batch of shape {tuple(x.shape)}",
            "use MixUp for feature vectors",
        )
    h, w = x.shape[-2:]
    mask = torch.as_tensor(fourier_mask(lam, h, w, decay_power, rng), device=x.device, dtype=x.dtype)
    return mask * x + (1 - mask) * x[partner], float(mask.mean())


def remix_label_factor(
    lam: torch.Tensor | float, n_i: torch.Tensor, n_j: torch.Tensor, kappa: float, tau: float
) -> torch.Tensor:
    """Remix's label factor (Chou et al. 2020, Eq. 4) for x_mix = lam x_i + (1 - lam) x_j:

    0 when n_i / n_j >= kappa and lam < tau (the label goes wholly to the minority partner j);
    1 when n_i / n_j <= 1 / kappa and 1 - lam < tau (wholly to the minority sample i);
    lam otherwise (plain mixup).
    """
    n_i, n_j = n_i.float(), n_j.float()
    lam = torch.as_tensor(lam, dtype=torch.float32, device=n_i.device).expand_as(n_i)
    ratio = n_i / n_j.clamp_min(1e-12)
    factor = torch.where((ratio >= kappa) & (lam < tau), torch.zeros_like(lam), lam)
    return torch.where((ratio <= 1.0 / kappa) & (1 - lam < tau), torch.ones_like(lam), factor)
