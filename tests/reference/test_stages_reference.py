"""The decoupling rows (cRT, tau-normalisation, LWS) and EOS against figures from their authors' code."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.methods.stages.eos import nearest_neighbours
from tests.reference._figures import assert_close, build, context, load

pytestmark = pytest.mark.reference


def _head(weight, bias=None) -> nn.Linear:
    weight = torch.tensor(weight)
    head = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        head.weight.copy_(weight)
        head.bias.copy_(torch.tensor(bias) if bias is not None else torch.zeros(weight.shape[0]))
    return head


def test_tau_normalisation_matches_the_authors_code():
    """The authors evaluate features @ pnorm(W, tau).T without the bias; with a zero bias the row's
    logit scaling z_c / ||w_c||^tau must give the same logits (the row scales a bias too: its card)."""
    record = load("tau_normalisation")
    feats, weight = torch.tensor(record["inputs"]["features"]), record["inputs"]["weight"]
    head = _head(weight)
    logits = head(feats).detach().numpy()
    for case in record["cases"]:
        adjust = build("tau-normalisation", {}, context([10, 5, 3, 2])).adjust
        adjust.attach(SimpleNamespace(head=head))
        adjust.tau = case["tau"]  # the row picks tau on validation; here it is the authors' value
        assert_close(adjust.adjust(logits), case["logits"], record["tolerance"], f"tau={case['tau']}: logits")


def test_lws_step_matches_the_authors_classifier():
    record = load("lws")
    inputs, expected, tol = record["inputs"], record["expected"], record["tolerance"]
    stage = next(s for s in build("lws", {}, context([10, 5, 3, 2], epochs=10)).stages if s.head_wrapper is not None)
    wrapped = stage.head_wrapper(_head(inputs["weight"], inputs["bias"]))
    trainable = [p for p in wrapped.parameters() if p.requires_grad]
    assert len(trainable) == len(expected["trainable"]) == 1  # the scales only, as the authors' module
    feats = torch.tensor(inputs["features"])
    logits = wrapped(feats)
    loss = F.cross_entropy(logits, torch.tensor(inputs["labels"]))
    loss.backward()
    assert_close(logits.detach(), expected["logits"], tol, "LWS logits")
    assert_close(loss.item(), expected["loss"], tol, "LWS loss")
    assert_close(trainable[0].grad, expected["scale_grad"], tol, "LWS scale gradient")
    torch.optim.SGD(trainable, lr=inputs["lr"]).step()
    assert_close(trainable[0].detach(), expected["scales_after_step"], tol, "LWS scales after one step")
    assert_close(wrapped.fold()(feats).detach(), expected["logits_after_step"], tol, "LWS folded head after one step")


def test_crt_sampler_gives_each_row_the_authors_share():
    """The authors' ClassAwareSampler cycles through classes and rows; the row draws i.i.d. at the same
    per-row rates (its card), so the expected share of every row and class must equal theirs."""
    record = load("crt")
    y = torch.tensor(record["inputs"]["labels"])
    counts = torch.bincount(y)
    stage = next(s for s in build("crt", {}, context(counts.tolist(), epochs=10)).stages if s.train == "head")
    assert stage.reinit_head and stage.feature_resample is None
    state = SimpleNamespace(y=y, class_counts=counts, num_classes=len(counts), generator=torch.Generator().manual_seed(0))
    weights = stage.batch_sampler.row_weights(state).double()
    share = (weights / weights.sum()).numpy()
    assert_close(share, record["expected"]["row_frequency"], record["tolerance"], "cRT per-row sampling share")
    assert_close(np.bincount(y.numpy(), weights=share), record["expected"]["class_share"], record["tolerance"],
                 "cRT per-class sampling share")


def _queue(values):
    pending = list(values)
    return lambda *args, **kwargs: pending.pop(0)


def test_eos_bases_neighbours_and_samples_match_the_authors_code(monkeypatch):
    """Bases, their neighbour lists and enemy probabilities must equal the authors'. Their file then moves
    each sample towards ind2[base, pick], one rank nearer than the enemy its probabilities chose (the base
    itself when pick = 0): the row moves towards that enemy, as the paper describes (its card). So the
    row's samples are the authors' with the partner row replaced by the enemy."""
    record = load("eos")
    inputs, expected, tol = record["inputs"], record["expected"], record["tolerance"]
    x, y = torch.tensor(inputs["features"], dtype=torch.float32), torch.tensor(inputs["labels"])
    counts = torch.bincount(y).tolist()
    recipe = build("eos", {"k_neighbors": inputs["k_neighbors"], "balance": 1.0}, context(counts, epochs=10))
    sampler = next(s.feature_resample for s in recipe.stages if s.feature_resample is not None)
    per_class = [expected["per_class"][str(c)] for c in sorted(int(k) for k in expected["per_class"])]
    monkeypatch.setattr(torch, "randint", _queue(torch.tensor(pc["draws"]["base"]) for pc in per_class))
    monkeypatch.setattr(torch, "multinomial", _queue(torch.tensor(pc["draws"]["pick"]).unsqueeze(1) for pc in per_class))
    monkeypatch.setattr(torch, "rand", _queue(torch.tensor(pc["draws"]["r"]).unsqueeze(1) for pc in per_class))
    out_x, out_y = sampler.resample(x, y, seed=0)
    monkeypatch.undo()
    for c, pc in zip(sorted(int(k) for k in expected["per_class"]), per_class, strict=True):
        assert sampler.last_bases[c].tolist() == pc["bases"], f"class {c}: bases"
        neighbours = nearest_neighbours(x, torch.tensor(pc["bases"]), inputs["k_neighbors"])
        assert neighbours.tolist() == pc["neighbours"], f"class {c}: neighbour lists"
        enemy = (y[neighbours] != c).double()
        assert_close(enemy / enemy.sum(dim=1, keepdim=True), pc["enemy_probability"], tol, f"class {c}: enemy probability")
    synthetic = out_x[len(y):].double()
    assert out_y[len(y):].tolist() == expected["sample_labels"]
    r = torch.tensor([v for pc in per_class for v in pc["draws"]["r"]], dtype=torch.float64).unsqueeze(1)
    partners, enemies = torch.tensor(expected["partner_rows"]), torch.tensor(expected["enemy_rows"])
    authors = torch.tensor(expected["samples"], dtype=torch.float64)
    assert_close(synthetic, authors + r * (x[enemies].double() - x[partners].double()), tol, "EOS samples")
    assert bool((partners != enemies).any()), "the record shows the authors' partner row is not always the enemy"
