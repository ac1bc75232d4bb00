"""DeepSMOTE (Dablain, Krawczyk and Chawla, IEEE TNNLS 2022): SMOTE in the code space of an autoencoder,
as the authors' code (``dd1github/DeepSMOTE``, ``DeepSMOTE_MNIST.py`` and ``GenerateSamples.py``) runs it.

Networks (:class:`DeepSMOTEEncoder`, :class:`DeepSMOTEDecoder`): the authors' encoder is four 4x4
convolutions without bias, 64-128-256-512 channels, stride 2 (28 -> 14 -> 7 -> 3 -> 1), batch norm after
all but the first, leaky ReLU (0.2), then a linear layer from the 512 channels of the 1x1 map to a
300-dimensional code. Their decoder is a linear layer to 512 x 7 x 7 with ReLU, two stride-1 4x4
transposed convolutions (7 -> 10 -> 13; 256 and 128 channels, batch norm, ReLU) and a stride-2 4x4
transposed convolution to the image (13 -> 28) with tanh. At 28x28 these are their networks layer for
layer. Other sides follow the same plan: the encoder's last convolution becomes a valid convolution over
what is left where a stride-2 one would not end at 1x1 (the authors' 32x32 variant: kernel 4, stride 1),
and the decoder starts from the side that the same three transposed convolutions take to the image (9
for 32x32; below 16 pixels their two middle kernels shrink so the side stays positive, with output padding
for odd sides).

Training, one step as theirs: the reconstruction MSE of a batch, plus the penalty: a class drawn uniformly,
up to a batch of its images in random order, their codes *detached*, both codes and images rotated by the
same permutation (their ``xcplus``), the decoded codes compared (MSE) with the rotated images; the two
losses are summed and one Adam step (learning rate 2e-4) updates both networks, so the penalty is an
extra class-by-class reconstruction term for the decoder only. The weights of the pass with the lowest
mean training loss are kept. Sampling as theirs: each class's codes (encoder in eval mode), a base code
drawn uniformly, one of its 5 nearest same-class codes drawn uniformly, a point uniformly on the segment,
decoded; every class is topped up to the majority class's count.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from benchmark.errors import BenchmarkError
from benchmark.methods._papers import DEEPSMOTE_BIB, SMOTE_BIB
from benchmark.methods.base import MethodContext, Recipe, register_method
from benchmark.methods.generative._base import GenerativeOversampler, Generator, GeneratorBudget
from benchmark.methods.generative._nets import (
    batches,
    check_image_rows,
    module_state,
    seeded,
    to_uint8,
    to_unit,
)

ARCHITECTURE = "dd1github/DeepSMOTE@13b0063"  # part of the cache key: entries of earlier networks never load


class DeepSMOTEEncoder(nn.Module):
    """The authors' encoder, (B, C, H, H) -> (B, latent_dim) (see the module docstring for other sides)."""

    def __init__(self, shape: tuple[int, int, int], width: int = 64, latent_dim: int = 300):
        super().__init__()
        channels, side, _ = shape
        layers: list[nn.Module] = []
        for i in range(4):
            out = width * 2**i
            if i < 3:
                kernel, stride, pad = (4, 2, 1) if side >= 2 else (1, 1, 0)
            else:  # the last one ends at 1x1: stride 2 where that gets there (28: 3 -> 1), else a valid conv
                kernel, stride, pad = (4, 2, 1) if side // 2 == 1 else (side, 1, 0)
            layers.append(nn.Conv2d(channels, out, kernel, stride, pad, bias=False))
            layers += [nn.BatchNorm2d(out)] if i > 0 else []
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            channels, side = out, (side + 2 * pad - kernel) // stride + 1
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Linear(channels, latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).flatten(1))


def decoder_plan(side: int) -> tuple[int, int, int]:
    """(starting side, kernel of the two stride-1 transposed convolutions, output padding of the last one)
    for images of ``side`` pixels; (7, 4, 0) at 28 as in the authors' decoder."""
    if side < 4:
        raise BenchmarkError(f"DeepSMOTE on {side}x{side} images", "use images of at least 4x4 pixels")
    before_last, pad = divmod(side - 2, 2)  # a stride-2 4x4 transposed conv maps s to 2 s + 2 (+ padding)
    kernel = 4 if before_last >= 7 else 1 + (before_last - 1) // 2
    return before_last - 2 * (kernel - 1), kernel, pad


class DeepSMOTEDecoder(nn.Module):
    """The authors' decoder, (B, latent_dim) -> (B, C, H, H) in [-1, 1] (tanh)."""

    def __init__(self, shape: tuple[int, int, int], width: int = 64, latent_dim: int = 300):
        super().__init__()
        channels, side, _ = shape
        self.start, kernel, pad = decoder_plan(side)
        self.width = width
        self.fc = nn.Sequential(nn.Linear(latent_dim, width * 8 * self.start**2), nn.ReLU())
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(width * 8, width * 4, kernel), nn.BatchNorm2d(width * 4), nn.ReLU(True),
            nn.ConvTranspose2d(width * 4, width * 2, kernel), nn.BatchNorm2d(width * 2), nn.ReLU(True),
            nn.ConvTranspose2d(width * 2, channels, 4, stride=2, output_padding=pad), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.fc(z).view(-1, self.width * 8, self.start, self.start))


def rotation(n: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The authors' permutation of the penalty batch (``xcplus``): row i takes row i + 1, the last row 0."""
    return torch.roll(torch.arange(n, device=device), -1)


def penalty_rows(y: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """Rows of the penalty: a class drawn uniformly, then up to ``size`` of its rows in random order."""
    classes = torch.unique(y)
    c = classes[torch.randint(len(classes), (1,), generator=gen, device=y.device)]
    rows = torch.nonzero(y == c).flatten()
    return rows[torch.randperm(rows.numel(), generator=gen, device=y.device)[:size]]


def deepsmote_step(encoder: nn.Module, decoder: nn.Module, optimiser: torch.optim.Optimizer, batch: torch.Tensor,
                   class_batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One training step of the authors' code: reconstruction MSE of ``batch`` plus the penalty on
    ``class_batch`` (images of one class), summed, one step of both networks. Returns the two losses."""
    optimiser.zero_grad(set_to_none=True)
    reconstruction = nn.functional.mse_loss(decoder(encoder(batch)), batch)
    if class_batch.shape[0] > 1:  # the authors' batch norm fails on one row; a rotation of one is the identity
        codes = encoder(class_batch).detach()  # the penalty teaches the decoder only
        perm = rotation(class_batch.shape[0], class_batch.device)
        penalty = nn.functional.mse_loss(decoder(codes[perm]), class_batch[perm])
    else:
        penalty = reconstruction.new_zeros(())
    (reconstruction + penalty).backward()
    optimiser.step()
    return reconstruction.detach(), penalty.detach()


def latent_smote(codes: torch.Tensor, n_new: int, k: int, gen: torch.Generator) -> torch.Tensor:
    """``n_new`` SMOTE points among ``codes`` (one class, (n, d)): base code uniform, one of its k nearest
    other codes uniform, a point uniformly on the segment. One code alone is repeated."""
    n = codes.shape[0]
    if n == 0 or n_new == 0:
        return codes.new_zeros((n_new, codes.shape[1]))
    base = torch.randint(n, (n_new,), generator=gen, device=codes.device)
    if n == 1:
        return codes[base]
    k = min(int(k), n - 1)
    dist = torch.cdist(codes, codes)
    dist.fill_diagonal_(float("inf"))
    neighbours = torch.topk(dist, k, dim=1, largest=False).indices  # (n, k)
    pick = torch.randint(k, (n_new,), generator=gen, device=codes.device)
    other = neighbours[base, pick]
    r = torch.rand((n_new, 1), generator=gen, device=codes.device)
    return codes[base] + r * (codes[other] - codes[base])


def _copy(*modules: nn.Module) -> list[dict[str, torch.Tensor]]:
    """Copies of the modules' states where they are (``module_state`` on the CPU would alias the weights)."""
    return [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in modules]


class DeepSMOTEGenerator(Generator):
    """The autoencoder, the training rows' codes, and SMOTE among them (see the module docstring)."""

    name = "deepsmote"
    step = staticmethod(deepsmote_step)  # a subclass may swap the training step (the tests' old pairing)

    def __init__(self, k_neighbors: int = 5, latent_dim: int = 300, width: int = 64, lr: float = 2e-4):
        if int(k_neighbors) < 1:
            raise BenchmarkError(f"DeepSMOTE with k_neighbors={k_neighbors}", "use at least 1 neighbour")
        self.k, self.latent_dim, self.width, self.lr = int(k_neighbors), int(latent_dim), int(width), float(lr)
        self.device = "cpu"

    def settings(self) -> dict[str, Any]:  # k only changes sampling: trials differing in k share the autoencoder
        return {"latent_dim": self.latent_dim, "width": self.width, "lr": self.lr, "architecture": ARCHITECTURE,
                "step": f"{type(self).step.__module__}.{type(self).step.__qualname__}"}

    def _build(self, shape: tuple[int, int, int]) -> None:
        self.shape = shape
        self.encoder = DeepSMOTEEncoder(shape, self.width, self.latent_dim).to(self.device)
        self.decoder = DeepSMOTEDecoder(shape, self.width, self.latent_dim).to(self.device)

    def fit(self, X: np.ndarray, y: np.ndarray, *, budget: GeneratorBudget, device: str, seed: int) -> None:
        self.device = device
        torch.manual_seed(seed)
        self._build(check_image_rows(X, "DeepSMOTE"))
        x, labels, gen = to_unit(X, device), torch.as_tensor(y, device=device), seeded(seed, device)
        optimiser = torch.optim.Adam([*self.encoder.parameters(), *self.decoder.parameters()], lr=self.lr)
        steps = budget.steps(len(y))
        per_pass = -(-steps // int(budget.epochs))  # the steps of one pass over the rows (the last may be short)
        best, best_state, total, count = float("inf"), None, 0.0, 0
        self.encoder.train(), self.decoder.train()
        for i, idx in enumerate(batches(len(y), budget, gen, device, steps)):
            rows = penalty_rows(labels, int(budget.batch_size), gen)
            losses = type(self).step(self.encoder, self.decoder, optimiser, x[idx], x[rows])
            total, count = total + float(sum(losses)), count + 1
            if count == per_pass or i == steps - 1:  # end of a pass: keep the weights of the lowest mean loss
                if total / count < best:
                    best, best_state = total / count, _copy(self.encoder, self.decoder)
                total, count = 0.0, 0
        self.encoder.load_state_dict(best_state[0]), self.decoder.load_state_dict(best_state[1])
        self.encoder.eval(), self.decoder.eval()
        with torch.no_grad():
            self.codes = torch.cat([self.encoder(x[s:s + 1024]) for s in range(0, len(x), 1024)])
        self.labels, self.best_loss = labels.clone(), best

    @torch.no_grad()
    def sample(self, counts: dict[int, int], *, seed: int) -> np.ndarray:
        gen = seeded(seed, self.device)
        out = []
        for c in sorted(counts):
            n = int(counts[c])
            if n == 0:
                continue
            codes = self.codes[self.labels == int(c)]
            if codes.shape[0] == 0:
                raise BenchmarkError(f"DeepSMOTE was asked for class {c}, which had no training image",
                                     "sample only classes present in the training rows")
            z = latent_smote(codes, n, self.k, gen)
            out += [to_uint8(self.decoder(z[s:s + 1024])) for s in range(0, n, 1024)]
        return np.concatenate(out) if out else np.zeros((0, *self.shape), np.uint8)

    def state_dict(self) -> dict[str, Any]:
        encoder, decoder = module_state(self.encoder, self.decoder)
        return {"shape": list(self.shape), "encoder": encoder, "decoder": decoder, "codes": self.codes.cpu(),
                "labels": self.labels.cpu()}

    def load_state_dict(self, state: dict[str, Any], *, device: str = "cpu") -> None:
        self.device = device
        self._build(tuple(state["shape"]))
        self.encoder.load_state_dict(state["encoder"]), self.decoder.load_state_dict(state["decoder"])
        self.encoder.eval(), self.decoder.eval()
        self.codes, self.labels = state["codes"].to(device), state["labels"].to(device)


@register_method(
    "deepsmote",
    family="generative",
    modalities=("image",),
    engines=("deep",),
    summary="DeepSMOTE: an autoencoder trained with reconstruction plus a class-by-class reconstruction "
            "penalty, then SMOTE (k=5) between same-class codes decoded into new images, up to the majority.",
    paper=DEEPSMOTE_BIB + "\n" + SMOTE_BIB,
    differences="As the authors' code (dd1github/DeepSMOTE, DeepSMOTE_MNIST.py and GenerateSamples.py): "
                "their networks (layer for layer at 28x28; other sides as the module docstring says), their "
                "step (reconstruction plus the penalty on one uniformly drawn class with detached codes, the "
                "same rotation for codes and images, summed, one Adam step at 2e-4 for both networks), the "
                "weights of the pass with the lowest training loss, k=5 and every class topped up to the "
                "majority count; nothing is tuned. Differences: training length is the suite's generator "
                "budget (they train 200 epochs at batch 100), with its batch size, and a pass's steps drop "
                "the last partial batch; one Adam over both networks (theirs: one per network, the same "
                "update); a class with one image gets no penalty (their batch norm fails there); images "
                "enter in [0, 1] (the scale of their text files is not in the repository) and the tanh output "
                "is clipped to [0, 1].",
)
def deepsmote(params: dict, ctx: MethodContext) -> Recipe:
    """DeepSMOTE (Dablain et al. 2022) as a generative over-sampler of the training images."""
    return Recipe(resample=GenerativeOversampler(DeepSMOTEGenerator, 1.0, caption="DeepSMOTE, k=5"))
