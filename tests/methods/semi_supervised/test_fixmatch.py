"""fixmatch-da: the batch layout its augment records, the loss that splits the logits by it, distribution
alignment, FixMatch's weak and strong views, and a deep-engine run at the baseline's compute."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from benchmark.errors import BenchmarkError
from benchmark.methods import method_registry
from benchmark.methods.base import MethodContext
from benchmark.methods.semi_supervised import fixmatch
from benchmark.methods.semi_supervised._pool import PoolStream
from benchmark.methods.semi_supervised._views import STRONG_OPS, strong_view, weak_view
from benchmark.methods.semi_supervised.fixmatch import FixMatchDA, align_distribution, batch_layout
from benchmark.testing import make_image_split, tiny_config
from benchmark.training.deep import DeepEngine, TrainState


def state_with_pool(pool: np.ndarray, counts=(30, 20, 10), seed: int = 0) -> TrainState:
    y = torch.as_tensor(np.repeat(np.arange(len(counts)), counts))
    state = TrainState(y, torch.bincount(y), len(counts), 4, torch.Generator().manual_seed(seed), torch.device("cpu"))
    state.extra["unlabeled"] = torch.as_tensor(pool)
    return state


@pytest.mark.parametrize("mu", [1, 2, 3, 7])
def test_the_layout_fills_the_batch_with_equal_forward_passes(mu):
    for batch in range(1, 300):
        labelled, unlabeled = batch_layout(batch, mu)
        assert labelled + 2 * unlabeled == batch and labelled >= 1 and unlabeled >= 0
    labelled, unlabeled = batch_layout(256, mu)
    assert abs(unlabeled / labelled - mu) < 0.15 * mu  # B_u / B_l close to mu on a real batch
    with pytest.raises(BenchmarkError, match="mu=0"):
        batch_layout(16, 0)


def test_augment_lays_out_labelled_weak_pool_weak_and_pool_strong_views(monkeypatch):
    """With the views replaced by marked copies: the first B_l inputs are the labelled rows, then B_u pool
    rows (weak), then the same pool rows (strong); the labels come back unchanged."""
    monkeypatch.setattr(fixmatch, "weak_view", lambda x, gen: x + 0)
    monkeypatch.setattr(fixmatch, "strong_view", lambda x, gen: x + 2)
    pool = (np.arange(12, dtype=np.uint8) * 10 + 5).reshape(12, 1, 1, 1).repeat(4, 2).repeat(4, 3)
    state = state_with_pool(pool)
    component = FixMatchDA(mu=2)
    x = torch.rand(20, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    y = torch.arange(20) % 3
    inputs, target = component.augment(x, y, state)
    labelled, unlabeled = batch_layout(20, 2)
    assert inputs.shape == x.shape and torch.equal(target, y)
    assert torch.equal(inputs[:labelled], x[:labelled])
    weak, strong = inputs[labelled : labelled + unlabeled], inputs[labelled + unlabeled :]
    assert torch.allclose(strong - 2, weak)  # the same pool rows in both views
    values = (weak[:, 0, 0, 0] * 255).round().long().tolist()
    assert set(values) <= set(pool[:, 0, 0, 0].tolist())  # pool images, as floats in [0, 1]
    assert len(set(values)) == unlabeled  # drawn without repeats within a pass


def test_the_pool_is_drawn_in_shuffled_passes():
    stream, gen = PoolStream(), torch.Generator().manual_seed(0)
    drawn = torch.cat([stream.take(4, 10, gen, torch.device("cpu")) for _ in range(5)])
    assert sorted(drawn[:10].tolist()) == list(range(10)) and sorted(drawn[10:20].tolist()) == list(range(10))
    assert not torch.equal(drawn[:10], drawn[10:20])


def test_the_loss_is_labelled_cross_entropy_when_no_pseudo_label_is_confident():
    component = FixMatchDA(mu=1, threshold=0.95, lambda_u=2.0)
    state = state_with_pool(np.zeros((9, 1, 4, 4), np.uint8))
    x, y = torch.rand(12, 1, 4, 4), torch.arange(12) % 3
    component.augment(x, y, state)
    labelled, unlabeled = batch_layout(12, 1)
    logits = torch.randn(12, 3, generator=torch.Generator().manual_seed(0))
    logits[labelled : labelled + unlabeled] = 0.0  # weak pool predictions uniform: confidence 1/3 < 0.95
    logits.requires_grad_(True)
    loss = component(logits, y, epoch=0)
    assert float(component.last_mask.sum()) == 0.0
    assert torch.allclose(loss, F.cross_entropy(logits[:labelled], y[:labelled]))
    loss.backward()
    assert torch.count_nonzero(logits.grad[labelled:]) == 0  # nothing flows through pool logits


def test_confident_pool_rows_add_lambda_weighted_strong_cross_entropy():
    component = FixMatchDA(mu=1, threshold=0.9, lambda_u=0.5, align=False)
    state = state_with_pool(np.zeros((9, 1, 4, 4), np.uint8))
    y = torch.arange(12) % 3
    component.augment(torch.rand(12, 1, 4, 4), y, state)
    n_l, n_u = batch_layout(12, 1)  # 4 labelled, 4 pool rows
    logits = torch.randn(12, 3, generator=torch.Generator().manual_seed(2))
    logits[n_l : n_l + n_u] = torch.tensor([[9.0, 0, 0], [0, 0, 0], [0, 0, 9.0], [0, 9.0, 0]])
    loss = component(logits, y, epoch=0)
    strong = logits[n_l + n_u :]
    pseudo, mask = torch.tensor([0, 0, 2, 1]), torch.tensor([1.0, 0.0, 1.0, 1.0])
    expected = F.cross_entropy(logits[:n_l], y[:n_l]) + 0.5 * (
        F.cross_entropy(strong, pseudo, reduction="none") * mask).sum() / n_u
    assert torch.allclose(loss, expected)
    assert component.last_mask.tolist() == mask.tolist()


def test_a_layout_serves_one_batch_and_a_loss_without_one_is_cross_entropy():
    component = FixMatchDA(mu=1)
    logits, y = torch.randn(6, 3), torch.arange(6) % 3
    assert torch.allclose(component(logits, y, 0), F.cross_entropy(logits, y))  # e.g. an embedding stage's batch
    component.augment(torch.rand(6, 1, 4, 4), y, state_with_pool(np.zeros((5, 1, 4, 4), np.uint8)))
    with pytest.raises(BenchmarkError, match="laid out a batch of 6 rows but the loss got 5"):
        component(torch.randn(5, 3), y[:5], 0)
    assert torch.allclose(component(logits, y, 0), F.cross_entropy(logits, y))  # the layout was used up


def test_augment_needs_the_pool_and_pool_images_of_the_batch_shape():
    component, x, y = FixMatchDA(), torch.rand(6, 1, 4, 4), torch.arange(6) % 3
    empty = state_with_pool(np.zeros((5, 1, 4, 4), np.uint8))
    empty.extra.clear()
    with pytest.raises(BenchmarkError, match="needs the unlabeled pool"):
        component.augment(x, y, empty)
    with pytest.raises(BenchmarkError, match=r"pool rows of shape \(1, 8, 8\)"):
        component.augment(x, y, state_with_pool(np.zeros((5, 1, 8, 8), np.uint8)))
    with pytest.raises(BenchmarkError, match="threshold=0"):
        FixMatchDA(threshold=0.0)


def test_alignment_rescales_by_target_over_model_distribution():
    q = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3]])
    p_target, p_model = torch.tensor([0.2, 0.4, 0.4]), torch.tensor([0.5, 0.3, 0.2])
    aligned = align_distribution(q, p_target, p_model)
    manual = q * torch.tensor([0.4, 4 / 3, 2.0])
    assert torch.allclose(aligned, manual / manual.sum(1, keepdim=True))
    assert torch.allclose(align_distribution(q, p_model, p_model), q)  # no correction when they agree


def test_distribution_alignment_moves_pseudo_labels_towards_the_labelled_mix():
    """Weak predictions biased to class 0 far beyond the labelled mix: aligned, the pseudo-labels'
    class distribution lies closer to p_target (the labelled class distribution) once p_model holds the
    model's predictions (ReMixMatch's buffer starts uniform: the batch is seen history + 1 times)."""
    gen = torch.Generator().manual_seed(0)
    true = torch.arange(600) % 3
    logits = 2.0 * F.one_hot(true, 3).float() + torch.randn(600, 3, generator=gen)
    logits[:, 0] += 2.5  # the model's head bias
    counts = (50, 30, 20)
    p_target = torch.tensor(counts, dtype=torch.float32) / sum(counts)
    mixes = {}
    for align in (False, True):
        component = FixMatchDA(threshold=1e-6, align=align)
        component.augment(torch.rand(4, 1, 4, 4), torch.arange(4) % 3,
                          state_with_pool(np.zeros((3, 1, 4, 4), np.uint8), counts=counts))
        for _ in range(component.history + 1):
            labels, _ = component.pseudo_labels(logits)
        mixes[align] = torch.bincount(labels, minlength=3).float() / labels.numel()
    plain, aligned = ((mixes[a] - p_target).abs().sum() for a in (False, True))
    assert mixes[False][0] > 0.7 and aligned < plain / 2, mixes


def test_the_running_model_distribution_keeps_the_last_batches():
    component = FixMatchDA(history=2)
    for value in ([9.0, 0, 0], [0, 9.0, 0], [0, 0, 9.0]):
        component.pseudo_labels(torch.tensor([value]))
    assert component._seen == 3
    mean = component._p_history.mean(0)  # the first batch has left the window
    assert mean[0] < 1e-3 and torch.allclose(mean[1:], torch.tensor([0.5, 0.5]), atol=1e-3)


@pytest.mark.parametrize("name", [name for name, _ in STRONG_OPS])
def test_every_strong_operation_keeps_shape_range_and_repeats_with_its_seed(name):
    op = dict(STRONG_OPS)[name]
    x = torch.rand(6, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    out = op(x, torch.Generator().manual_seed(1))
    assert out.shape == x.shape and out.dtype == x.dtype and torch.isfinite(out).all()
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert torch.equal(out, op(x, torch.Generator().manual_seed(1)))
    if name != "identity" and name != "colour":  # colour acts on saturation: x is random colour, so it changes too
        assert not torch.equal(out, x), name


def test_weak_and_strong_views_change_images_within_range():
    x = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    weak, strong = weak_view(x, torch.Generator().manual_seed(1)), strong_view(x, torch.Generator().manual_seed(1))
    for view in (weak, strong):
        assert view.shape == x.shape and 0.0 <= float(view.min()) and float(view.max()) <= 1.0
    assert not torch.equal(weak, x) and not torch.equal(strong, weak)
    # weak views are flips and shifts: every pixel is a pixel of its image or padding
    assert all(set(weak[i].unique().tolist()) <= set(x[i].unique().tolist()) | {0.0} for i in range(32))
    # strong views blank a square (Cutout of half the side) in every image
    assert all(int((strong[i] == 0).sum()) >= 4 for i in range(32))


def test_a_run_trains_the_baselines_samples_and_uses_the_pool():
    torch.set_num_threads(1)
    split, config = make_image_split(), tiny_config()
    ctx = MethodContext.from_split(split, "deep", epochs=config.epochs)
    recipe = method_registry.get("fixmatch-da").build({"threshold": 0.5, "lambda_u": 1.0, "mu": 1}, ctx)
    model = DeepEngine().fit(split, recipe, config, seed=0, device="cpu")
    baseline = DeepEngine().fit(split, method_registry.get("baseline").build({}, ctx), config, seed=0, device="cpu")
    assert model.timings["unlabeled_rows"] == len(split.unlabeled)
    for key in ("train_samples", "train_steps"):
        assert model.timings[key] == baseline.timings[key]
    assert recipe.augment is recipe.loss and recipe.loss._seen == model.timings["train_steps"]  # every step used the pool
    proba = model.predict_proba(split.test.X)
    assert proba.shape == (len(split.test), 3) and np.allclose(proba.sum(1), 1.0)
