"""EOS, expansive over-sampling in embedding space (Dablain et al. 2022), and its comparison rows.

The three-phase framework of the paper: (1) train the network end to end on the imbalanced data;
(2) embed the training set with the trained network (penultimate layer) and over-sample the
minority classes there; (3) fine-tune the classifier head on the real plus synthetic embeddings and
put the network back together. The deep engine runs phases 2 and 3 as a ``feature_resample`` stage:
it embeds the training rows, calls ``resample(features, y, seed)`` of the components here, and
trains only the head on what they return (timed as ``feature_resample_seconds``).

EOS, as the paper's code does, finds the k nearest neighbours (of any class) of every minority
embedding and keeps as *bases* only the rows with an *enemy* (a row of another class) among them;
each synthetic embedding lies on the segment between a base and one of those enemies. The minority
region is pushed out towards the nearby decision boundary instead of being filled in as SMOTE does,
and rows deep inside their own class contribute nothing. The neighbour search is exact, on the
device (``torch.cdist`` + ``topk`` in blocks). The paper's comparison rows, SMOTE,
Borderline-SMOTE and random over-sampling of the same embeddings, use imbalanced-learn through
:class:`benchmark.methods._imblearn.ImblearnResampler` and the same head re-training, so EOS is
compared on equal terms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from benchmark.errors import BenchmarkError
from benchmark.methods._imblearn import ImblearnResampler, needs_two_per_class, neighbours
from benchmark.methods._nearest_neighbours import NeighbourSearch
from benchmark.methods._papers import BORDERLINE_BIB, EOS_BIB, IMBLEARN_BIB, SMOTE_BIB
from benchmark.methods.base import ALL_MODALITIES, MethodContext, Recipe, Stage, register_method
from benchmark.methods.stages.two_stage import stage_share, two_stage_schedule

# Query rows per block of the distance matrix: (block x training rows) floats stay near 256 MB.
BLOCK_CELLS = 64_000_000


def target_counts(counts: Sequence[int], balance: float) -> np.ndarray:
    """Per-class sizes after over-sampling: every non-empty class below ``balance`` x the largest class
    is raised to it (rounded up); larger classes and empty ones keep their size. ``balance`` = 1 balances."""
    if not 0.0 < balance <= 1.0:
        raise BenchmarkError(f"target balance {balance} is invalid", "use a balance in (0, 1]: the share of the "
                             "largest class that smaller classes are over-sampled to")
    counts = np.asarray(counts, dtype=np.int64)
    goal = int(np.ceil(balance * counts.max() - 1e-9))
    return np.where(counts > 0, np.maximum(counts, goal), 0)


def nearest_neighbours(features: torch.Tensor, rows: torch.Tensor, k: int) -> torch.Tensor:
    """(len(rows), k) indices of the k nearest rows of *any* class to each of ``rows``, nearest first,
    never the row itself (exact Euclidean distances, blocks of queries on the features' device)."""
    block = max(1, BLOCK_CELLS // max(features.shape[0], 1))
    out = []
    for start in range(0, rows.numel(), block):
        q = rows[start : start + block]
        dist = torch.cdist(features[q], features)
        dist[torch.arange(q.numel(), device=q.device), q] = float("inf")  # a row is not its own neighbour
        out.append(torch.topk(dist, k, dim=1, largest=False, sorted=True).indices)
    return torch.cat(out) if out else torch.zeros((0, k), dtype=torch.long, device=features.device)


class ExpansiveOverSampler:
    """EOS on a (N, D) embedding tensor, as the paper's code defines it.

    For every class c below its :func:`target_counts` size: find the ``k`` nearest neighbours of each
    row of c among all training rows (any class); the *bases* are the rows of c with at least one
    enemy (a row of another class) among them. Each of the (target - n_c) synthetic points is
    x + r (e - x), with x a base drawn uniformly, e one of the enemies among x's k nearest neighbours
    drawn uniformly, and r ~ U(0, 1). A row deep inside its own class (no enemy among its k nearest
    neighbours) is never a base, so no synthetic point reaches past the nearby boundary; a class with
    no base at all is left as it is (the paper's code stops there). Everything runs on the features'
    device with a generator seeded by ``seed``; the real rows come first in the output, unchanged.
    ``last_bases`` holds, per over-sampled class, the indices of its bases (for tests and diagnostics).
    """

    def __init__(self, k_neighbors: int = 10, balance: float = 1.0):
        if int(k_neighbors) < 1:
            raise BenchmarkError(f"EOS with k_neighbors={k_neighbors}", "use at least one nearest neighbour")
        target_counts([1], balance)  # checks the balance
        self.k_neighbors, self.balance = int(k_neighbors), float(balance)
        self.last_bases: dict[int, torch.Tensor] = {}

    def resample(self, features: torch.Tensor, y: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        features = torch.as_tensor(features)
        features = features.float() if not features.is_floating_point() else features
        y = torch.as_tensor(y, device=features.device).long()
        if features.ndim != 2 or y.shape != (features.shape[0],):
            raise BenchmarkError(f"EOS got embeddings of shape {tuple(features.shape)} and labels {tuple(y.shape)}",
                                 "give (N, D) embeddings and N labels")
        counts = torch.bincount(y).cpu().numpy()
        wanted = target_counts(counts, self.balance) - counts
        generator = torch.Generator(device=features.device)
        generator.manual_seed(int(seed) % 2**63)
        k = min(self.k_neighbors, y.numel() - 1)
        new_x, new_y = [features], [y]
        self.last_bases = {}
        for c in np.flatnonzero(wanted):
            if k < 1 or int(counts[c]) == y.numel():
                continue  # a single row or a single-class training set has nothing to expand towards
            rows = torch.nonzero(y == int(c)).flatten()
            neighbours = nearest_neighbours(features, rows, k)
            is_enemy = y[neighbours] != int(c)
            has_enemy = is_enemy.any(dim=1)
            bases, enemy_mask, neighbours = rows[has_enemy], is_enemy[has_enemy], neighbours[has_enemy]
            self.last_bases[int(c)] = bases
            if bases.numel() == 0:
                continue  # every row of c lies deep inside its class: EOS has no base to expand from
            m = int(wanted[c])
            base = torch.randint(bases.numel(), (m,), generator=generator, device=features.device)
            # one of the base's enemies among its k neighbours, uniformly (friends get probability 0)
            pick = torch.multinomial(enemy_mask[base].float(), 1, generator=generator).squeeze(1)
            r = torch.rand((m, 1), generator=generator, device=features.device, dtype=features.dtype)
            x = features[bases[base]]
            e = features[neighbours[base, pick]]
            new_x.append(torch.addcmul(x, r, e - x))
            new_y.append(torch.full((m,), int(c), dtype=torch.long, device=features.device))
        return torch.cat(new_x), torch.cat(new_y)


class EmbeddingSpaceSampler:
    """An imbalanced-learn over-sampler applied to the embeddings of a ``feature_resample`` stage, with
    the same :func:`target_counts` as EOS (``make_sampler(seed, strategy, knn)`` builds it for the
    per-class target sizes ``strategy``). Embeddings go to the host for imbalanced-learn; its neighbour
    searches run on the device for large data (:class:`NeighbourSearch`)."""

    def __init__(self, name: str, make_sampler: Callable[[int, dict[int, int], NeighbourSearch], Any],
                 balance: float = 1.0):
        target_counts([1], balance)
        self.name, self.make_sampler, self.balance = name, make_sampler, float(balance)

    def resample(self, features: torch.Tensor, y: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        device = features.device if isinstance(features, torch.Tensor) else torch.device("cpu")
        X = torch.as_tensor(features).detach().float().cpu().numpy()
        labels = torch.as_tensor(y).cpu().numpy().astype(np.int64)
        counts = np.bincount(labels)
        goal = target_counts(counts, self.balance)
        strategy = {int(c): int(goal[c]) for c in np.flatnonzero(goal > counts)}
        if not strategy:
            return torch.as_tensor(features), torch.as_tensor(y)
        sampler = ImblearnResampler(self.name, lambda s, knn: self.make_sampler(s, strategy, knn))
        X_res, y_res = sampler.resample(X, labels, seed=seed)
        return (torch.as_tensor(np.asarray(X_res, dtype=np.float32), device=device),
                torch.as_tensor(y_res, dtype=torch.long, device=device))


# -- rows ------------------------------------------------------------------------------------------------
def embedding_space_recipe(resampler: Any, params: dict) -> Recipe:
    """End-to-end training, then the head fine-tuned on the resampled training embeddings."""
    end_to_end = Stage("end-to-end", 0.0, train="all")
    head = Stage("embedding-oversampling", 0.0, train="head", feature_resample=resampler)
    return Recipe(stages=two_stage_schedule(end_to_end, head, params.get("first_stage_share", 0.7)))


def balance_and_share(trial) -> dict:
    return {"balance": trial.suggest_float("balance", 0.5, 1.0), "first_stage_share": stage_share(trial)}


def eos_space(trial, ctx: MethodContext) -> dict:
    return {"k_neighbors": trial.suggest_int("k_neighbors", 1, 10), **balance_and_share(trial)}


def embedding_smote_space(trial, ctx: MethodContext) -> dict:
    return {"k_neighbors": neighbours(trial, ctx), **balance_and_share(trial)}


EMBEDDING_DIFFERENCE = ("Over-samples the penultimate embeddings of the network trained end to end, then "
                        "fine-tunes its head on them, as the comparison rows of the EOS paper.")


@register_method(
    "eos",
    family="embedding-oversampling",
    modalities=ALL_MODALITIES,
    engines=("deep",),
    summary="Train end to end, then synthesise minority embeddings between minority rows that have an enemy "
            "(other-class row) among their k nearest neighbours and those enemies, and fine-tune the head on "
            "real plus synthetic embeddings.",
    paper=EOS_BIB,
    search_space=eos_space,
    differences="The target balance is tuned (the paper balances fully) and k from 1 to 10 (the paper: 10); a "
                "class none of whose rows has an enemy among its k nearest neighbours gets no synthetic rows "
                "(the paper's code stops there); the head fine-tuning shares the suite's training budget with "
                "the end-to-end stage (the paper trains the head separately). Each synthetic row lies between its "
                "base and the enemy drawn, as the paper describes; the authors' EOS.py draws the enemy's position "
                "among the base's neighbours but reads it from a list that starts with the base itself "
                "(ind2[base, pick]), so it moves towards the row one rank nearer than the enemy (a copy of the "
                "base when the enemy is the nearest).",
)
def eos(params: dict, ctx: MethodContext) -> Recipe:
    """Expansive over-sampling (Dablain et al. 2022) in the deep engine's feature_resample stage."""
    sampler = ExpansiveOverSampler(params.get("k_neighbors", 10), params.get("balance", 1.0))
    return embedding_space_recipe(sampler, params)


@register_method(
    "embedding-smote",
    family="embedding-oversampling",
    modalities=ALL_MODALITIES,
    engines=("deep",),
    summary="Train end to end, then SMOTE on the training embeddings and the head fine-tuned on them "
            "(EOS's comparison row).",
    paper=SMOTE_BIB,
    search_space=embedding_smote_space,
    applies_to=needs_two_per_class,
    differences=EMBEDDING_DIFFERENCE,
)
def embedding_smote(params: dict, ctx: MethodContext) -> Recipe:
    """SMOTE (Chawla et al. 2002) of penultimate embeddings, through imbalanced-learn."""
    from imblearn.over_sampling import SMOTE

    k = params.get("k_neighbors", 5)
    sampler = EmbeddingSpaceSampler("SMOTE of embeddings", lambda seed, strategy, knn: SMOTE(
        sampling_strategy=strategy, k_neighbors=knn(k), random_state=seed), params.get("balance", 1.0))
    return embedding_space_recipe(sampler, params)


@register_method(
    "embedding-borderline-smote",
    family="embedding-oversampling",
    modalities=ALL_MODALITIES,
    engines=("deep",),
    summary="Train end to end, then Borderline-SMOTE on the training embeddings (minority rows in danger "
            "only) and the head fine-tuned on them (EOS's comparison row).",
    paper=BORDERLINE_BIB,
    search_space=embedding_smote_space,
    applies_to=needs_two_per_class,
    differences=EMBEDDING_DIFFERENCE + " Borderline-1, with m = 10 neighbours (fewer on tiny data) deciding danger.",
)
def embedding_borderline_smote(params: dict, ctx: MethodContext) -> Recipe:
    """Borderline-SMOTE (Han et al. 2005) of penultimate embeddings, through imbalanced-learn."""
    from imblearn.over_sampling import BorderlineSMOTE

    k = params.get("k_neighbors", 5)
    m = max(1, min(10, sum(ctx.class_counts) - 1))
    sampler = EmbeddingSpaceSampler("Borderline-SMOTE of embeddings", lambda seed, strategy, knn: BorderlineSMOTE(
        sampling_strategy=strategy, k_neighbors=knn(k), m_neighbors=knn(m), random_state=seed),
        params.get("balance", 1.0))
    return embedding_space_recipe(sampler, params)


@register_method(
    "embedding-random-oversampling",
    family="embedding-oversampling",
    modalities=ALL_MODALITIES,
    engines=("deep",),
    summary="Train end to end, then repeat random minority training embeddings and fine-tune the head on "
            "them (EOS's comparison row).",
    paper=IMBLEARN_BIB,
    search_space=lambda trial, ctx: balance_and_share(trial),
    differences=EMBEDDING_DIFFERENCE,
)
def embedding_random_oversampling(params: dict, ctx: MethodContext) -> Recipe:
    """Random over-sampling of penultimate embeddings, through imbalanced-learn's RandomOverSampler."""
    from imblearn.over_sampling import RandomOverSampler

    sampler = EmbeddingSpaceSampler("random over-sampling of embeddings", lambda seed, strategy, knn: RandomOverSampler(
        sampling_strategy=strategy, random_state=seed), params.get("balance", 1.0))
    return embedding_space_recipe(sampler, params)
