"""DCGAN-style convolutional encoders and decoders sized from the image shape, and image helpers.

The encoder halves the image with stride-2 4x4 convolutions (DCGAN: batch norm and leaky ReLU after
every convolution but the first) while the side is even and above 4 (28 -> 14 -> 7, 32 -> 16 -> 8 ->
4, 8 -> 4), doubling the channels at each step from ``width``; a linear layer maps the last feature map
to the code. The decoder mirrors it: a linear layer to the smallest feature map, stride-2 4x4
transposed convolutions (batch norm, ReLU) back to the full side, and a 3x3 convolution to the image's
channels with a sigmoid, so decoded images lie in [0, 1]. This is DeepSMOTE's architecture (its MNIST
encoder: 64-128-256-512 channels, 4x4 stride-2 convolutions, a 300-dimensional code) made to follow any
shape the benchmark has: 28x28x1, 32x32x3 and the tests' 8x8x1.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from benchmark.errors import BenchmarkError


def downsampling_steps(side: int) -> int:
    """How many stride-2 halvings the side takes: while it is even and above 4."""
    steps = 0
    while side % 2 == 0 and side > 4:
        side //= 2
        steps += 1
    return steps


def check_image_rows(X: np.ndarray, who: str) -> tuple[int, int, int]:
    """(C, H, W) of uint8 (N, C, H, W) images with H == W; otherwise a BenchmarkError naming ``who``."""
    X = np.asarray(X)
    if X.ndim != 4 or X.dtype != np.uint8 or X.shape[2] != X.shape[3]:
        raise BenchmarkError(f"{who} got {X.dtype} rows of shape {X.shape}",
                             "it generates square uint8 images (N, C, H, W): use it on image data (space 'input')")
    return int(X.shape[1]), int(X.shape[2]), int(X.shape[3])


class ConvEncoder(nn.Module):
    """Image in [0, 1] (B, C, H, H) -> (B, out_dim); ``features`` ends at the flattened last map."""

    def __init__(self, shape: tuple[int, int, int], width: int, out_dim: int):
        super().__init__()
        c, h, _ = shape
        steps = downsampling_steps(h)
        layers: list[nn.Module] = []
        channels = c
        for i in range(steps):
            out = width * 2**i
            layers += [nn.Conv2d(channels, out, 4, 2, 1, bias=i == 0)]
            layers += [nn.BatchNorm2d(out)] if i > 0 else []
            layers += [nn.LeakyReLU(0.2, inplace=True)]
            channels = out
        if steps == 0:  # odd or tiny sides: one shape-keeping convolution
            layers += [nn.Conv2d(channels, width, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True)]
            channels = width
        side = h // 2**steps
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.feature_dim = channels * side * side
        self.out = nn.Linear(self.feature_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x))


class ConvDecoder(nn.Module):
    """(B, in_dim) -> image in [0, 1] (B, C, H, H), the mirror of :class:`ConvEncoder`."""

    def __init__(self, shape: tuple[int, int, int], width: int, in_dim: int):
        super().__init__()
        c, h, _ = shape
        steps = downsampling_steps(h)
        self.channels = width * 2 ** max(steps - 1, 0)
        self.side = h // 2**steps
        self.project = nn.Sequential(nn.Linear(in_dim, self.channels * self.side**2),
                                     nn.BatchNorm1d(self.channels * self.side**2), nn.ReLU(inplace=True))
        layers: list[nn.Module] = []
        channels = self.channels
        for i in reversed(range(steps - 1)):
            out = width * 2**i
            layers += [nn.ConvTranspose2d(channels, out, 4, 2, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU(True)]
            channels = out
        if steps >= 1:
            layers += [nn.ConvTranspose2d(channels, channels, 4, 2, 1, bias=False), nn.BatchNorm2d(channels),
                       nn.ReLU(True)]
        layers += [nn.Conv2d(channels, c, 3, 1, 1), nn.Sigmoid()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.project(z).view(z.shape[0], self.channels, self.side, self.side)
        return self.body(x)


def to_unit(X: np.ndarray | torch.Tensor, device: str | torch.device) -> torch.Tensor:
    """uint8 images -> float32 in [0, 1] on ``device``."""
    return torch.as_tensor(np.asarray(X)).to(device).float().div_(255.0)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Images in [0, 1] -> uint8 (rounded, clipped) on the host."""
    return x.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy()


def seeded(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch generator on ``device`` seeded by ``seed`` (every draw of a generator comes from one)."""
    gen = torch.Generator(device=torch.device(device))
    gen.manual_seed(int(seed) % 2**63)
    return gen


def batches(n: int, budget, gen: torch.Generator, device: str | torch.device, steps: int | None = None):
    """Index tensors of ``steps`` batches (default the budget's steps over ``n`` rows), each a slice of a
    fresh permutation per pass."""
    steps = budget.steps(n) if steps is None else steps
    size = min(int(budget.batch_size), n)
    order = torch.randperm(n, generator=gen, device=device)
    pos = 0
    for _ in range(steps):
        if pos + size > n:
            order, pos = torch.randperm(n, generator=gen, device=device), 0
        yield order[pos:pos + size]
        pos += size


def module_state(*modules: nn.Module) -> list[dict[str, torch.Tensor]]:
    """State dicts of ``modules`` on the host (for :meth:`Generator.state_dict`)."""
    return [{k: v.detach().cpu() for k, v in m.state_dict().items()} for m in modules]
