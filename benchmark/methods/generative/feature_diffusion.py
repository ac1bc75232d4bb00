"""Diffusion over-sampling in feature space: LDMLR (Han et al., CVPR workshops 2024).

The three steps of the paper: (a) train the network end to end on the long-tailed training set;
(b) encode the training set with it (penultimate layer) and fit a class-conditional denoising diffusion
model to those embeddings, then generate pseudo-embeddings of the classes below the target balance;
(c) train the classifier head on the real plus generated embeddings. The deep engine runs (b) and (c)
as a ``feature_resample`` stage (as EOS does): it embeds the training rows and calls
:class:`FeatureDiffusionResampler` with them, which hands them to the family's
:class:`~benchmark.methods.generative._base.GenerativeOversampler` (space "features": the trained
generator is cached under the digest of these very embeddings, and its training time is the row's
``generator_seconds``), and trains only the head on what comes back.

The denoiser is TabDDPM's MLP (``_tabular_models.ConditionalMLPDenoiser``) on embeddings standardised
per dimension, trained with diffusers' DDPM scheduler for the suite's generator budget and sampled with
DDIM and classifier-free guidance (:mod:`._ddpm`). Generated embeddings are clipped to the range each
dimension had in training (post-ReLU embeddings stay non-negative). It is cheap (an MLP on D-dimensional
rows) and it runs wherever the engine has a penultimate layer: images, tabular networks and sentence
embeddings alike. LDMLR reports CIFAR-10-LT (rho = 100) top-1 accuracy 72.46 -> 76.26 over plain CE.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from benchmark.errors import BenchmarkError
from benchmark.methods._papers import CFG_BIB, DDIM_BIB, LDMLR_BIB
from benchmark.methods.base import ALL_MODALITIES, MethodContext, Recipe, ResampleContext, register_method
from benchmark.methods.generative._base import (
    GenerativeOversampler,
    Generator,
    GeneratorBudget,
    labels_for,
    ratio_space,
)
from benchmark.methods.generative._ddpm import DiffusionTraining, ddim_sample, train_denoiser
from benchmark.methods.generative._nets import module_state
from benchmark.methods.generative._tabular_models import ConditionalMLPDenoiser
from benchmark.methods.stages.eos import embedding_space_recipe
from benchmark.methods.stages.two_stage import stage_share

DDIM_STEPS = (10, 25, 50)


class RowDiffusionGenerator(Generator):
    """A class-conditional DDPM on (N, D) float rows (embeddings here; TabDDPM subclasses it).

    Rows are standardised per column with the training rows' mean and deviation; the denoiser is a
    :class:`ConditionalMLPDenoiser` of ``hidden`` units and ``depth`` layers; samples come from DDIM in
    ``ddim_steps`` steps with guidance weight ``guidance`` and are clipped to each column's training range.
    """

    name = "row-ddpm"

    def __init__(self, guidance: float = 0.0, ddim_steps: int = 25, hidden: int = 512, depth: int = 3,
                 lr: float = 1e-3, p_uncond: float = 0.1):
        if guidance < 0 or int(ddim_steps) < 1:
            raise BenchmarkError(f"{self.name} with guidance={guidance}, ddim_steps={ddim_steps}",
                                 "use a guidance weight >= 0 and at least one DDIM step")
        self.guidance, self.ddim_steps = float(guidance), int(ddim_steps)
        self.hidden, self.depth, self.lr, self.p_uncond = int(hidden), int(depth), float(lr), float(p_uncond)
        self.device, self.net, self.losses = "cpu", None, []

    def settings(self) -> dict[str, Any]:  # guidance and DDIM steps only change sampling
        return {"hidden": self.hidden, "depth": self.depth, "lr": self.lr, "p_uncond": self.p_uncond}

    def _training(self, steps: int = 1, batch_size: int = 1) -> DiffusionTraining:
        return DiffusionTraining(steps=steps, batch_size=batch_size, lr=self.lr, p_uncond=self.p_uncond)

    def _build(self, dim: int, num_classes: int) -> ConditionalMLPDenoiser:
        self.dim, self.num_classes = dim, num_classes
        return ConditionalMLPDenoiser(dim, num_classes, hidden=self.hidden, depth=self.depth).to(self.device)

    def _check(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2 or X.dtype.kind != "f" or not np.isfinite(X).all():
            raise BenchmarkError(f"{self.name} got {X.dtype} rows of shape {X.shape}",
                                 "it models finite float feature rows (N, D)")
        return X

    def fit(self, X: np.ndarray, y: np.ndarray, *, budget: GeneratorBudget, device: str, seed: int) -> None:
        X = self._check(X)
        self.device, self.dtype = str(device), X.dtype
        torch.manual_seed(int(seed) % 2**63)  # the denoiser's initial weights
        net = self._build(X.shape[1], int(np.max(y)) + 1)
        rows = torch.as_tensor(X, dtype=torch.float32, device=self.device)
        self.mean, self.std = rows.mean(0), rows.std(0, unbiased=False).clamp_min(1e-6)
        self.low, self.high = rows.min(0).values, rows.max(0).values
        labels = torch.as_tensor(np.asarray(y, dtype=np.int64), device=self.device)
        training = self._training(budget.steps(len(labels)), budget.batch_size)
        self.net, self.losses = train_denoiser(net, net, (rows - self.mean) / self.std, labels, self.num_classes,
                                               training, seed)

    def _postprocess(self, rows: torch.Tensor) -> torch.Tensor:
        return torch.maximum(torch.minimum(rows, self.high), self.low)

    @torch.no_grad()
    def sample(self, counts: dict[int, int], *, seed: int) -> np.ndarray:
        if self.net is None:
            raise BenchmarkError(f"{self.name} was asked for samples before it was fitted", "call fit first")
        bad = [c for c in counts if not 0 <= int(c) < self.num_classes]
        if bad:
            raise BenchmarkError(f"{self.name} was asked for classes {bad}; it knows 0..{self.num_classes - 1}",
                                 "sample only classes of the training rows")
        labels = torch.as_tensor(labels_for(counts), device=self.device)
        z = ddim_sample(self.net, labels, (self.dim,), self.num_classes, self._training(), steps=self.ddim_steps,
                        guidance=self.guidance, seed=seed, batch_size=4096)
        rows = self._postprocess(z * self.std + self.mean)
        return rows.cpu().numpy().astype(self.dtype)

    def state_dict(self) -> dict[str, Any]:
        return {"dim": self.dim, "num_classes": self.num_classes, "dtype": np.dtype(self.dtype).str,
                "model": module_state(self.net)[0], "losses": list(self.losses),
                **{k: getattr(self, k).cpu() for k in ("mean", "std", "low", "high")}}

    def load_state_dict(self, state: dict[str, Any], *, device: str = "cpu") -> None:
        self.device, self.dtype = str(device), np.dtype(state["dtype"])
        self.net = self._build(int(state["dim"]), int(state["num_classes"]))
        self.net.load_state_dict(state["model"])
        self.net.eval().requires_grad_(False)
        for k in ("mean", "std", "low", "high"):
            setattr(self, k, state[k].to(self.device))
        self.losses = list(state.get("losses", []))


class FeatureDiffusionGenerator(RowDiffusionGenerator):
    """LDMLR's diffusion model of penultimate embeddings (a :class:`RowDiffusionGenerator`)."""

    name = "feature-ddpm"


class FeatureDiffusionResampler:
    """The ``feature_resample`` component of LDMLR: embeddings (on the engine's device) to the host, the
    family's :class:`GenerativeOversampler` (space "features") tops the classes up with generated
    embeddings, and the result goes back to the device. ``added`` holds the rows added per class."""

    wants_context = True

    def __init__(self, target_ratio: float, guidance: float, ddim_steps: int):
        self.oversampler = GenerativeOversampler(
            lambda: FeatureDiffusionGenerator(guidance, ddim_steps), target_ratio, space="features",
            caption=f"LDMLR embeddings, DDIM {ddim_steps} steps, guidance w={guidance:.2f}")
        self.added: dict[int, int] = {}

    def resample(self, features: Any, y: Any, seed: int,
                 context: ResampleContext | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        device = features.device if isinstance(features, torch.Tensor) else torch.device("cpu")
        F = torch.as_tensor(features).detach().float().cpu().numpy()
        labels = torch.as_tensor(y).detach().cpu().numpy().astype(np.int64)
        if context is None:
            context = ResampleContext(device=str(device))
        F_new, y_new = self.oversampler.resample(F, labels, seed, context)
        self.added = dict(self.oversampler.added)
        return (torch.as_tensor(F_new, dtype=torch.float32, device=device),
                torch.as_tensor(y_new, dtype=torch.long, device=device))


def ldmlr_space(trial, ctx: MethodContext) -> dict:
    return {**ratio_space(trial, ctx), "guidance": trial.suggest_float("guidance", 0.0, 4.0),
            "ddim_steps": trial.suggest_categorical("ddim_steps", list(DDIM_STEPS)),
            "first_stage_share": stage_share(trial)}


@register_method(
    "ldmlr",
    family="generative",
    modalities=ALL_MODALITIES,
    engines=("deep",),
    summary="LDMLR: train end to end, fit a class-conditional diffusion model (MLP denoiser) to the training "
            "set's penultimate embeddings, generate minority embeddings by DDIM and re-train the head on real "
            "plus generated embeddings.",
    paper="\n".join((LDMLR_BIB, DDIM_BIB, CFG_BIB)),
    search_space=ldmlr_space,
    differences="The diffusion model trains for the suite's generator budget on embeddings standardised per "
                "dimension (the paper trains it separately, longer, on raw features) with TabDDPM's MLP "
                "denoiser (3 x 512 units), labels dropped to a null class for 10% of the rows, and samples are "
                "clipped to each dimension's training range; guidance weight, DDIM steps (10/25/50) and the "
                "target ratio are tuned (the paper generates a fixed number per class); only the last linear "
                "layer is re-trained, within the suite's epoch budget shared with the end-to-end stage.",
)
def ldmlr(params: dict, ctx: MethodContext) -> Recipe:
    """Latent-based diffusion model for long-tailed recognition (Han et al. 2024) as a feature_resample stage."""
    resampler = FeatureDiffusionResampler(params.get("target_ratio", 1.0), float(params.get("guidance", 1.0)),
                                          int(params.get("ddim_steps", 25)))
    return embedding_space_recipe(resampler, params)
