"""The CPU engine for small models (issue 26): the fused CPU optimiser changes no score beyond float
rounding, and the CUDA-graph self-check falls back to eager training with one note (forced here on the
CPU by a capture that fails)."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch

import benchmark.training.deep as deep
import benchmark.training.step as step
from benchmark.methods.base import Recipe, Stage
from benchmark.metrics import compute_metrics
from benchmark.testing import make_tabular_split, make_text_split
from benchmark.training.base import TrainingConfig
from benchmark.training.deep import DeepEngine

CPU = torch.device("cpu")


def loop_adamw(params, config, device, capturable):
    """torch's default CPU AdamW: a Python loop over the parameters (the engine's optimiser before issue 26)."""
    return torch.optim.AdamW(list(params), lr=config.lr, weight_decay=config.weight_decay, foreach=False)


@pytest.mark.parametrize("make_split", [make_tabular_split, make_text_split], ids=["tabular", "text"])
def test_the_fused_cpu_optimiser_changes_scores_by_float_rounding_only(make_split, monkeypatch):
    split = make_split()
    config = TrainingConfig(epochs=4, batch_size=16, lr=3e-3, weight_decay=1e-4, tfidf_max_features=200)
    fused = DeepEngine().fit(split, Recipe(), config, seed=3, device="cpu")
    monkeypatch.setattr(deep, "make_optimizer", loop_adamw)
    looped = DeepEngine().fit(split, Recipe(), config, seed=3, device="cpu")
    p_fused, p_loop = fused.predict_proba(split.test.X), looped.predict_proba(split.test.X)
    assert not np.array_equal(p_fused, p_loop)  # another kernel really ran ...
    np.testing.assert_allclose(p_fused, p_loop, atol=1e-5)  # ... and it rounds differently, no more
    minority = split.minority_classes
    scores = [compute_metrics(split.test.y, p, minority)[0] for p in (p_fused, p_loop)]
    for name in ("balanced_accuracy", "minority_recall", "minority_f1", "macro_f1"):
        assert scores[0][name] == pytest.approx(scores[1][name], abs=1e-9), name


def test_cpu_optimisers_are_fused():
    params = [torch.nn.Parameter(torch.zeros(3))]
    assert step.make_optimizer(params, TrainingConfig(), CPU, False).defaults["fused"] is True
    assert step.make_optimizer(params, TrainingConfig(optimizer="sgd"), CPU, False).defaults["fused"] is True


# -- the CUDA-graph self-check and its fallback ----------------------------------------------------
@pytest.fixture
def graphs_on_cpu(monkeypatch):
    """Let the CPU ask for graphs, as CUDA does, with a fresh per-process verdict."""
    monkeypatch.setattr(step, "graph_device", lambda device: True)
    monkeypatch.setattr(step, "_graph_verdicts", {})


def failing_capture(*args, **kwargs):
    raise step.GraphCaptureError("forced capture failure")


def test_a_failed_self_check_trains_eagerly_after_one_note(graphs_on_cpu, monkeypatch):
    split = make_tabular_split()
    config = TrainingConfig(epochs=3, batch_size=16, lr=3e-3, cuda_graphs=True)
    reference = DeepEngine().fit(split, Recipe(), replace(config, cuda_graphs=False), seed=1, device="cpu")
    monkeypatch.setattr(step, "capture_step", failing_capture)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = DeepEngine().fit(split, Recipe(), config, seed=1, device="cpu")
        second = DeepEngine().fit(split, Recipe(stages=[Stage("a", 0.5), Stage("b", 0.5)]), config, seed=1,
                                  device="cpu")
    notes = [str(w.message) for w in caught if "self-check" in str(w.message)]
    assert len(notes) == 1, notes  # one note per process, not one per fit or stage
    assert "forced capture failure" in notes[0] and "training runs eagerly" in notes[0]
    assert step._graph_verdicts == {("cpu", 0): False}
    assert first.timings["graph_capture_seconds"] == 0.0 and second.timings["train_steps"] > 0
    # eager training, the same steps as a fit that never asked for graphs
    np.testing.assert_array_equal(first.predict_proba(split.test.X), reference.predict_proba(split.test.X))


class EagerReplay:
    """A stand-in graph whose replay runs the step eagerly: the self-check must find it equal."""

    def __init__(self, body, zero_grad):
        self.body, self.zero_grad = body, zero_grad

    def replay(self):
        self.zero_grad(set_to_none=True)
        self.body()


class FrozenReplay(EagerReplay):
    """A broken graph: replays train nothing."""

    def replay(self):
        pass


@pytest.mark.parametrize("graph, passes", [(EagerReplay, True), (FrozenReplay, False)])
def test_the_self_check_compares_replayed_steps_with_eager_ones(graph, passes, graphs_on_cpu, monkeypatch):
    monkeypatch.setattr(step, "capture_step", lambda body, tensors, zero_grad, device: graph(body, zero_grad))
    rng = torch.get_rng_state()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert step.use_cuda_graphs(TrainingConfig(), CPU, [None], rate_changes=False) is passes
    assert torch.equal(torch.get_rng_state(), rng)  # the check leaves the trial's random stream alone
    notes = [str(w.message) for w in caught]
    assert notes == [] if passes else ("4 replayed steps ended" in notes[0] and len(notes) == 1)


def test_graphs_are_not_asked_for_where_settings_or_hooks_forbid_them(graphs_on_cpu, monkeypatch):
    monkeypatch.setattr(step, "capture_step", failing_capture)
    assert not step.use_cuda_graphs(TrainingConfig(cuda_graphs=False), CPU, [None], False)
    assert not step.use_cuda_graphs(TrainingConfig(), CPU, [object()], False)  # a hook not declared graph-safe
    assert step._graph_verdicts == {}  # the self-check ran for none of them


@pytest.mark.gpu
def test_the_self_check_passes_on_this_gpu(monkeypatch):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    monkeypatch.setattr(step, "_graph_verdicts", {})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a note would be a failure here
        assert step.cuda_graphs_work(torch.device("cuda"))
    assert step.graph_self_check(torch.device("cuda")) is None
