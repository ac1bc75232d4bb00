"""The ``affine`` row (issue 30): one random affine map per image, its matrix checked on a moved blob, its draws
within the tuned bounds, label safety from the dataset card, and the shipped checks."""

from __future__ import annotations

import math

import pytest
import torch

from benchmark.methods import method_registry
from benchmark.methods.augmentation._image_ops import RandomAffine, _warp, affine_theta
from benchmark.testing import check_method, make_image_split


def blob(h: int, w: int, row: float, col: float, sigma: float = 1.2) -> torch.Tensor:
    rows, cols = torch.arange(h).view(h, 1).float(), torch.arange(w).view(1, w).float()
    return torch.exp(-((rows - row) ** 2 + (cols - col) ** 2) / (2 * sigma**2)).view(1, 1, h, w)


def centroid(img: torch.Tensor) -> tuple[float, float]:
    h, w = img.shape[-2:]
    weights = img[0, 0] / img[0, 0].sum()
    return float((weights.sum(1) * torch.arange(h)).sum()), float((weights.sum(0) * torch.arange(w)).sum())


@pytest.mark.parametrize(("angle", "shear", "scale", "tx", "ty"), [
    (0.0, 0.0, 1.0, 0.0, 0.0), (12.0, 0.0, 1.0, 0.0, 0.0), (0.0, 8.0, 1.0, 0.0, 0.0),
    (0.0, 0.0, 1.1, 0.0, 0.0), (0.0, 0.0, 1.0, 0.08, -0.05), (-10.0, 6.0, 0.92, -0.04, 0.07),
])
def test_the_matrix_moves_a_point_by_the_forward_map(angle, shear, scale, tx, ty):
    h, w, row, col = 40, 56, 14.0, 35.0  # not square: the aspect ratio must not distort the map
    one = lambda v: torch.tensor([float(v)])  # noqa: E731
    out = _warp(blob(h, w, row, col), affine_theta(one(angle), one(shear), one(scale), one(tx), one(ty), h, w))
    x, y = col - (w - 1) / 2, row - (h - 1) / 2  # pixel units about the centre
    a, k = math.radians(angle), math.tan(math.radians(shear))
    sx, sy = scale * x, scale * y
    sx, sy = sx + k * sy, sy  # x-shear
    fx, fy = math.cos(a) * sx - math.sin(a) * sy + tx * w, math.sin(a) * sx + math.cos(a) * sy + ty * h
    got_row, got_col = centroid(out)
    assert abs(got_row - (fy + (h - 1) / 2)) < 0.15 and abs(got_col - (fx + (w - 1) / 2)) < 0.15


def test_each_image_gets_its_own_map_within_the_bounds():
    h = w = 33
    x = blob(h, w, 16, 16).expand(64, 1, h, w).clone()
    out = RandomAffine(degrees=0.0, translate=0.1, scale=0.0, shear=0.0)(x, torch.Generator().manual_seed(0))
    moves = torch.tensor([centroid(o.unsqueeze(0)) for o in out]) - 16
    assert moves.abs().max() <= 0.1 * w + 0.2 and moves.std(0).min() > 1.0  # per image, not one shift for all
    still = RandomAffine(0.0, 0.0, 0.0, 0.0)(x, torch.Generator().manual_seed(0))
    assert torch.allclose(still, x, atol=1e-5)


def test_affine_is_label_safe_where_the_card_lists_small_affine_maps():
    method = method_registry.get("affine")
    assert method.family == "augmentation" and method.paper_key == "simard2003best"
    assert "transform:affine-small" in method.tags
    split = make_image_split()
    split.info["label_preserving_transforms"] = ["hflip"]
    assert "affine-small" in method.not_applicable_reason(split, "deep")
    split.info["label_preserving_transforms"] = ["affine-small"]
    assert method.not_applicable_reason(split, "deep") is None


def test_affine_passes_the_shipped_checks():
    results = check_method("affine")
    assert results["check_augmentation"] == "passed" and set(results.values()) == {"passed"}
