"""Checks of the per-batch and per-epoch hooks, called directly on fixed inputs (no training).

Each check holds any recipe that switches its hook on to the hook's contract; where the method's
family names the check (:func:`~benchmark.testing._context.promised`), the recipe must also switch
the hook on and show the family's effect (the parts marked "family" below).

- ``loss``: finite values and gradients at every epoch, hard labels equal to their one-hot soft
  labels; family: cross-entropy at the method's declared neutral parameters with balanced classes,
  not cross-entropy at its tuned ones, and a class-aware loss weights a minority sample at least as
  much as a majority one (the direction of every re-weighting paper).
- ``batch_sampler``: valid row indices, and a re-balancing sampler draws the rarest class more
  often than the data holds it.
- ``augment``: shapes, dtype and range kept; labels kept (or soft labels that are distributions
  over the batch's classes); the transform does something; "minority only" leaves other images.
- ``stages``: fractions that sum to one. ``adjust``: shapes kept, decisions move towards the
  minority on logits biased to the majority. ``classifier``: same seed, same model.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.methods.base import Method
from benchmark.testing._context import (
    Case,
    CheckOptions,
    applicable_cases,
    default_recipe,
    fail,
    largest_class,
    main_cases,
    minority_share,
    promised,
    smallest_class,
)
from benchmark.testing._probe import (
    PROBE_EPOCHS,
    ProbeState,
    augment_batches,
    biased_logits,
    loss_curve,
    probe_backbone,
    probe_logits,
    random_draws,
    same,
)


def _deep_cases(method: Method, options: CheckOptions) -> list[Case]:
    return [c for c in main_cases(method, options) if c.engine == "deep"]


def losses_of(recipe) -> list[tuple[str, Any]]:
    found = [("recipe", recipe.loss)] if recipe.loss is not None else []
    return found + [(f"stage '{s.name}'", s.loss) for s in recipe.stages or [] if s.loss is not None]


# -- loss -------------------------------------------------------------------------------------------
def _value_and_grad(loss: Any, logits: torch.Tensor, target: torch.Tensor, epoch: int) -> tuple[float, torch.Tensor]:
    z = logits.clone().requires_grad_(True)
    value = copy.deepcopy(loss)(z, target, epoch)  # a copy: stateful losses (GHM-C) start alike
    value.backward()
    return float(value.detach()), z.grad.detach().clone()


def _check_finite_and_soft(method: Method, where: str, loss: Any, num_classes: int) -> None:
    logits, target = probe_logits(num_classes)
    onehot = F.one_hot(target, num_classes).float()
    mixed = 0.7 * onehot + 0.3 * onehot.roll(1, dims=0)
    for epoch in range(PROBE_EPOCHS):
        hard, grad = _value_and_grad(loss, logits, target, epoch)
        try:
            soft, soft_grad = _value_and_grad(loss, logits, onehot, epoch)
            mix, mix_grad = _value_and_grad(loss, logits, mixed, epoch)
        except Exception as exc:  # noqa: BLE001 - any error here is the finding
            fail(method, "loss", f"the {where} loss fails on soft labels (B, C) from mixing augmentations at epoch "
                                 f"{epoch}: {type(exc).__name__}: {exc}")
        if not all(np.isfinite([hard, soft, mix])) or not all(torch.isfinite(g).all() for g in (grad, soft_grad,
                                                                                                  mix_grad)):
            fail(method, "loss", f"the {where} loss or its gradient is not finite at epoch {epoch}")
        if not grad.abs().sum() > 0:
            fail(method, "loss", f"the {where} loss has a zero gradient at epoch {epoch}")
        if abs(hard - soft) > 1e-5 * (1 + abs(hard)) or not torch.allclose(grad, soft_grad, rtol=1e-4, atol=1e-6):
            fail(method, "loss", f"the {where} loss differs on class indices ({hard}) and their one-hot soft labels "
                                 f"({soft}) at epoch {epoch}: soft targets (B, C) from mixing must be accepted")


def proportional_to_ce(loss: Any, num_classes: int, epochs: int = PROBE_EPOCHS) -> bool:
    """Whether the loss is c x cross-entropy (values and gradients, c > 0) on fixed batches at every epoch."""
    ratio = None
    for seed in (0, 1):
        logits, target = probe_logits(num_classes, seed)
        ce, ce_grad = _value_and_grad(lambda z, t, e: F.cross_entropy(z, t), logits, target, 0)
        for epoch in range(epochs):
            value, grad = _value_and_grad(loss, logits, target, epoch)
            ratio = value / ce if ratio is None else ratio
            if ratio <= 0 or abs(value - ratio * ce) > 1e-5 * (1 + abs(value)):
                return False
            if not torch.allclose(grad, ratio * ce_grad, rtol=1e-4, atol=1e-6):
                return False
    return True


def sample_weights(loss: Any, num_classes: int, epoch: int) -> np.ndarray:
    """How strongly each class's sample pulls on the model: the gradient norm of each sample of a
    batch holding one sample of every class, all logits equal."""
    logits = torch.zeros(num_classes, num_classes)
    _, grad = _value_and_grad(loss, logits, torch.arange(num_classes), epoch)
    return grad.norm(dim=1).numpy()


def check_loss(method: Method, options: CheckOptions) -> None:
    """Finite, soft-label-ready; cross-entropy at the neutral parameters; re-weights the right way."""
    deep, strict = _deep_cases(method, options), promised(method, "loss")
    if strict and "classical" in method.engines:
        _check_class_weight(method, options)
    differs_from_ce = False
    for case in deep:
        params, recipe = default_recipe(method, case)
        losses = losses_of(recipe)
        if strict and not losses:
            fail(method, "loss", f"its family is {method.family} but its recipe on {case.split.dataset} sets no loss")
        for where, loss in losses:
            _check_finite_and_soft(method, where, loss, case.split.num_classes)
        if not strict:
            continue
        ctx = case.context()
        balanced_ctx = replace(ctx, class_counts=(max(ctx.class_counts),) * ctx.num_classes)
        neutral = method.build({**params, **options.neutral_params}, balanced_ctx)
        for where, loss in losses_of(neutral):
            if not proportional_to_ce(loss, ctx.num_classes):
                fail(method, "loss", f"the {where} loss is not cross-entropy with balanced classes at its neutral "
                                     f"parameters {options.neutral_params or '(its defaults)'} on "
                                     f"{case.split.dataset}; declare the parameters at which it is in its "
                                     "register_method(neutral_params=...)")
        for draw in random_draws(method, ctx, n=3):
            recipe = method.build(draw, ctx)
            differs_from_ce |= any(not proportional_to_ce(loss, ctx.num_classes) for _, loss in losses_of(recipe))
            _check_direction(method, draw, recipe, method.build(draw, balanced_ctx), case)
    if strict and deep and not differs_from_ce:
        fail(method, "loss", "its loss is (a multiple of) plain cross-entropy in every configuration tried on "
                             f"{', '.join(c.split.dataset for c in deep)}: the method changes nothing")


def _check_direction(method: Method, params: dict, recipe, balanced, case: Case) -> None:
    """A loss that changes with the class counts must weight the rarest class at least as much as the
    largest at every epoch, and more at some epoch."""
    counts = case.split.class_counts("train")
    small, large = smallest_class(counts), largest_class(counts)
    for (where, loss), (_, plain) in zip(losses_of(recipe), losses_of(balanced), strict=False):
        C = case.split.num_classes
        if same(loss_curve(loss, C), loss_curve(plain, C)):
            continue  # not class-aware: focal loss, GHM-C
        weights = [sample_weights(loss, C, e) for e in range(PROBE_EPOCHS)]
        if any(w[small] < w[large] * (1 - 1e-6) for w in weights) or not any(w[small] > w[large] * (1 + 1e-6)
                                                                             for w in weights):
            per_epoch = [round(float(w[small] / max(w[large], 1e-12)), 4) for w in weights]
            fail(method, "loss direction", f"the {where} loss weights the rarest class {small} against the largest "
                                           f"{large} by {per_epoch} over the epochs on {case.split.dataset} with "
                                           f"{params}; a re-weighting loss must favour the rare class")


def _check_class_weight(method: Method, options: CheckOptions) -> None:
    """The classical engine's side of a loss row: class weights that favour the rarest class (at
    least as much as the largest in every draw, more in some)."""
    favoured = False
    for case in applicable_cases(method, options, engines=("classical",)):
        ctx = case.context()
        counts = case.split.class_counts("train")
        for params in random_draws(method, ctx, n=3):
            recipe = method.build(params, ctx)
            if recipe.class_weight is None:
                fail(method, "loss", f"its family is {method.family} but its classical recipe on "
                                     f"{case.split.dataset} sets no class_weight")
            w = np.asarray(recipe.class_weight, dtype=float)
            if w[smallest_class(counts)] < w[largest_class(counts)]:
                fail(method, "loss direction", f"class weights {w.tolist()} for counts {counts} ({params}) favour "
                                               "the largest class")
            favoured |= bool(w[smallest_class(counts)] > w[largest_class(counts)])
    if not favoured:
        fail(method, "loss direction", "its class weights never favour the rarest class")


# -- batch samplers -----------------------------------------------------------------------------------
def check_batch_sampler(method: Method, options: CheckOptions) -> None:
    """Valid indices into the training rows; a re-balancing sampler draws the rarest class more often."""
    strict = promised(method, "batch_sampler")
    for case in _deep_cases(method, options):
        params, recipe = default_recipe(method, case)
        samplers = ([("recipe", recipe.batch_sampler)] if recipe.batch_sampler is not None else []) + [
            (f"stage '{s.name}'", s.batch_sampler) for s in recipe.stages or [] if s.batch_sampler is not None]
        if strict and not samplers:
            fail(method, "batch sampling", f"its recipe on {case.split.dataset} sets no batch sampler")
        y = np.asarray(case.split.train.y)
        small = smallest_class(case.split.class_counts("train"))
        for where, sampler in samplers:
            state = ProbeState(y, case.split.num_classes)
            shares = []
            for epoch in range(PROBE_EPOCHS):
                state.epoch = epoch
                idx = torch.as_tensor(sampler.batch_indices(epoch, state))
                if idx.dim() != 1 or idx.dtype.is_floating_point or not idx.numel():
                    fail(method, "batch sampling", f"the {where} sampler gave {idx.dtype} indices of shape "
                                                   f"{tuple(idx.shape)} at epoch {epoch}")
                if int(idx.min()) < 0 or int(idx.max()) >= len(y):
                    fail(method, "batch sampling", f"the {where} sampler drew rows outside 0..{len(y) - 1}")
                shares.append(minority_share(y[idx.numpy()], small))
            base = minority_share(y, small)
            if shares[-1] < base - 1e-9 or (strict and not shares[-1] > base + 1e-9):
                fail(method, "batch sampling", f"the {where} sampler draws the rarest class {small} as "
                                               f"{shares[-1]:.3f} of an epoch (the data: {base:.3f}) on "
                                               f"{case.split.dataset} with {params}")


# -- augmentation -------------------------------------------------------------------------------------
def _augments_of(recipe) -> list[tuple[str, Any, bool]]:
    found = [("recipe", recipe.augment, False)] if recipe.augment is not None else []
    return found + [(f"stage '{s.name}'", s.augment, s.feature_resample is not None)
                    for s in recipe.stages or [] if s.augment is not None]


def _check_batch(method: Method, where: str, x, y, out_x, out_y, num_classes: int, image: bool) -> None:
    if tuple(out_x.shape) != tuple(x.shape) or out_x.dtype != x.dtype or not torch.isfinite(out_x).all():
        fail(method, "augmentation", f"the {where} augment turned a {x.dtype} batch {tuple(x.shape)} into "
                                     f"{out_x.dtype} {tuple(out_x.shape)} (or non-finite values)")
    if image and (float(out_x.min()) < -1e-5 or float(out_x.max()) > 1 + 1e-5):
        fail(method, "augmentation", f"the {where} augment left the [0, 1] range of images: "
                                     f"[{float(out_x.min()):.3f}, {float(out_x.max()):.3f}]")
    if out_y.dim() == 1:
        if not torch.equal(out_y, y):
            fail(method, "augmentation", f"the {where} augment changed the labels of its batch")
        return
    present = torch.zeros(num_classes, dtype=torch.bool)
    present[y] = True
    if (tuple(out_y.shape) != (len(y), num_classes) or float(out_y.min()) < -1e-6
            or not torch.allclose(out_y.sum(1), torch.ones(len(y)), atol=1e-4) or float(out_y[:, ~present].abs().sum()) > 1e-6):
        fail(method, "augmentation", f"the {where} augment's soft labels {tuple(out_y.shape)} are not distributions "
                                     "over the classes of the batch")


def check_augmentation(method: Method, options: CheckOptions) -> None:
    """Shapes, dtype, range and labels kept; the transform changes something; minority-only is."""
    strict = promised(method, "augmentation")
    for case in _deep_cases(method, options):
        ctx = case.context()
        changed = False
        for draw in random_draws(method, ctx, n=4):
            recipe = method.build(draw, ctx)
            found = _augments_of(recipe)
            if strict and not found:
                fail(method, "augmentation", f"its recipe on {case.split.dataset} sets no augment hook")
            for where, augment, features in found:
                batches = augment_batches(augment, case.split)
                if features:
                    batches = [(torch.randn(len(batches[0][1]), 6, generator=torch.Generator().manual_seed(0)),
                                batches[0][1])]
                state = ProbeState(case.split.train.y, case.split.num_classes,
                                   unlabeled=case.split.unlabeled)
                torch.manual_seed(0)
                for x, y in batches:
                    for _ in range(3):
                        out_x, out_y = augment.augment(x.clone(), y.clone(), state)
                        _check_batch(method, where, x, y, out_x, out_y, case.split.num_classes,
                                     case.split.modality == "image" and not features)
                        changed |= not torch.equal(out_x, x)
                        if draw.get("apply_to") == "minority" and not features:
                            others = ~torch.isin(y, torch.as_tensor(list(ctx.minority_classes)))
                            if not torch.equal(out_x[others], x[others]):
                                fail(method, "augmentation", f"with apply_to='minority' the {where} augment changed "
                                                             "images of non-minority classes")
        if strict and not changed:
            fail(method, "augmentation", f"its augment left every probe batch unchanged on {case.split.dataset}")


# -- stages, post-hoc adjustment, classifiers ------------------------------------------------------------
def check_stages(method: Method, options: CheckOptions) -> None:
    """Stage fractions are positive and sum to one; multi-stage families have two stages or more."""
    from benchmark.training.deep import stage_epochs

    strict = promised(method, "stages")
    for case in _deep_cases(method, options):
        for draw in random_draws(method, case.context(), n=3):
            stages = method.build(draw, case.context()).stages
            if not stages:
                if strict:
                    fail(method, "stages", f"its family is {method.family} but its recipe sets no stages")
                continue
            fractions = [float(s.epochs) for s in stages]
            if any(f <= 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
                fail(method, "stages", f"stage fractions {fractions} with {draw} do not sum to one")
            if any(s.train not in ("all", "head") for s in stages):
                fail(method, "stages", f"stages train {[s.train for s in stages]}; use 'all' or 'head'")
            if strict and len(stages) < 2:
                fail(method, "stages", f"a {method.family} recipe with {len(stages)} stage")
            stage_epochs(stages, max(options.config.epochs, len(stages)))


def check_adjust(method: Method, options: CheckOptions) -> None:
    """An adjustment keeps shapes, leaves its input alone and moves decisions towards the minority."""
    strict = promised(method, "adjust")
    for case in main_cases(method, options):
        params, recipe = default_recipe(method, case)
        if recipe.adjust is None:
            if strict:
                fail(method, "post-hoc", f"its recipe on {case.split.dataset} sets no adjust hook")
            continue
        counts = tuple(case.split.class_counts("train"))
        logits, y = biased_logits(counts)
        adjust = recipe.adjust
        if hasattr(adjust, "attach"):
            adjust.attach(probe_backbone(case.split.num_classes, counts))
        if hasattr(adjust, "fit"):
            adjust.fit(logits.copy(), y, list(counts))
        given = logits.copy()
        out = np.asarray(adjust.adjust(given))
        if out.shape != logits.shape or not np.isfinite(out).all() or not np.array_equal(given, logits):
            fail(method, "post-hoc", f"adjust turned logits {logits.shape} into {out.shape} (or non-finite values, or "
                                     "changed its input in place)")
        small = smallest_class(counts)
        before, after = int((logits.argmax(1) == small).sum()), int((out.argmax(1) == small).sum())
        if after < before or (strict and after == before):
            fail(method, "post-hoc", f"on validation logits biased to the majority, the rarest class {small} is "
                                     f"predicted {before} times before and {after} after adjusting ({params})")


def check_classifier(method: Method, options: CheckOptions) -> None:
    """The classifier hook gives a scikit-learn estimator; the same seed gives the same model."""
    from benchmark.training.features import make_featurizer

    strict = promised(method, "classifier")
    for case in main_cases(method, options):
        _, recipe = default_recipe(method, case)
        if recipe.classifier is None:
            if strict:
                fail(method, "ensemble", f"its recipe on {case.split.dataset} sets no classifier")
            continue
        featurizer = make_featurizer(case.split.modality, case.config, case.split.feature_kinds, dense=False)
        X = featurizer.fit(case.split.train.X).transform(case.split.train.X)
        X_test = featurizer.transform(case.split.test.X)
        probas = [recipe.classifier(0).fit(X, case.split.train.y).predict_proba(X_test) for _ in range(2)]
        if probas[0].shape != (len(case.split.test), case.split.num_classes) or not np.allclose(*probas):
            fail(method, "ensemble", f"classifier(seed=0) gave probabilities {probas[0].shape} that differ between "
                                     "two fits with the same seed")
        return  # one split suffices: the engine runs cover the others
