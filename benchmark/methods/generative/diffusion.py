"""Diffusion over-sampling in pixel space: a class-conditional DDPM trained from scratch on the training
images, sampled with DDIM and classifier-free guidance into new minority images.

The denoiser is a small U-Net (diffusers' ``UNet2DModel``, sized from the image shape in
:mod:`._unet`) with a class embedding; it is trained on the training split only, for the suite's
generator budget, with the DDPM objective (Ho et al. 2020; :mod:`._ddpm`), labels dropped to a null
class 10% of the time so that sampling can use classifier-free guidance (Ho & Salimans 2022). New
images of a class come from DDIM (Song et al. 2021; eta = 0) in batches on the trial's device, with
the guidance weight and the number of DDIM steps tuned: both only change sampling, so every trial of
a study reuses one trained model (they are not part of the generator's cache key).

Two rows: ``diffusion-oversampling`` (plain conditional DDPM) and ``cbdm-oversampling``, which adds
the class-balancing regulariser of CBDM (Qin et al., CVPR 2023), the long-tail diffusion reference:
each conditional noise prediction is pulled towards (a stopped-gradient copy of) the prediction for a
label drawn uniformly over the classes, weighted by t / T, plus a quarter-weight commitment term.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from benchmark.errors import BenchmarkError
from benchmark.methods._papers import CBDM_BIB, CFG_BIB, DDIM_BIB, DDPM_BIB
from benchmark.methods.base import MethodContext, Recipe, ResampleContext, register_method
from benchmark.methods.generative._base import (
    GenerativeOversampler,
    Generator,
    GeneratorBudget,
    labels_for,
    ratio_space,
)
from benchmark.methods.generative._ddpm import DiffusionTraining, ddim_sample, train_denoiser
from benchmark.methods.generative._nets import module_state, to_uint8
from benchmark.methods.generative._unet import build_unet, unet_denoiser

DDIM_STEPS = (10, 25)  # 50 doubles the sampling cost (the CPU's largest) for little change in the samples
CBDM_TAU = 1.0  # CBDM's regulariser weight (the paper's CIFAR setting)


def unet_width(device: str) -> int:
    """The U-Net's base width: 64 on a GPU; 16 on a CPU, where (32, 64, 64) costs 1.4 s per step."""
    return 64 if str(device).startswith("cuda") else 16


def check_images(X: np.ndarray, who: str) -> tuple[int, int, int]:
    """(C, H, W) of uint8 (N, C, H, W) images; otherwise a BenchmarkError naming ``who``."""
    X = np.asarray(X)
    if X.ndim != 4 or X.dtype != np.uint8:
        raise BenchmarkError(f"{who} got {X.dtype} rows of shape {X.shape}",
                             "it generates uint8 images (N, C, H, W): use it on image data (space 'input')")
    return int(X.shape[1]), int(X.shape[2]), int(X.shape[3])


class PixelDiffusionGenerator(Generator):
    """A class-conditional DDPM on images as a :class:`Generator` (see the module docstring).

    Args:
        guidance: classifier-free guidance weight w of ``(1 + w) eps(x, c) - w eps(x, null)`` (sampling).
        ddim_steps: DDIM steps per image (sampling).
        base_width: the U-Net's first-level channels (:func:`unet_width` chooses it for the device).
        cbdm_tau: CBDM's regulariser weight; 0 trains a plain conditional DDPM.
        p_uncond: share of training labels replaced by the null class.
    """

    name = "pixel-ddpm"

    def __init__(self, guidance: float = 1.0, ddim_steps: int = 25, base_width: int = 16, cbdm_tau: float = 0.0,
                 p_uncond: float = 0.1):
        if guidance < 0 or int(ddim_steps) < 1:
            raise BenchmarkError(f"pixel diffusion with guidance={guidance}, ddim_steps={ddim_steps}",
                                 "use a guidance weight >= 0 and at least one DDIM step")
        self.guidance, self.ddim_steps = float(guidance), int(ddim_steps)
        self.base_width, self.cbdm_tau, self.p_uncond = int(base_width), float(cbdm_tau), float(p_uncond)
        self.lr = 1e-3 if self.base_width < 32 else 3e-4  # small nets and short budgets take the larger rate
        self.device, self.unet, self.losses = "cpu", None, []

    def settings(self) -> dict[str, Any]:  # guidance and DDIM steps only change sampling: not here
        return {"base_width": self.base_width, "cbdm_tau": self.cbdm_tau, "p_uncond": self.p_uncond,
                "lr": self.lr, "schedule": "squaredcos_cap_v2"}

    def _training(self, steps: int = 1, batch_size: int = 1) -> DiffusionTraining:
        return DiffusionTraining(steps=steps, batch_size=batch_size, lr=self.lr, p_uncond=self.p_uncond,
                                 cbdm_tau=self.cbdm_tau, clip_sample=True)

    def _build(self, shape: tuple[int, int, int], num_classes: int) -> torch.nn.Module:
        self.shape, self.num_classes = shape, num_classes
        return build_unet(*shape, num_classes=num_classes, base_width=self.base_width).to(self.device)

    def fit(self, X: np.ndarray, y: np.ndarray, *, budget: GeneratorBudget, device: str, seed: int) -> None:
        shape = check_images(X, "pixel-space diffusion")
        self.device = str(device)
        torch.manual_seed(int(seed) % 2**63)  # the U-Net's initial weights
        unet = self._build(shape, int(np.max(y)) + 1)
        x0 = torch.as_tensor(np.asarray(X)).to(self.device).float().div_(127.5).sub_(1.0)  # [-1, 1]
        labels = torch.as_tensor(np.asarray(y, dtype=np.int64), device=self.device)
        training = self._training(budget.steps(len(y)), budget.batch_size)
        self.unet, self.losses = train_denoiser(unet, unet_denoiser(unet), x0, labels, self.num_classes, training, seed)

    @torch.no_grad()
    def sample(self, counts: dict[int, int], *, seed: int) -> np.ndarray:
        if self.unet is None:
            raise BenchmarkError("pixel diffusion was asked for samples before it was fitted", "call fit first")
        bad = [c for c in counts if not 0 <= int(c) < self.num_classes]
        if bad:
            raise BenchmarkError(f"pixel diffusion was asked for classes {bad}; it knows 0..{self.num_classes - 1}",
                                 "sample only classes of the training rows")
        labels = torch.as_tensor(labels_for(counts), device=self.device)
        batch = 512 if self.device.startswith("cuda") else 64
        x = ddim_sample(unet_denoiser(self.unet), labels, self.shape, self.num_classes, self._training(),
                        steps=self.ddim_steps, guidance=self.guidance, seed=seed, batch_size=batch)
        return to_uint8((x + 1.0) / 2.0) if len(x) else np.zeros((0, *self.shape), np.uint8)

    def state_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "num_classes": self.num_classes, "model": module_state(self.unet)[0],
                "losses": list(self.losses)}

    def load_state_dict(self, state: dict[str, Any], *, device: str = "cpu") -> None:
        self.device = str(device)
        self.unet = self._build(tuple(int(s) for s in state["shape"]), int(state["num_classes"]))
        self.unet.load_state_dict(state["model"])
        self.unet.eval().requires_grad_(False)
        self.losses = list(state.get("losses", []))


class DeviceSizedOversampler(GenerativeOversampler):
    """:class:`GenerativeOversampler` whose generator is built for the trial's device:
    ``factory(device)`` gives a fresh generator (its settings, and so its cache key, name the size)."""

    def __init__(self, factory: Callable[[str], Generator], target_ratio: float, caption: str = "", **kwargs: Any):
        super().__init__(lambda: factory("cpu"), target_ratio, caption=caption, **kwargs)
        self.factory = factory

    def resample(self, X: np.ndarray, y: np.ndarray, seed: int,
                 context: ResampleContext | None = None) -> tuple[np.ndarray, np.ndarray]:
        device = context.device if context is not None else "cpu"
        self.make_generator = lambda: self.factory(device)
        return super().resample(X, y, seed, context)


def diffusion_space(trial, ctx: MethodContext) -> dict:
    return {**ratio_space(trial, ctx), "guidance": trial.suggest_float("guidance", 0.0, 4.0),
            "ddim_steps": trial.suggest_categorical("ddim_steps", list(DDIM_STEPS))}


def diffusion_recipe(params: dict, cbdm_tau: float) -> Recipe:
    guidance, steps = float(params.get("guidance", 1.0)), int(params.get("ddim_steps", 25))
    caption = f"{'CBDM' if cbdm_tau else 'conditional DDPM'}, DDIM {steps} steps, guidance w={guidance:.2f}"
    return Recipe(resample=DeviceSizedOversampler(
        lambda device: PixelDiffusionGenerator(guidance, steps, unet_width(device), cbdm_tau),
        params.get("target_ratio", 1.0), caption=caption))


DIFFUSION_DIFFERENCES = (
    "Trained from scratch on the training split for the suite's generator budget (the papers train for "
    "hundreds of thousands of steps), with a small U-Net sized from the image shape (base width 16 on a "
    "CPU, 64 on a GPU; self-attention at the lowest resolution from width 32), a cosine noise schedule, "
    "AdamW and an EMA of the weights; DDIM (eta 0) with 10 or 25 steps and the guidance weight w in "
    "[0, 4] are tuned, as is the target ratio of every smaller class to the largest. ")


@register_method(
    "diffusion-oversampling",
    family="generative",
    modalities=("image",),
    engines=("deep",),
    summary="Class-conditional DDPM (U-Net) trained on the training images; new minority images by DDIM "
            "sampling with classifier-free guidance.",
    paper="\n".join((DDPM_BIB, CFG_BIB, DDIM_BIB)),
    search_space=diffusion_space,
    differences=DIFFUSION_DIFFERENCES + "Labels are dropped to the null class for 10% of the rows.",
)
def diffusion_oversampling(params: dict, ctx: MethodContext) -> Recipe:
    """Pixel-space diffusion over-sampling (Ho et al. 2020; Ho & Salimans 2022)."""
    return diffusion_recipe(params, cbdm_tau=0.0)


@register_method(
    "cbdm-oversampling",
    family="generative",
    modalities=("image",),
    engines=("deep",),
    summary="Class-balancing diffusion model (CBDM): the conditional DDPM with a regulariser that pulls each "
            "class's noise prediction towards a uniformly drawn class's, then minority images by DDIM.",
    paper="\n".join((CBDM_BIB, DDPM_BIB, CFG_BIB)),
    search_space=diffusion_space,
    differences=DIFFUSION_DIFFERENCES + f"CBDM's regulariser weight tau = {CBDM_TAU} (not tuned: it changes "
                "the trained model); the balanced label y' is uniform over the classes present and labels are "
                "dropped per row (the authors' code drops a whole batch's labels 10% of the time). The paper "
                "measures the quality of the samples (FID, IS); here they over-sample the classifier's "
                "training split.",
)
def cbdm_oversampling(params: dict, ctx: MethodContext) -> Recipe:
    """CBDM over-sampling (Qin et al., CVPR 2023), the long-tail variant of the pixel-space DDPM."""
    return diffusion_recipe(params, cbdm_tau=CBDM_TAU)
