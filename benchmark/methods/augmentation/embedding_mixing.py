"""Embedding-space mixing: mixup of embeddings (plain and minority-aware) and SMOTE in embedding space.

Text: the embeddings are the sentence-encoder features the model trains on (all-MiniLM-L6-v2, a
suite's ``text_features="minilm"``); the ``augment`` hook sees each batch of them, and the
``resample`` hook the whole training set. On text these rows require ``text_features="minilm"``
(``Method.requires``): under another text featuriser they would mix or interpolate that featuriser's
vectors instead (TF-IDF rows), a different method, so elsewhere they are "not applicable"; the
``text-minilm`` suite runs them.

Images and tabular rows: the embeddings are a trained network's penultimate features. The network is
trained as usual for the first part of the epochs; a ``feature_resample`` stage then embeds the
training set (kept as it is) and re-trains the head on batches of embeddings that its
``Stage.augment`` mixes. SMOTE there is the ``embedding-smote`` row of :mod:`benchmark.methods.stages.eos`
(the head re-trained on SMOTE-resampled embeddings), the direct comparison.

Every row: soft labels from the mixing weights (rows sum to one), through the soft-label loss.
"""

from __future__ import annotations

from typing import Any

import torch

from benchmark.errors import BenchmarkError
from benchmark.methods._imblearn import ImblearnResampler, needs_two_per_class, smote_space
from benchmark.methods._papers import BALANCED_MIXUP_BIB, MIXUP_BIB, SENTENCE_MIXUP_BIB, SMOTE_BIB
from benchmark.methods.augmentation import _mixing_ops as mc
from benchmark.methods.base import MethodContext, Recipe, Stage, register_method

NEEDS_MINILM = {"text": {"text_features": "minilm"}}


class EmbeddingMixup:
    """The ``augment`` component on embedding batches (B, D): x = lambda x_i + (1 - lambda) x_j with
    lambda ~ Beta(alpha, alpha) per batch and the same weights on the one-hot labels.

    With ``minority_classes`` given (the minority-aware variant), each sample's partner j is drawn from
    the batch's samples of those classes (uniformly, with replacement), so every pair holds at least
    one minority sample; a batch without any minority sample pairs by a random permutation.

    ``graph_safe``: lambda and the partners are drawn on the device from ``state.generator``. The
    uniform draw among the batch's minority samples is the argmax of uniform keys with the other
    samples' keys set to -1 (torch.multinomial would read its weights on the host to check them);
    both partner draws are made every batch and ``torch.where`` keeps one.

    ``label_rule`` (:mod:`._chain`): "mixes"; the minority-aware variant "mixes-by-class" (its
    partners are drawn by the hard classes).
    """

    graph_safe = True

    def __init__(self, num_classes: int, alpha: float, minority_classes: tuple[int, ...] | None = None):
        if alpha <= 0:
            raise BenchmarkError(
                f"embedding mixup got alpha={alpha}", "use alpha > 0 (lambda ~ Beta(alpha, alpha))"
            )
        if minority_classes is not None and not minority_classes:
            raise BenchmarkError(
                "minority-aware embedding mixup got no minority classes", "pass the split's minority classes"
            )
        self.num_classes, self.alpha = num_classes, float(alpha)
        self.minority = None
        if minority_classes is not None:
            self.minority = torch.zeros(num_classes, dtype=torch.bool)
            self.minority[list(minority_classes)] = True
        self.last_partner: torch.Tensor | None = None
        self.label_rule = "mixes" if minority_classes is None else "mixes-by-class"
        self.last_lambda: torch.Tensor | None = None

    def partners(self, y: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        b = y.shape[0]
        permutation = torch.randperm(b, generator=gen, device=y.device)
        if self.minority is None or y.dim() != 1:
            return permutation
        if self.minority.device != y.device:
            self.minority = self.minority.to(y.device)  # once, on the first (eager) call
        is_minority = self.minority[y]
        keys = torch.rand(b, b, generator=gen, device=y.device).masked_fill(~is_minority.view(1, b), -1.0)
        drawn = keys.argmax(dim=1)  # uniform over the batch's minority samples, one draw per row
        return torch.where(is_minority.any(), drawn, permutation)

    def augment(self, x: torch.Tensor, y: torch.Tensor, state: Any) -> tuple[torch.Tensor, torch.Tensor]:
        mc.check_mixable(x)
        if x.dim() != 2:
            raise BenchmarkError(
                f"embedding mixup got a batch of shape {tuple(x.shape)}",
                "it mixes embedding vectors (B, D); use mixup or cutmix for images",
            )
        partner = self.partners(y, state.generator)
        lam = mc.beta_lambda(self.alpha, state.generator, x.device).float()
        self.last_partner, self.last_lambda = partner, lam
        w = lam.to(x.dtype)
        mixed = w * x + (1 - w) * x.index_select(0, partner)
        return mixed, mc.mix_targets(y, partner, lam.expand(x.shape[0]), self.num_classes)


# -- rows ------------------------------------------------------------------------------------------
class KeepEmbeddings:
    """``feature_resample`` that keeps the embedded training set as it is: the head stage then trains
    on every real embedding, mixed batch by batch by the stage's ``augment``."""

    def resample(self, features: torch.Tensor, y: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        return features, y


def mixup_space(trial, ctx: MethodContext) -> dict:
    params = {"alpha": trial.suggest_float("alpha", 0.1, 2.0, log=True)}
    if ctx.modality != "text":  # share of the epochs spent re-training the head on mixed embeddings
        params["head_fraction"] = trial.suggest_float("head_fraction", 0.1, 0.5)
    return params


def embedding_mixing_recipe(mixer: EmbeddingMixup, params: dict, ctx: MethodContext) -> Recipe:
    """Text: mix the sentence embeddings the model trains on. Images and tabular rows: train the network,
    then re-train its head on mixed penultimate embeddings."""
    if ctx.modality == "text":
        return Recipe(augment=mixer)
    head = params.get("head_fraction", 0.3)
    return Recipe(stages=[Stage("representation", 1.0 - head),
                          Stage("embedding-mixup", head, feature_resample=KeepEmbeddings(), augment=mixer)])


@register_method(
    "embedding-mixup",
    family="embedding-mixing",
    modalities=("image", "text", "tabular"),
    engines=("deep",),
    summary="Mixup of embeddings (sentence embeddings for text, a trained network's penultimate features "
    "otherwise): convex combinations of pairs with soft labels.",
    paper=SENTENCE_MIXUP_BIB + "\n" + MIXUP_BIB,
    search_space=mixup_space,
    requires=NEEDS_MINILM,
    differences="Text mixes the frozen encoder's sentence embeddings (the paper's senMixup mixes a trained "
    "encoder's); images and tabular rows re-train the head on mixed penultimate features after normal "
    "training, not mixing throughout (manifold mixup). One lambda per batch, partners by a random permutation.",
)
def embedding_mixup(params: dict, ctx: MethodContext) -> Recipe:
    """Embedding mixup (Guo et al. 2019, senMixup; Zhang et al. 2018) on sentence or penultimate embeddings."""
    return embedding_mixing_recipe(EmbeddingMixup(ctx.num_classes, params.get("alpha", 1.0)), params, ctx)


@register_method(
    "minority-embedding-mixup",
    family="embedding-mixing",
    modalities=("image", "text", "tabular"),
    engines=("deep",),
    summary="Embedding mixup whose partner is always a minority sample: every mixed pair holds the minority "
    "class.",
    paper=BALANCED_MIXUP_BIB + "\n" + SENTENCE_MIXUP_BIB,
    search_space=mixup_space,
    requires=NEEDS_MINILM,
    differences="Balanced-MixUp draws the partner from a class-balanced sampler over the training set and "
    "lambda ~ Beta(alpha, 1); here the partner is a minority sample of the same batch, "
    "lambda ~ Beta(alpha, alpha).",
)
def minority_embedding_mixup(params: dict, ctx: MethodContext) -> Recipe:
    """Minority-aware embedding mixup: partners drawn from the batch's minority samples."""
    mixer = EmbeddingMixup(ctx.num_classes, params.get("alpha", 1.0), tuple(ctx.minority_classes))
    return embedding_mixing_recipe(mixer, params, ctx)


@register_method(
    "sentence-embedding-smote",
    family="embedding-mixing",
    modalities=("text",),
    engines=("deep", "classical"),
    summary="SMOTE on sentence embeddings: synthetic minority texts as points between a minority text's "
    "embedding "
    "and one of its k minority neighbours'.",
    paper=SMOTE_BIB,
    search_space=smote_space,
    applies_to=needs_two_per_class,
    requires=NEEDS_MINILM,
    differences="imbalanced-learn's SMOTE on the frozen encoder's features, the direct counterpart of "
    "embedding-mixup; the embedding-smote row (benchmark.methods.stages.eos) resamples a trained network's "
    "penultimate features instead.",
)
def sentence_embedding_smote(params: dict, ctx: MethodContext) -> Recipe:
    """SMOTE (Chawla et al. 2002) on the text featuriser's sentence embeddings."""
    from imblearn.over_sampling import SMOTE

    strategy, k = params.get("sampling_strategy", "auto"), params.get("k_neighbors", 5)
    return Recipe(
        resample=ImblearnResampler(
            "SMOTE on sentence embeddings",
            lambda seed, knn: SMOTE(sampling_strategy=strategy, k_neighbors=knn(k), random_state=seed),
        )
    )
