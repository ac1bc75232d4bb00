"""FixMatch-DA against its authors' code: FixMatch's loss (kekmodel/FixMatch-pytorch) and ReMixMatch's
distribution alignment (google-research/remixmatch), on fixed logits."""

from __future__ import annotations

import pytest
import torch

from tests.reference._figures import assert_close, build, context, load

pytestmark = pytest.mark.reference


def _component(params: dict, counts):
    recipe = build("fixmatch-da", params, context(counts, epochs=10))
    assert recipe.augment is recipe.loss  # one component lays the batch out and scores it
    return recipe.loss


def test_fixmatch_loss_matches_the_authors_code():
    """The FixMatch loss without alignment (the component's ``align`` off): the authors' code has none."""
    record = load("fixmatch")
    inputs, tol = record["inputs"], record["tolerance"]
    n_l, n_u = len(inputs["logits_x"]), len(inputs["logits_u_weak"])
    for case in record["cases"]:
        loss = _component(case["params"], [10, 10, 10])
        loss.align = False
        logits = torch.tensor(inputs["logits_x"] + inputs["logits_u_weak"] + inputs["logits_u_strong"], requires_grad=True)
        target = torch.tensor(inputs["targets_x"] + [0] * (2 * n_u))
        loss._layout = (n_l + 2 * n_u, n_l, n_u)  # what augment records for a batch it laid out this way
        value = loss(logits, target, 0)
        value.backward()
        what = f"fixmatch {case['params']}"
        assert_close(value.item(), case["loss"], tol, f"{what}: loss")
        assert loss.last_pseudo_labels.tolist() == case["pseudo_labels"] and loss.last_mask.tolist() == case["mask"]
        grad = logits.grad
        assert_close(grad[:n_l], case["grad_x"], tol, f"{what}: gradient of the labelled logits")
        assert_close(grad[n_l : n_l + n_u], case["grad_weak"], tol, f"{what}: gradient of the weak logits")
        assert_close(grad[n_l + n_u :], case["grad_strong"], tol, f"{what}: gradient of the strong logits")


def test_distribution_alignment_matches_remixmatch_over_consecutive_batches():
    """Three batches in order: p_model starts as ReMixMatch's uniform buffer and each batch is aligned with
    the buffer as it stood before it, so the aligned confidences and labels must equal the authors'."""
    record = load("fixmatch_da")
    loss = _component({"threshold": 0.8}, record["inputs"]["class_counts"])
    assert loss.history == record["inputs"]["buffer"]
    counts = torch.tensor(record["inputs"]["class_counts"], dtype=torch.float32)
    loss._p_target = counts / counts.sum()  # what augment sets from the training counts on its first batch
    for k, step in enumerate(record["steps"]):
        labels, mask = loss.pseudo_labels(torch.tensor(step["weak"]))
        aligned = torch.tensor(step["aligned"])
        assert_close(loss.last_confidence, aligned.max(dim=1).values, record["tolerance"], f"DA batch {k}: confidence")
        assert labels.tolist() == aligned.argmax(dim=1).tolist(), f"DA batch {k}: pseudo-labels"
        assert mask.tolist() == (aligned.max(dim=1).values >= 0.8).float().tolist(), f"DA batch {k}: mask"
