"""Generative over-sampling of tabular rows: CTGAN and TVAE (Xu et al., NeurIPS 2019) and TabDDPM
(Kotelnikov et al., ICML 2023).

All three fit on the pair's training rows (the ``resample`` hook in input space, so the rows they add
feed either engine: the MLP of the deep engine or a scikit-learn model of the classical one) and top
every class below the tuned ratio up through the family's :class:`GenerativeOversampler`.

- CTGAN and TVAE come from the ``ctgan`` package (its mode-specific normalisation, training-by-sampling
  and PacGAN discriminator as published). CTGAN: the label is one more discrete column and rows of
  class c come from its conditional vector set to c. TVAE has no conditional sampling: one TVAE per
  class, fitted on that class's rows. Nominal features are discrete columns too, so both rows run on
  every tabular dataset (TVAE needs two training rows per class).
- TabDDPM: Gaussian diffusion on the standardised numeric features with TabDDPM's MLP denoiser, the
  class as the condition (diffusers' DDPM scheduler to train, DDIM to sample). TabDDPM's multinomial
  diffusion of categorical features is not implemented: a dataset with nominal features is "not
  applicable" to it, with that reason.

Every generated row is clipped to each column's training range, and columns whose training values are
all whole numbers (counts, codes) are rounded, as TabDDPM's sampling does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from benchmark.errors import BenchmarkError
from benchmark.methods._papers import CTGAN_BIB, DDIM_BIB, TABDDPM_BIB
from benchmark.methods.base import BOTH_ENGINES, MethodContext, Recipe, register_method
from benchmark.methods.generative._base import GenerativeOversampler, Generator, GeneratorBudget, ratio_space
from benchmark.methods.generative._tabular_models import CtganSynthesizer, ctgan_version
from benchmark.methods.generative.feature_diffusion import RowDiffusionGenerator

TABDDPM_STEPS = (25, 50, 100)


def nominal_columns(kinds: Any) -> tuple[int, ...]:
    """Indices of the nominal features of a split's ``feature_kinds`` (None: all numeric)."""
    return tuple(j for j, kind in enumerate(kinds or ()) if kind == "nominal")


def check_rows(X: np.ndarray, who: str) -> np.ndarray:
    """Float (N, D) tabular rows, finite; otherwise a BenchmarkError naming ``who``."""
    X = np.asarray(X)
    if X.ndim != 2 or X.dtype.kind != "f" or not np.isfinite(X).all():
        raise BenchmarkError(f"{who} got {X.dtype} rows of shape {X.shape}",
                             "it generates finite float tabular rows (N, D): use it on tabular data (space 'input')")
    return X


class ColumnBounds:
    """Each column's training range, and which columns hold only whole numbers (rounded on output)."""

    def __init__(self, X: np.ndarray):
        self.low, self.high = X.min(0), X.max(0)
        self.whole = np.all(np.equal(np.round(X), X), axis=0)

    def apply(self, rows: np.ndarray) -> np.ndarray:
        rows = np.where(self.whole, np.round(rows), rows)
        return np.clip(rows, self.low, self.high).astype(self.low.dtype)

    def state(self) -> dict[str, Any]:
        return {"low": torch.as_tensor(self.low), "high": torch.as_tensor(self.high),
                "whole": torch.as_tensor(self.whole)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ColumnBounds:
        bounds = cls.__new__(cls)
        bounds.low, bounds.high = state["low"].numpy(), state["high"].numpy()
        bounds.whole = state["whole"].numpy()
        return bounds


class TabDDPMGenerator(RowDiffusionGenerator):
    """TabDDPM on numeric features: the class-conditional row diffusion with TabDDPM's MLP (4 x 256 units),
    no label dropout and no guidance (the paper conditions on the class and samples it directly), whole-number
    columns rounded."""

    name = "tabddpm"

    def __init__(self, ddim_steps: int = 50):
        super().__init__(guidance=0.0, ddim_steps=ddim_steps, hidden=256, depth=4, lr=1e-3, p_uncond=0.0)

    def fit(self, X: np.ndarray, y: np.ndarray, *, budget: GeneratorBudget, device: str, seed: int) -> None:
        super().fit(check_rows(X, "TabDDPM"), y, budget=budget, device=device, seed=seed)
        self.whole = torch.as_tensor(ColumnBounds(np.asarray(X)).whole, device=self.device)

    def _postprocess(self, rows: torch.Tensor) -> torch.Tensor:
        return super()._postprocess(torch.where(self.whole, torch.round(rows), rows))

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "whole": self.whole.cpu()}

    def load_state_dict(self, state: dict[str, Any], *, device: str = "cpu") -> None:
        super().load_state_dict(state, device=device)
        self.whole = state["whole"].to(self.device)


class CtganGenerator(Generator):
    """CTGAN or TVAE (``kind``) of the ``ctgan`` package as a :class:`Generator`; ``nominal``: the
    integer-coded nominal columns. The budget's epochs are ctgan's epochs, its batch size (rounded down to
    a multiple of CTGAN's pac = 10) ctgan's batch size."""

    persistent = False  # see state_dict

    def __init__(self, kind: str, nominal: tuple[int, ...] = ()):
        self.kind, self.nominal = kind, tuple(int(j) for j in nominal)
        self.name = kind
        self.model: CtganSynthesizer | None = None

    def settings(self) -> dict[str, Any]:
        return {"kind": self.kind, "nominal": list(self.nominal), "ctgan": ctgan_version()}

    def fit(self, X: np.ndarray, y: np.ndarray, *, budget: GeneratorBudget, device: str, seed: int) -> None:
        X = check_rows(X, self.kind.upper())
        self.bounds, self.dtype = ColumnBounds(X), X.dtype
        self.model = CtganSynthesizer(self.kind, self.nominal, epochs=budget.epochs, batch_size=budget.batch_size,
                                      device=device).fit(X, np.asarray(y, dtype=np.int64), seed)

    def sample(self, counts: dict[int, int], *, seed: int) -> np.ndarray:
        if self.model is None:
            raise BenchmarkError(f"{self.kind} was asked for samples before it was fitted", "call fit first")
        parts = [self.model.sample(int(c), int(counts[c]), seed=int(seed) + int(c))
                 for c in sorted(counts) if int(counts[c]) > 0]
        width = len(self.bounds.low)
        rows = np.concatenate(parts) if parts else np.zeros((0, width), self.dtype)
        return self.bounds.apply(rows).astype(self.dtype)

    def state_dict(self) -> dict[str, Any]:
        # ctgan's models are Python objects (its data transformer holds scikit-learn mixtures) that only
        # pickling could store: the state holds the live object, and ``persistent = False`` keeps it in
        # this process's memory (never in a cache folder, so nothing is ever unpickled from disk).
        return {"model": self.model, "dtype": np.dtype(self.dtype).str, **self.bounds.state()}

    def load_state_dict(self, state: dict[str, Any], *, device: str = "cpu") -> None:
        self.model = state["model"]
        self.model.set_device(device)
        self.dtype = np.dtype(state["dtype"])
        self.bounds = ColumnBounds.from_state(state)


def ctgan_applies(split) -> str | None:
    ctgan_version()  # ResourceUnavailableError (the pair is retried next run) when ctgan is missing
    return None


def tvae_applies(split) -> str | None:
    ctgan_version()
    counts = split.class_counts("train")
    if min(c for c in counts if c > 0) < 2:
        return f"a class has one training row (class counts {counts}); the per-class TVAE needs two"
    return None


def tabddpm_applies(split) -> str | None:
    nominal = nominal_columns(split.feature_kinds)
    if nominal:
        return (f"TabDDPM here models numeric features only; this dataset has {len(nominal)} nominal feature(s) "
                "(their multinomial diffusion is not implemented)")
    return None


def tabddpm_space(trial, ctx: MethodContext) -> dict:
    return {**ratio_space(trial, ctx), "ddim_steps": trial.suggest_categorical("ddim_steps", list(TABDDPM_STEPS))}


def ctgan_recipe(kind: str, params: dict, ctx: MethodContext) -> Recipe:
    nominal = nominal_columns(ctx.feature_kinds)
    return Recipe(resample=GenerativeOversampler(lambda: CtganGenerator(kind, nominal),
                                                 params.get("target_ratio", 1.0), caption=kind.upper()))


CTGAN_DIFFERENCES = ("Trained for the suite's generator budget (epochs and batch size, rounded to CTGAN's pac of 10; "
                     "the paper: 300 epochs at batch 500); outputs clipped to each column's training range and "
                     "whole-number columns rounded. ")


@register_method(
    "ctgan-oversampling",
    family="generative",
    modalities=("tabular",),
    engines=BOTH_ENGINES,
    summary="CTGAN (conditional tabular GAN with mode-specific normalisation) trained on the training rows; "
            "new minority rows drawn with the class as the condition.",
    paper=CTGAN_BIB,
    search_space=ratio_space,
    applies_to=ctgan_applies,
    differences=CTGAN_DIFFERENCES + "The label is a discrete column and a row drawn with the condition vector "
                                    "set to class c is taken as a row of c (the paper models the table, not a "
                                    "labelled over-sampler); the ctgan package's defaults otherwise.",
)
def ctgan_oversampling(params: dict, ctx: MethodContext) -> Recipe:
    """CTGAN over-sampling (Xu et al. 2019), through the ctgan package."""
    return ctgan_recipe("ctgan", params, ctx)


@register_method(
    "tvae-oversampling",
    family="generative",
    modalities=("tabular",),
    engines=BOTH_ENGINES,
    summary="TVAE (the tabular VAE of the CTGAN paper), one per class on that class's training rows; new "
            "minority rows sampled from their class's model.",
    paper=CTGAN_BIB,
    search_space=ratio_space,
    applies_to=tvae_applies,
    differences=CTGAN_DIFFERENCES + "TVAE has no conditional sampling: one TVAE per class is fitted on that "
                                    "class's rows (needs two rows per class), so together they train on every "
                                    "row once per epoch.",
)
def tvae_oversampling(params: dict, ctx: MethodContext) -> Recipe:
    """TVAE over-sampling (Xu et al. 2019), through the ctgan package."""
    return ctgan_recipe("tvae", params, ctx)


@register_method(
    "tabddpm-oversampling",
    family="generative",
    modalities=("tabular",),
    engines=BOTH_ENGINES,
    summary="TabDDPM: class-conditional Gaussian diffusion (MLP denoiser) on the standardised numeric features; "
            "new minority rows by DDIM.",
    paper="\n".join((TABDDPM_BIB, DDIM_BIB)),
    search_space=tabddpm_space,
    applies_to=tabddpm_applies,
    differences="Features are standardised (mean and deviation; TabDDPM's default is a quantile transform to a "
                "normal); cosine schedule with 1,000 steps, trained for the suite's generator budget with an MLP "
                "of 4 x 256 units (TabDDPM tunes depth, width, steps and learning rate per dataset), sampled by "
                "DDIM in 25, 50 or 100 steps (tuned) instead of 1,000 ancestral steps; nominal features are not "
                "modelled (the dataset is then not applicable); outputs clipped to each column's training range.",
)
def tabddpm_oversampling(params: dict, ctx: MethodContext) -> Recipe:
    """TabDDPM over-sampling (Kotelnikov et al. 2023) of numeric tabular rows."""
    return Recipe(resample=GenerativeOversampler(lambda: TabDDPMGenerator(int(params.get("ddim_steps", 50))),
                                                 params.get("target_ratio", 1.0), caption="TabDDPM"))
