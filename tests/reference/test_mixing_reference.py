"""The mixing rows against figures from their authors' code: the mixed batch (and the mixed loss on fixed
logits) for fixed images, labels and drawn numbers. The row's own random calls are fed the same draws the
authors' code was fed (see tests/reference/data/<row>.json)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from benchmark.methods.augmentation import _mixing_ops as mc
from tests.reference._figures import assert_close, build, context, load

pytestmark = pytest.mark.reference


def _queue(values, make):
    pending = [make(v) for v in values]
    return lambda *args, **kwargs: pending.pop(0)


def feed_draws(monkeypatch, draws: dict) -> None:
    """Make the row's draws return the stored numbers: lambda, the partners, the batch's coin, CutMix's
    centre (rows, then columns), FMix's spectrum (real part, then imaginary part)."""
    if draws.get("lam") is not None:
        monkeypatch.setattr(mc, "beta_lambda", lambda *a, **k: torch.tensor(draws["lam"], dtype=torch.float64))
    if draws.get("perm") is not None:
        monkeypatch.setattr(torch, "randperm", _queue([draws["perm"]], torch.tensor))
    if draws.get("r") is not None:
        monkeypatch.setattr(torch, "rand", _queue([draws["r"]], torch.tensor))
    if draws.get("centre") is not None:
        monkeypatch.setattr(torch, "randint", _queue(draws["centre"], torch.tensor))
    if draws.get("spectrum") is not None:
        spectrum = np.asarray(draws["spectrum"], dtype=np.float32)
        monkeypatch.setattr(torch, "randn", _queue([spectrum[..., 0], spectrum[..., 1]], torch.tensor))


def mix(row: str, case: dict, inputs: dict, monkeypatch) -> tuple[torch.Tensor, torch.Tensor]:
    ctx = context(inputs["class_counts"])
    augment = build(row, case["params"], ctx).augment
    state = SimpleNamespace(generator=None, class_counts=torch.tensor(inputs["class_counts"]), device=torch.device("cpu"))
    with monkeypatch.context() as patch:
        feed_draws(patch, case["draws"])
        return augment.augment(torch.tensor(inputs["images"]), torch.tensor(inputs["labels"]), state)


@pytest.mark.parametrize("row", ["mixup", "cutmix"])
def test_mixed_batch_and_loss_match_the_authors_code(row, monkeypatch):
    record = load(row)
    inputs, tol = record["inputs"], record["tolerance"]
    for case in record["cases"]:
        mixed, target = mix(row, case, inputs, monkeypatch)
        assert_close(mixed, case["mixed"], tol, f"{row} {case['draws']}: mixed images")
        loss = F.cross_entropy(torch.tensor(inputs["logits"]), target)  # the engine's default loss
        assert_close(float(loss), case["loss"], tol, f"{row} {case['draws']}: mixed loss")


def test_mixup_targets_are_the_authors_label_pairs(monkeypatch):
    record = load("mixup")
    for case in record["cases"]:
        _, target = mix("mixup", case, record["inputs"], monkeypatch)
        expected = case["lam"] * F.one_hot(torch.tensor(case["y_a"]), 4) + (1 - case["lam"]) * F.one_hot(torch.tensor(case["y_b"]), 4)
        assert_close(target, expected, record["tolerance"], f"mixup {case['draws']}: soft targets")


def authors_spectrum_as_draws(case: dict, h: int, w: int) -> list[list]:
    """The row's two normal draws (real, imaginary; h x (w/2 + 1)) that give the authors' grey image: the
    complex coefficients their file hands to irfftn (a 5 x 2 corner, see the record), divided by the
    paper's decay 1 / max(f, 1/max(h, w))^d that the row multiplies by, and zero elsewhere."""
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :]
    scale = 1.0 / np.maximum(np.sqrt(fy**2 + fx**2), 1.0 / max(h, w)) ** case["params"]["decay_power"]
    parts = []
    for part in ("real", "imag"):
        corner = np.asarray(case["irfftn_input"][part])
        full = np.zeros_like(scale)
        full[: corner.shape[0], : corner.shape[1]] = corner / scale[: corner.shape[0], : corner.shape[1]]
        parts.append(full)
    return np.stack(parts, axis=-1).tolist()


def test_fmix_matches_the_authors_code_given_their_spectrum(monkeypatch):
    """FMix differs by design in one place, which the row's card states: the authors' file builds its complex
    spectrum as spectrum[:, 0] + 1j * spectrum[:, 1], two rows of the frequency grid rather than the real
    and imaginary draws, so their masks hold only a 5 x 2 corner of low frequencies. Given the spectrum their
    file hands to irfftn, the row's grey image, threshold, mixing and label weights must match theirs: cases
    1-2 agree pixel for pixel; in case 3 the authors' coin rounds lam * 64 up where the row rounds (the
    card's second difference), so exactly one pixel, the last x_i keeps, differs. The row weighs the labels
    by the mask's exact share, the authors by the drawn lam (the card's third)."""
    record = load("fmix")
    inputs, tol = record["inputs"], record["tolerance"]
    x = torch.tensor(inputs["images"])
    h, w = x.shape[-2:]
    for k, case in enumerate(record["cases"]):
        draws = {**case["draws"], "spectrum": authors_spectrum_as_draws(case, h, w)}
        mixed, target = mix("fmix", {**case, "draws": draws}, inputs, monkeypatch)
        share = round(case["draws"]["lam"] * h * w) / (h * w)
        if case["kept_share"] == share:
            assert_close(mixed, case["mixed"], tol, f"fmix case {k}: mixed images")
        else:
            differs = ~torch.isclose(mixed, torch.tensor(case["mixed"])).all(dim=0).all(dim=0)
            assert int(differs.sum()) == 1 and case["kept_share"] - share == pytest.approx(1 / (h * w)), k
        y = torch.tensor(inputs["labels"])
        own = target[torch.arange(len(y)), y]
        other = y != y[torch.tensor(case["draws"]["perm"])]
        assert_close(own[other], np.full(int(other.sum()), share), tol, f"fmix case {k}: label weight of x_i")


def test_remix_label_factors_match_the_papers_equation(monkeypatch):
    """Remix has no published code: the figures are the paper's equation worked by hand."""
    record = load("remix")
    inputs = record["inputs"]
    images = torch.rand(4, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    for case in record["cases"]:
        augment = build("remix", case["params"], context(inputs["class_counts"])).augment
        state = SimpleNamespace(generator=None, class_counts=torch.tensor(inputs["class_counts"]))
        with monkeypatch.context() as patch:
            feed_draws(patch, case["draws"])
            _, target = augment.augment(images, torch.tensor(inputs["labels"]), state)
        y, partner = torch.tensor(inputs["labels"]), torch.tensor(case["draws"]["perm"])
        factors = torch.tensor(case["label_factors"]).unsqueeze(1)
        expected = factors * F.one_hot(y, 4) + (1 - factors) * F.one_hot(y[partner], 4)
        assert_close(target, expected, record["tolerance"], f"remix {case['draws']}: soft targets")
