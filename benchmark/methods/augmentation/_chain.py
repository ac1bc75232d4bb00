"""Chained augmentations: ``horizontal-flip+rotate-90`` flips, then rotates the flipped batch;
``mixup+cutmix`` mixes, then pastes boxes into the mixed batch.

A combined row whose parts each set the ``augment`` hook gets one :class:`ChainedAugment`: the parts'
components in the order the row's name writes them, each called on the batch and targets the previous
one returned (:mod:`benchmark.methods._composition` keeps the written order of augmentation parts).

Label bookkeeping. Each ``augment`` component declares what it does to the targets, as the class
attribute (or instance attribute) ``label_rule``:

- ``"keeps"``: the targets pass through (image transforms); soft targets from an earlier mixing pass
  through as they are;
- ``"mixes"``: targets become ``w * t_i + (1 - w) * t_partner(i)`` with ``t`` the incoming targets,
  one-hot or already soft (MixUp, CutMix, FMix, embedding mixup): two mixings chain exactly, MixUp's
  soft labels mixed again by CutMix's pasted share;
- ``"mixes-by-class"``: the label weights are chosen from each pair's hard classes (Remix's class-count
  rule, the minority-aware partners of balanced embedding mixup), which mixed targets no longer have.

A ``"mixes-by-class"`` component after any mixing is refused (write it first), and so is a component
that declares no rule (e.g. FixMatch's batch layout): those are the conflicts that remain, each in one
line naming the two parts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

LABEL_RULES = ("keeps", "mixes", "mixes-by-class")


def label_rule(component: Any) -> str | None:
    """The component's declared ``label_rule`` (see the module docstring), or None."""
    rule = getattr(component, "label_rule", None)
    return rule if rule in LABEL_RULES else None


def chain_refusal(parts: Sequence[tuple[str, Any]]) -> tuple[int, int, str] | None:
    """Why the chain ``parts`` (``(part name, component)`` in order) cannot run: the indices of the two
    parts in conflict and the reason; None when it can."""
    mixed_by = None  # the index of the first part that mixes the targets
    for i, (name, component) in enumerate(parts):
        rule = label_rule(component)
        if rule is None:
            return (i - 1 if i else 1), i, (
                f"the augment component of '{name}' ({type(component).__name__}) declares no label_rule, so no "
                "rule says how its targets chain with another augmentation's")
        if rule == "mixes-by-class" and mixed_by is not None:
            return mixed_by, i, (f"'{name}' chooses its label weights from each pair's hard classes, and after "
                                 f"'{parts[mixed_by][0]}' the labels are already mixed; write '{name}' first")
        if rule != "keeps" and mixed_by is None:
            mixed_by = i
    return None


class ChainedAugment:
    """The ``augment`` component of a chain: ``parts`` (``(part name, component)``) applied in order,
    each on the batch and targets the previous one returned. ``graph_safe`` when every part is (the
    parts draw from ``state.generator`` in turn, so a replayed graph draws them in the same order);
    ``uses_unlabeled`` when any part does. :func:`benchmark.methods._composition.merge_recipes` builds it
    after :func:`chain_refusal` accepted the parts."""

    def __init__(self, parts: Sequence[tuple[str, Any]]):
        self.parts = list(parts)
        self.graph_safe = all(bool(getattr(c, "graph_safe", False)) for _, c in self.parts)
        self.uses_unlabeled = any(bool(getattr(c, "uses_unlabeled", False)) for _, c in self.parts)
        rules = [label_rule(c) for _, c in self.parts]
        self.label_rule = "keeps" if all(r == "keeps" for r in rules) else next(r for r in rules if r != "keeps")

    def augment(self, x: Any, y: Any, state: Any) -> tuple[Any, Any]:
        for _, component in self.parts:
            x, y = component.augment(x, y, state)
        return x, y


def flatten(name: str, component: Any) -> list[tuple[str, Any]]:
    """A component as chain parts: a chain's own parts, or ``[(name, component)]``."""
    return list(component.parts) if isinstance(component, ChainedAugment) else [(name, component)]
