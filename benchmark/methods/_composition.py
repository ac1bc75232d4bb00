"""Combined remedies: ``smote+focal-loss`` is a leaderboard row built on the fly from registered parts.

The method registry asks :func:`compose_method` for any name it does not hold (its ``composer``), so a
combined name works wherever a method name does: ``--methods``, suite files, ``show method``, the
report. This module registers nothing.

Identity. A combined row's name is canonical: its parts in the order of :data:`FAMILIES` (self- and
semi-supervised pre-training, re-sampling, batch sampling, augmentation and mixing, loss, stages,
post-hoc: the order a training run meets their hooks), ties by name. ``focal-loss+smote`` and
``smote+focal-loss`` are the same row, the same study and the same stored results; the report shows
the canonical name. Per-batch augmentations (the families whose only hook is ``augment``: image
transforms and mixing) are the exception: they act in the order written, so they keep it, as one
block at their families' place (``horizontal-flip+rotate-90`` and ``rotate-90+horizontal-flip`` are
two rows; ``focal-loss+mixup+cutmix`` is ``mixup+cutmix+focal-loss``).

Recipe. The combined recipe takes each hook from the part that sets it. Stages from one part and hooks
from another combine as the deep engine reads them: a part's batch sampler, augmentation and loss apply
in every stage unless that stage sets its own. Where two parts set the same hook, only these rules hold:

- **a loss with deferred re-weighting** (``drw``, or ``remix-drw``'s loss): the other part's loss keeps
  its form and DRW's effective-number class weights are switched on in it from DRW's tuned epoch, as
  LDAM-DRW and Cao et al.'s Focal-DRW do (``ldam+drw`` builds exactly ``ldam-drw``'s loss). A loss
  takes them only through a ``schedule`` slot (``LDAMLoss``, ``FocalLoss``); another loss is refused,
  with the reason, and so is a loss that already defers re-weighting.
- **augmentations** chain in the order written (:mod:`benchmark.methods.augmentation._chain`): each
  part's ``augment`` on the batch and targets the previous one returned, MixUp's soft labels mixed
  again by CutMix; a part that picks its label weights from hard classes (Remix) after a mixing, or
  a component that declares no label rule, is refused.

A ``pretrain`` part (self-supervised pre-training) combines with any part that sets other hooks: the
pretext stage runs first for its share of the epochs, and the other part's stages split the rest
(``ssp-rotation+crt``: pre-training, then cRT's two stages).

Every other shared hook is refused with one line naming the two parts and the hook: two pre-trainings,
two losses, two resamplers, two batch samplers, two stage schedules, two post-hoc
adjustments, two classifiers, two class-weight vectors. The registry checks this when the name is looked up (so ``run``
stops before any work, exit status 2) by building every part once with middle-of-range parameters;
every trial's build applies the same rules.

Parameters. The search space is the union of the parts' spaces, each parameter prefixed by its part
(``smote.k_neighbors``, ``focal-loss.gamma``); each part's builder receives its own parameters without
the prefix. Modalities and engines are the intersection of the parts' (an empty one is an error);
``applies_to`` gives the first part's refusal; the family is "combination"; the paper is the parts'
BibTeX entries (the report cites each part's paper).
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

from benchmark.errors import BenchmarkError, UnknownNameError
from benchmark.methods.augmentation._chain import ChainedAugment, chain_refusal, flatten
from benchmark.methods.base import (
    FAMILIES,
    FAMILY_TABLE,
    Method,
    MethodContext,
    Recipe,
    family,
    method_registry,
)
from benchmark.methods.losses.deferred_reweighting import DeferredReweightedCrossEntropy
from benchmark.registry import bibtex_key

SEPARATOR = "+"  # between the parts of a combined name
PARAMETER_SEPARATOR = "."  # between a part's name and its parameter: "focal-loss.gamma"
HOOK_ORDER = ("pretrain", "resample", "batch_sampler", "augment", "loss", "stages", "adjust", "classifier",
              "class_weight")


class CompositionError(BenchmarkError):
    """Two parts of a combined row set the same hook and no rule says how they combine."""


def part_names(name: str) -> list[str]:
    """The parts of a combined name, as written (``"smote+focal-loss"`` -> ``["smote", "focal-loss"]``)."""
    parts = [p.strip() for p in name.split(SEPARATOR)]
    if len(parts) < 2 or not all(parts):
        raise BenchmarkError(f"combined method {name!r} has an empty part",
                             "join two or more registered method names with '+', e.g. smote+focal-loss")
    repeated = sorted({p for p in parts if parts.count(p) > 1})
    if repeated:
        raise BenchmarkError(f"combined method {name!r} names {', '.join(repeated)} twice",
                             "name each part once")
    return parts


# The families whose rows act on each batch in turn (image transforms, mixing): their parts keep the
# order written, since a flip then a rotation is not a rotation then a flip.
CHAINED_FAMILIES = frozenset(f.name for f in FAMILY_TABLE if f.hooks == ("augment",))


def canonical_order(parts: Sequence[Method]) -> list[Method]:
    """Parts in the order of :data:`FAMILIES` (the order their hooks act in a run), ties by name; the
    parts of :data:`CHAINED_FAMILIES` share one place (the first of those families) in written order."""
    rank = {family: i for i, family in enumerate(FAMILIES)}
    chained = min(rank[f] for f in CHAINED_FAMILIES)

    def key(item: tuple[int, Method]) -> tuple[int, int, str]:
        written, part = item
        if part.family in CHAINED_FAMILIES:
            return chained, written, ""
        return rank.get(part.family, len(rank)), 0, part.name

    return [part for _, part in sorted(enumerate(parts), key=key)]


def _parts(names: Sequence[str]) -> list[Method]:
    return [method_registry.get(n) for n in names]


# -- the recipe rules --------------------------------------------------------------------------------------
def _conflict(hook: str, first: tuple[str, Any], second: tuple[str, Any], why: str = "") -> CompositionError:
    what = {"pretrain": "pre-training stages", "resample": "resamplers", "batch_sampler": "batch samplers", "augment": "augmentations",
            "loss": "losses", "stages": "stage schedules", "adjust": "post-hoc adjustments",
            "classifier": "classifiers", "class_weight": "class-weight vectors"}[hook]
    reason = why or f"no rule says how two {what} combine"
    return CompositionError(f"cannot combine '{first[0]}' and '{second[0]}': both set the {hook} hook "
                            f"({type(first[1]).__name__} and {type(second[1]).__name__}); {reason}",
                            "combine parts that set different hooks (see `python -m benchmark show method` "
                            "for a part's hooks, and benchmark/methods/_composition.py for the rules)")


def combine_losses(first: tuple[str, Any], second: tuple[str, Any]) -> Any:
    """The one rule for two losses: deferred re-weighting (DRW) switched on in the other part's loss."""
    drw = [p for p in (first, second) if isinstance(p[1], DeferredReweightedCrossEntropy)]
    if len(drw) != 1:
        why = "both defer re-weighting" if drw else (
            "no rule says how two losses combine (only deferred re-weighting, drw, combines with a loss)")
        raise _conflict("loss", first, second, why)
    (drw_name, drw_loss), (other_name, other) = drw[0], next(p for p in (first, second) if p is not drw[0])
    if not hasattr(other, "schedule"):
        raise _conflict("loss", first, second, f"the loss of '{other_name}' takes no deferred class weights "
                                               f"(no schedule slot), so '{drw_name}' cannot switch them on in it")
    if other.schedule is not None:
        raise _conflict("loss", first, second, f"the loss of '{other_name}' already defers re-weighting")
    combined = copy.copy(other)
    combined.schedule = drw_loss.schedule
    return combined


def merge_recipes(recipes: Sequence[tuple[str, Recipe]]) -> Recipe:
    """One recipe from the parts' recipes: each hook from the part that sets it, two losses by
    :func:`combine_losses`, two augmentations by :func:`chain_augments`, any other hook set twice refused
    (:class:`CompositionError`)."""
    merged = Recipe()
    for hook in HOOK_ORDER:
        setters = [(name, getattr(recipe, hook)) for name, recipe in recipes if getattr(recipe, hook) is not None]
        if not setters:
            continue
        value = setters[0]
        for other in setters[1:]:
            if hook == "augment":
                value = (f"{value[0]}+{other[0]}", chain_augments(value, other))
            elif hook == "loss":
                value = (f"{value[0]}+{other[0]}", combine_losses(value, other))
            else:
                raise _conflict(hook, value, other)
        setattr(merged, hook, value[1])
    return merged


def chain_augments(first: tuple[str, Any], second: tuple[str, Any]) -> ChainedAugment:
    """The one rule for two augmentations: ``first``'s then ``second``'s, on what the first returned,
    unless their label rules conflict (:func:`~benchmark.methods.augmentation._chain.chain_refusal`)."""
    parts = flatten(*first) + flatten(*second)
    refused = chain_refusal(parts)
    if refused is not None:
        one, other, why = refused
        raise _conflict("augment", parts[min(one, other)], parts[max(one, other)], why)
    return ChainedAugment(parts)


# -- the combined row's callables (module-level partials: worker processes unpickle them) --------------
class PrefixedTrial:
    """An Optuna trial seen through one part: every parameter it suggests is named ``<part>.<name>``."""

    def __init__(self, trial: Any, part: str):
        self._trial, self._prefix = trial, part + PARAMETER_SEPARATOR

    def suggest_float(self, name: str, *args: Any, **kwargs: Any) -> float:
        return self._trial.suggest_float(self._prefix + name, *args, **kwargs)

    def suggest_int(self, name: str, *args: Any, **kwargs: Any) -> int:
        return self._trial.suggest_int(self._prefix + name, *args, **kwargs)

    def suggest_categorical(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._trial.suggest_categorical(self._prefix + name, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # number, params, user attributes: the trial's own
        return getattr(self._trial, name)


def combined_space(names: tuple[str, ...], trial: Any, ctx: MethodContext) -> dict[str, Any]:
    """The union of the parts' search spaces, each parameter prefixed by its part."""
    params: dict[str, Any] = {}
    for part in _parts(names):
        own = part.search_space(PrefixedTrial(trial, part.name), ctx) or {}
        params.update({f"{part.name}{PARAMETER_SEPARATOR}{k}": v for k, v in own.items()})
    return params


def part_params(names: tuple[str, ...], params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each part's own parameters, unprefixed; a parameter of no part is an error naming it."""
    own: dict[str, dict[str, Any]] = {n: {} for n in names}
    for key, value in params.items():
        part, sep, name = key.partition(PARAMETER_SEPARATOR)
        if not sep or part not in own:
            raise BenchmarkError(f"parameter {key!r} of the combined method {SEPARATOR.join(names)} names no part",
                                 f"prefix each parameter with its part: {', '.join(n + '.<name>' for n in names)}")
        own[part][name] = value
    return own


def build_combined(names: tuple[str, ...], params: dict[str, Any], ctx: MethodContext) -> Recipe:
    """Each part built with its own parameters, then :func:`merge_recipes`."""
    own = part_params(names, params)
    return merge_recipes([(part.name, part.build(own[part.name], ctx)) for part in _parts(names)])


def combined_applies_to(names: tuple[str, ...], split: Any) -> str | None:
    """The first part's refusal of ``split`` (parts in the combined name's order), or None."""
    for part in _parts(names):
        reason = part.applies_to(split) if part.applies_to is not None else None
        if reason:
            return reason
    return None


# -- composing ------------------------------------------------------------------------------------------
class ProbeTrial:
    """A trial that suggests the middle of each range (the geometric middle on a log scale) and the
    first choice: the parameters :func:`check_composable` builds the parts with."""

    number = 0

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False, **_: Any) -> float:
        return math.sqrt(low * high) if log else (low + high) / 2

    def suggest_int(self, name: str, low: int, high: int, **_: Any) -> int:
        return (int(low) + int(high)) // 2

    def suggest_categorical(self, name: str, choices: Sequence[Any], **_: Any) -> Any:
        return list(choices)[0]


def _probe_contexts(modality: str, engine: str) -> list[MethodContext]:
    # a long-tailed 3-class context, then a binary one (some losses exist only for two classes)
    return [MethodContext(modality, engine, 3, (120, 40, 12), (2,), epochs=10),
            MethodContext(modality, engine, 2, (120, 12), (1,), epochs=10)]


def check_composable(parts: Sequence[Method], modalities: Sequence[str], engines: Sequence[str]) -> None:
    """Build every part once per engine (middle-of-range parameters, a probe context) and merge the
    recipes, so that a refused combination stops a run before any work. A part whose builder fails on
    the probe (it needs a resource, a feature kind) is left to the trials, where the same rules hold."""
    for engine in engines:
        for ctx in (c for m in modalities for c in _probe_contexts(m, engine)):
            recipes = []
            for part in parts:
                try:
                    recipes.append((part.name, part.build(part.search_space(ProbeTrial(), ctx) or {}, ctx)))
                except Exception:  # noqa: BLE001 - not a composition problem; the trials report it
                    break
            else:
                merge_recipes(recipes)
                break  # one context per engine tells the hooks each part sets


def _joined_papers(parts: Sequence[Method]) -> str:
    seen, entries = set(), []
    for part in parts:
        key = bibtex_key(part.paper) or part.paper.strip()
        if part.paper.strip() and key not in seen:
            seen.add(key)
            entries.append(part.paper.strip())
    return "\n\n".join(entries)


def compose_method(name: str, lookup: Callable[[str], Method] | None = None) -> Method | None:
    """The combined row for ``name`` (None when ``name`` has no ``+``): see the module docstring.

    Raises :class:`~benchmark.errors.UnknownNameError` for an unknown part and
    :class:`BenchmarkError` (a :class:`CompositionError` for two parts on one hook) for a refused
    combination, each in one line naming the parts."""
    if SEPARATOR not in name:
        return None
    lookup = lookup or method_registry.get
    try:
        parts = canonical_order([lookup(n) for n in part_names(name)])
    except UnknownNameError as exc:
        raise UnknownNameError(f"{exc} (a part of the combined method {name!r})") from None
    for part in parts:
        if part.family in FAMILIES and not family(part.family).is_remedy:  # the baseline
            raise BenchmarkError(f"combined method {name!r} includes '{part.name}', which is no remedy",
                                 "combine remedies only; the baseline is its own row")
    names = tuple(p.name for p in parts)
    canonical = SEPARATOR.join(names)
    modalities = tuple(m for m in parts[0].modalities if all(m in p.modalities for p in parts[1:]))
    if not modalities:
        raise BenchmarkError(f"combined method {canonical!r} has no modality every part supports ("
                             + "; ".join(f"{p.name}: {', '.join(p.modalities)}" for p in parts) + ")",
                             "combine methods that share a modality")
    engines = tuple(e for e in parts[0].engines if all(e in p.engines for p in parts[1:]))
    if not engines:
        raise BenchmarkError(f"combined method {canonical!r} has no engine every part runs on ("
                             + "; ".join(f"{p.name}: {'/'.join(p.engines)}" for p in parts) + ")",
                             "combine methods that share an engine")
    requires: dict[str, dict[str, Any]] = {}
    for part in parts:
        for modality, settings in part.requires.items():
            for key, value in settings.items():
                have = requires.setdefault(modality, {}).setdefault(key, value)
                if have != value:
                    raise BenchmarkError(f"combined method {canonical!r}: its parts need {key}={have!r} and "
                                         f"{key}={value!r} on {modality} data", "combine methods that agree")
    check_composable(parts, modalities, engines)
    differences = " ".join(f"{p.name}: {p.differences}" for p in parts if p.differences.strip())
    return Method(
        name=canonical,
        build=functools.partial(build_combined, names),
        family="combination",
        modalities=modalities,
        engines=engines,
        summary=f"{' + '.join(names)} together: " + "; ".join(f"{p.name}: {p.summary.rstrip('.')}" for p in parts) + ".",
        paper=_joined_papers(parts),
        search_space=functools.partial(combined_space, names),
        differences=(differences + " " if differences else "")
        + "Combined by benchmark.methods._composition: each hook from the part that sets it.",
        applies_to=(functools.partial(combined_applies_to, names) if any(p.applies_to for p in parts) else None),
        tags=tuple(dict.fromkeys(t for p in parts for t in p.tags)),
        requires=requires,
        parts=names,
        neutral_params={f"{p.name}{PARAMETER_SEPARATOR}{k}": v for p in parts for k, v in p.neutral_params.items()},
        inert_params={f"{p.name}{PARAMETER_SEPARATOR}{k}": v for p in parts for k, v in p.inert_params.items()},
    )
