"""The method families: one typed record each, the one declaration that everything else reads.

A family says which remedy a method is (what the leaderboard filters on), which recipe hooks a method
of the family switches on, and which shipped checks of :mod:`benchmark.testing` hold every method of
the family to the family's promise. Registration refuses an unknown family, the report and the suite
files list :data:`FAMILIES` in this order, a combined row orders its parts by it, and the conformance
checks pick a method's checks from its family's record and from the hooks its recipe switches on (as
imbalanced-learn picks its common checks from an estimator's tags). This module imports nothing of the
method layer, so that ``base`` can import it; a test checks its hooks against the Recipe's slots and its
checks against the shipped ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from benchmark.errors import BenchmarkError


@dataclass(frozen=True)
class Family:
    """A method family.

    ``hooks``: the recipe hooks (:class:`~benchmark.methods.base.Recipe` slots, or the ``loss``,
    ``batch_sampler`` and ``augment`` of a stage) a recipe of the family switches on, at least one of
    them; ``()`` for the baseline, whose recipe is empty; ``None`` when any hook will do (a combination:
    its parts' families decide). ``checks``: the shipped checks (names of
    :data:`benchmark.testing.HOOK_CHECKS`) that hold every method of the family to the family's promise:
    the recipe must switch the checked hook on and show the family's effect (an over-sampler reaches
    its target, a loss is cross-entropy at its neutral parameters and re-weights the right way). The
    checks of the other hooks a recipe switches on are chosen from the recipe.
    """

    name: str
    description: str
    hooks: tuple[str, ...] | None
    checks: tuple[str, ...] = ()

    @property
    def is_remedy(self) -> bool:
        """Whether the family switches anything on (every family but the baseline)."""
        return self.hooks != ()


# In the order a report lists them. Self- and semi-supervised rows come first among the remedies: their
# hooks act first in a run (a pre-training stage before everything), so a combined name reads ssp-rotation+crt.
FAMILY_TABLE: tuple[Family, ...] = (
    Family("baseline", "no remedy: the imbalanced training set as it is", hooks=()),
    Family("self-supervised", "pre-train the backbone on a pretext task without labels (rotation prediction, "
           "contrastive views, masked-feature reconstruction), then train as usual", hooks=("pretrain",)),
    Family("semi-supervised", "also learn from an unlabeled pool of rows (pseudo-labels, consistency between views)",
           hooks=("stages", "augment", "loss")),
    Family("over-sampling", "add minority rows before training (copies, SMOTE-style synthesis, augmented copies)",
           hooks=("resample",), checks=("over_sampling",)),
    Family("under-sampling", "remove majority rows before training, down to a balance",
           hooks=("resample",), checks=("under_sampling",)),
    Family("cleaning", "remove the rows a neighbourhood rule flags (Tomek links, ENN, ...), with no balance target",
           hooks=("resample",), checks=("under_sampling",)),
    Family("combined-sampling", "over-sampling followed by cleaning (SMOTE-ENN, SMOTE-Tomek)",
           hooks=("resample",), checks=("combined_sampling",)),
    Family("batch-sampling", "re-balance which training rows each epoch visits",
           hooks=("batch_sampler",), checks=("batch_sampler",)),
    Family("augmentation", "random image transforms of each batch, for every class or the minority only",
           hooks=("augment",), checks=("augmentation",)),
    Family("mixing", "mix pairs of inputs and their labels within a batch (MixUp, CutMix, Remix, ...)",
           hooks=("augment",), checks=("augmentation",)),
    Family("text-augmentation", "new minority texts by edits of their words, or by language models, before training",
           hooks=("resample",), checks=("over_sampling",)),
    Family("embedding-mixing", "mix or interpolate sentence or penultimate-layer embeddings",
           hooks=("stages", "resample", "augment")),
    Family("loss", "re-weight or shift the training loss by class (class weights, focal, LDAM, logit adjustment)",
           hooks=("loss", "class_weight"), checks=("loss",)),
    Family("two-stage", "train on one view of the training set, then re-balance in a second stage",
           hooks=("stages",), checks=("stages",)),
    Family("decoupling", "learn the representation as is, then re-balance only the classifier (cRT, tau, LWS)",
           hooks=("stages", "adjust")),
    Family("embedding-oversampling", "over-sample the trained network's penultimate embeddings, then re-train the "
           "head", hooks=("stages",), checks=("stages",)),
    Family("generative", "train a generative model (autoencoder, VAE, GAN, diffusion) on the training rows and add "
           "its minority samples", hooks=("resample", "stages")),
    Family("post-hoc", "adjust a trained model's logits or threshold on validation, without re-training",
           hooks=("adjust",), checks=("adjust",)),
    Family("ensemble", "imbalanced-learn's ensembles of re-balanced classifiers (classical engine)",
           hooks=("classifier",), checks=("classifier",)),
    Family("combination", "two or more registered remedies switched on together (smote+focal-loss): each hook from "
           "the part that sets it, by the rules of benchmark.methods._composition", hooks=None),
)
FAMILIES: tuple[str, ...] = tuple(f.name for f in FAMILY_TABLE)
_BY_NAME = {f.name: f for f in FAMILY_TABLE}


def family(name: str, method: str | None = None) -> Family:
    """The record of family ``name``; an unknown name is a :class:`BenchmarkError` naming the families
    (and the method that declared it, when given)."""
    if name not in _BY_NAME:
        who = f"method '{method}' declares family {name!r}, which" if method else f"{name!r}"
        raise BenchmarkError(f"{who} is not a method family",
                             f"use one of {', '.join(FAMILIES)} (benchmark.methods.FAMILIES)")
    return _BY_NAME[name]


def check_family(name: str, method: str) -> str:
    """``name`` if it is one of :data:`FAMILIES`; otherwise a :class:`BenchmarkError` naming them."""
    return family(name, method).name


def ordered_families(families: Iterable[str]) -> list[str]:
    """The given family names in the order of :data:`FAMILIES`, then any other (a report's
    "unregistered" methods) alphabetically: the order a report's family filter lists them in."""
    present = set(families)
    return [f for f in FAMILIES if f in present] + sorted(present - set(FAMILIES))
