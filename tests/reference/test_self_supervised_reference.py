"""The self-supervised rows against their authors' code: VIME's corruption and loss (jsyoon0823/VIME) and
SSP's rotation views (YyzHarry/imbalanced-semi-self), the draws fed in."""

from __future__ import annotations

import pytest
import torch

from tests.reference._figures import assert_close, build, context, load

pytestmark = pytest.mark.reference


def _queue(values):
    pending = list(values)
    return lambda *args, **kwargs: pending.pop(0)


def _keys_for(order: list[int]) -> torch.Tensor:
    """Uniform draws whose argsort is ``order``."""
    keys = torch.empty(len(order))
    keys[torch.tensor(order)] = torch.arange(len(order), dtype=torch.float32) / len(order)
    return keys


def test_vime_corruption_and_loss_match_the_authors_code(monkeypatch):
    record = load("vime")
    inputs, draws, expected, tol = record["inputs"], record["draws"], record["expected"], record["tolerance"]
    x = torch.tensor(inputs["x"], dtype=torch.float32)
    pretext = build("vime-ssl", {"p_m": inputs["p_m"], "alpha": inputs["alpha"]}, context([5, 1], modality="tabular")).pretrain
    uniforms = torch.where(torch.tensor(draws["mask"]) == 1, 0.0, 0.999)  # masked where u < p_m
    perm_keys = torch.stack([_keys_for(p) for p in draws["column_permutations"]], dim=1)
    with monkeypatch.context() as patch:
        patch.setattr(torch, "rand", _queue([uniforms, perm_keys]))
        corrupted, targets = pretext.views(x, torch.Generator())
    d = x.shape[1]
    assert_close(corrupted, expected["x_tilde"], tol, "VIME corrupted rows")
    assert targets[:, :d].tolist() == [[float(v) for v in row] for row in expected["m_new"]], "VIME mask labels"
    z = torch.tensor(inputs["head_preactivations"], dtype=torch.float32)
    # the row's feature head is linear where VIME's ends in a sigmoid (its card): its output stands for VIME's
    outputs = torch.cat([z[:, :d], torch.sigmoid(z[:, d:])], dim=1)
    assert_close(pretext.loss(outputs, targets).item(), expected["loss"], tol, "VIME loss")


def test_ssp_rotation_views_match_the_authors_code(monkeypatch):
    """Each case's arrangement fits the row's label pool (B = 6: the same pool as the authors'; B = 8: an
    arrangement whose first 8 hold each rotation twice, which the row's pool always does)."""
    record = load("ssp_rotation")
    pretext = build("ssp-rotation", {}, context([5, 1])).pretrain
    for case in record["cases"]:
        images = torch.tensor(case["images"])
        n = images.shape[0]
        pool = (torch.arange(4 * -(-n // 4)) % 4).tolist()
        wanted, order, used = case["labels"], [], set()
        for label in wanted + [v for v in range(4) for _ in range(len(pool))]:
            idx = next((i for i, v in enumerate(pool) if v == label and i not in used), None)
            if idx is not None:
                used.add(idx)
                order.append(idx)
        with monkeypatch.context() as patch:
            patch.setattr(torch, "rand", _queue([_keys_for(order[: len(pool)])]))
            rotated, labels = pretext.views(images, torch.Generator())
        assert labels.tolist() == wanted, f"batch {n}: rotation labels"
        assert_close(rotated, case["rotated"], record["tolerance"], f"batch {n}: rotated images")
