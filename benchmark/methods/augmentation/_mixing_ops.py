"""The mixing operations behind the mixup-family rows: partners, mixing factors, masks and soft labels.

A mixing augmentation pairs each sample i of a batch with a partner j (a random permutation of the
batch), blends the inputs with a factor lambda (the share of x_i) and the one-hot labels with a label
factor (lambda itself, or Remix's rebalanced factor), giving soft targets (B, C) whose rows sum to 1.

Every draw here is a torch op on the batch's device with the generator passed in (the trial's
``state.generator``; None: torch's default generator), and every data-dependent choice is a tensor:
lambda is a 0-dim tensor, CutMix's box is a mask from comparisons of its bounds with the pixel
coordinates, FMix's mask keeps the pixels whose rank is below round(lambda * H * W). Nothing is read
on the host, so the ops can be recorded in a CUDA graph and draw fresh numbers at every replay.
"""

from __future__ import annotations

import torch

from benchmark.errors import BenchmarkError


def check_mixable(x: torch.Tensor) -> None:
    if not x.is_floating_point():
        raise BenchmarkError(
            f"mixing needs float inputs; the batch holds {x.dtype} values of shape {tuple(x.shape)}",
            "token ids cannot be mixed: use the 'tfidf' or 'minilm' text features, or image/tabular data",
        )


def check_images(x: torch.Tensor, what: str) -> None:
    if x.dim() != 4:
        raise BenchmarkError(
            f"{what} needs images (B, C, H, W), got a batch of shape {tuple(x.shape)}",
            "use MixUp for feature vectors",
        )


def one_hot(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Class indices -> one-hot rows; soft labels (B, C) pass through as floats. A comparison with the
    class indices rather than ``F.one_hot``, which reads the labels' range on the host off CUDA."""
    if y.dim() == 2:
        return y.float()
    return (y.long().unsqueeze(1) == torch.arange(num_classes, device=y.device)).float()


def mix_targets(
    y: torch.Tensor, partner: torch.Tensor, label_factor: torch.Tensor, num_classes: int
) -> torch.Tensor:
    """label_factor_i * y_i + (1 - label_factor_i) * y_partner(i): soft targets (B, C)."""
    t = one_hot(y, num_classes)
    w = label_factor.reshape(-1, 1).to(t)
    return w * t + (1 - w) * t[partner]


def beta_lambda(alpha: float, gen: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """lambda ~ Beta(alpha, alpha) as a 0-dim float64 tensor on ``device``: G1 / (G1 + G2) with G1, G2
    ~ Gamma(alpha, 1) (the construction torch.distributions.Beta uses, which takes no generator).
    Float64 keeps small alphas away from 0 / 0: a Gamma(0.1) draw underflows float32 one time in ~6,000."""
    if alpha <= 0:
        raise BenchmarkError(f"mixing got alpha={alpha}", "use alpha > 0 (lambda ~ Beta(alpha, alpha))")
    g = torch._standard_gamma(torch.full((2,), float(alpha), dtype=torch.float64, device=device), generator=gen)
    return g[0] / (g[0] + g[1])


def coin(p: float, gen: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """A 0-dim boolean tensor, True with probability ``p``."""
    return torch.rand((), generator=gen, device=device) < p


def cutmix_mask(
    lam: torch.Tensor, h: int, w: int, gen: torch.Generator | None, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """CutMix's box (Yun et al. 2019): sides floor(sqrt(1 - lambda) * side), centre uniform over the
    pixels, clipped to the image (the authors' ``rand_bbox``). Returns the (H, W) boolean mask of the
    pasted pixels and the kept share of x_i (1 - pasted area / image area, exact after clipping), a
    0-dim float64 tensor."""
    cut = torch.sqrt(1.0 - lam.double())
    half_h, half_w = torch.floor(torch.floor(h * cut) / 2), torch.floor(torch.floor(w * cut) / 2)
    cy = torch.randint(0, h, (), generator=gen, device=device).double()
    cx = torch.randint(0, w, (), generator=gen, device=device).double()
    top, bottom = (cy - half_h).clamp(min=0), (cy + half_h).clamp(max=h)
    left, right = (cx - half_w).clamp(min=0), (cx + half_w).clamp(max=w)
    rows = torch.arange(h, device=device, dtype=torch.float64)
    cols = torch.arange(w, device=device, dtype=torch.float64)
    mask = ((rows >= top) & (rows < bottom)).view(h, 1) & ((cols >= left) & (cols < right)).view(1, w)
    return mask, 1.0 - (bottom - top) * (right - left) / (h * w)


def fourier_mask(
    lam: torch.Tensor, h: int, w: int, decay_power: float, gen: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """FMix's binary mask (Harris et al. 2020) as an (H, W) float tensor: a random complex spectrum whose
    amplitudes fall as 1 / f^decay_power, transformed to a real grey image; its round(lambda * H * W)
    largest pixels are 1 (ties broken by position, as a stable sort)."""
    fy = torch.fft.fftfreq(h, device=device).view(h, 1)
    fx = torch.fft.rfftfreq(w, device=device).view(1, -1)
    freq = torch.sqrt(fy**2 + fx**2)
    scale = 1.0 / freq.clamp(min=1.0 / max(h, w)) ** decay_power
    real = torch.randn(freq.shape, generator=gen, device=device)
    imag = torch.randn(freq.shape, generator=gen, device=device)
    grey = torch.fft.irfft2(torch.complex(real, imag) * scale, s=(h, w))
    order = torch.argsort(-grey.flatten(), stable=True)
    rank = torch.empty_like(order).scatter_(0, order, torch.arange(h * w, device=device))
    return (rank < torch.round(lam.double() * (h * w))).view(h, w).float()


def remix_label_factor(
    lam: torch.Tensor | float, n_i: torch.Tensor, n_j: torch.Tensor, kappa: float, tau: float
) -> torch.Tensor:
    """Remix's label factor (Chou et al. 2020, Eq. 4) for x_mix = lam x_i + (1 - lam) x_j:

    0 when n_i / n_j >= kappa and lam < tau (the label goes wholly to the minority partner j);
    1 when n_i / n_j <= 1 / kappa and 1 - lam < tau (wholly to the minority sample i);
    lam otherwise (plain mixup).

    ``lam`` may be a number or a 0-dim tensor on the counts' device (no host read either way).
    """
    n_i, n_j = n_i.float(), n_j.float()
    lam = torch.as_tensor(lam, dtype=torch.float32, device=n_i.device).expand_as(n_i)
    ratio = n_i / n_j.clamp_min(1e-12)
    factor = torch.where((ratio >= kappa) & (lam < tau), torch.zeros_like(lam), lam)
    return torch.where((ratio <= 1.0 / kappa) & (1 - lam < tau), torch.ones_like(lam), factor)
