"""Data-level samplers of imbalanced-learn, run once on the training split (the ``resample`` hook).

Images are resampled in pixel space (flattened, resampled, rounded back to uint8 and reshaped), as
the book chapter does; text in the featuriser's space (TF-IDF); tabular rows on standardised
features. Validation and test rows never reach a sampler: the engines call it on training rows only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from benchmark.methods.base import MethodContext, Recipe, register_method

ALL_MODALITIES = ("image", "text", "tabular")
BOTH_ENGINES = ("deep", "classical")


class ImblearnResampler:
    """Adapts any imbalanced-learn sampler (``fit_resample``) to the ``resample`` hook."""

    space = "features"

    def __init__(self, make_sampler: Callable[[int], Any]):
        self.make_sampler = make_sampler  # seed -> a fresh sampler with random_state=seed

    def resample(self, X: Any, y: np.ndarray, seed: int) -> tuple[Any, np.ndarray]:
        sampler = self.make_sampler(seed)
        if isinstance(X, np.ndarray) and X.ndim > 2:  # images: pixel space
            shape, dtype = X.shape[1:], X.dtype
            flat = X.reshape(len(X), -1).astype(np.float32)
            X_res, y_res = sampler.fit_resample(flat, y)
            X_res = np.asarray(X_res)
            if dtype == np.uint8:
                X_res = np.clip(np.rint(X_res), 0, 255)
            return X_res.astype(dtype).reshape(len(X_res), *shape), np.asarray(y_res, dtype=np.int64)
        X_res, y_res = sampler.fit_resample(X, y)
        return X_res, np.asarray(y_res, dtype=np.int64)


def binary_ratio(trial, ctx: MethodContext, name: str = "sampling_strategy") -> Any:
    """Binary tasks tune the minority/majority ratio after resampling; multi-class balances fully."""
    if ctx.num_classes == 2:
        low = min(1.0, max(ctx.class_counts[1] / max(ctx.class_counts[0], 1) + 0.05, 0.2))
        return trial.suggest_float(name, low, 1.0)
    return "auto"


def neighbours(trial, ctx: MethodContext, name: str = "k_neighbors", high: int = 10) -> int:
    """k for neighbour-based samplers, bounded by the smallest minority class of the training split."""
    smallest = max(2, min(ctx.class_counts[c] for c in ctx.minority_classes))
    return trial.suggest_int(name, 1, max(1, min(high, smallest - 1)))


ROS_BIB = """@article{lemaitre2017imbalanced,
  title={Imbalanced-learn: A Python Toolbox to Tackle the Curse of Imbalanced Datasets in Machine Learning},
  author={Lema{\\^\\i}tre, Guillaume and Nogueira, Fernando and Aridas, Christos K.},
  journal={Journal of Machine Learning Research}, volume={18}, number={17}, pages={1--5}, year={2017}}"""

SMOTE_BIB = """@article{chawla2002smote,
  title={{SMOTE}: Synthetic Minority Over-sampling Technique},
  author={Chawla, Nitesh V. and Bowyer, Kevin W. and Hall, Lawrence O. and Kegelmeyer, W. Philip},
  journal={Journal of Artificial Intelligence Research}, volume={16}, pages={321--357}, year={2002}}"""


@register_method(
    "random-oversampling",
    family="over-sampling",
    modalities=ALL_MODALITIES,
    engines=BOTH_ENGINES,
    summary="Duplicate randomly chosen minority rows until the classes reach the tuned balance.",
    paper=ROS_BIB,
    search_space=lambda trial, ctx: {"sampling_strategy": binary_ratio(trial, ctx)},
)
def random_oversampling(params: dict, ctx: MethodContext) -> Recipe:
    """imbalanced-learn's RandomOverSampler."""
    from imblearn.over_sampling import RandomOverSampler

    strategy = params.get("sampling_strategy", "auto")
    return Recipe(resample=ImblearnResampler(lambda seed: RandomOverSampler(sampling_strategy=strategy, random_state=seed)))


@register_method(
    "random-undersampling",
    family="under-sampling",
    modalities=ALL_MODALITIES,
    engines=BOTH_ENGINES,
    summary="Drop randomly chosen majority rows until the classes reach the tuned balance.",
    paper=ROS_BIB,
    search_space=lambda trial, ctx: {"sampling_strategy": binary_ratio(trial, ctx)},
)
def random_undersampling(params: dict, ctx: MethodContext) -> Recipe:
    """imbalanced-learn's RandomUnderSampler."""
    from imblearn.under_sampling import RandomUnderSampler

    strategy = params.get("sampling_strategy", "auto")
    return Recipe(resample=ImblearnResampler(lambda seed: RandomUnderSampler(sampling_strategy=strategy, random_state=seed)))


@register_method(
    "smote",
    family="over-sampling",
    modalities=ALL_MODALITIES,
    engines=BOTH_ENGINES,
    summary="Synthesise minority rows on segments between a minority row and one of its k minority neighbours.",
    paper=SMOTE_BIB,
    search_space=lambda trial, ctx: {"sampling_strategy": binary_ratio(trial, ctx), "k_neighbors": neighbours(trial, ctx)},
)
def smote(params: dict, ctx: MethodContext) -> Recipe:
    """imbalanced-learn's SMOTE (Chawla et al. 2002)."""
    from imblearn.over_sampling import SMOTE

    strategy, k = params.get("sampling_strategy", "auto"), params.get("k_neighbors", 5)
    return Recipe(resample=ImblearnResampler(lambda seed: SMOTE(sampling_strategy=strategy, k_neighbors=k, random_state=seed)))
