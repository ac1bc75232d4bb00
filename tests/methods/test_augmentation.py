"""Image augmentation: batched transforms keep shape/dtype/range, change the input with per-image draws,
touch only the chosen classes; label safety from dataset cards; offline over-sampling by augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.datasets.base import DataPart, Split
from benchmark.errors import BenchmarkError
from benchmark.methods import method_registry
from benchmark.methods.augmentation import _image_ops as ops
from benchmark.methods.augmentation.image import ImageAugment, requires_transforms
from benchmark.methods.augmentation.image_oversampling import AugmentationOversampler
from benchmark.methods.base import MethodContext
from benchmark.testing import make_image_split
from benchmark.training.deep import TrainState

PER_IMAGE = {
    "rotate-90": lambda: ops.Rotate90(),
    "random-rotation": lambda: ops.RandomRotation(15),
    "affine": lambda: ops.RandomAffine(10.0, 0.06, 0.06, 6.0),
    "pad-crop": lambda: ops.PadCrop(0.125),
    "random-resized-crop": lambda: ops.RandomResizedCrop(),
    "colour-jitter": lambda: ops.ColourJitter(),
    "gaussian-blur": lambda: ops.GaussianBlur(3),
    "gaussian-noise": lambda: ops.GaussianNoise(0.1),
    "cutout": lambda: ops.Cutout(0.5),
    "random-erasing": lambda: ops.RandomErasing(),
}
ALL = {
    **PER_IMAGE,
    "horizontal-flip": lambda: ops.HorizontalFlip(),
    "vertical-flip": lambda: ops.VerticalFlip(),
    "autoaugment": lambda: ops.autoaugment("cifar10", groups=2),
    "randaugment": lambda: ops.randaugment(2, 9, 2),
    "augmix": lambda: ops.augmix(3, 2, groups=2),
}


def state_for(y: torch.Tensor, num_classes: int, seed: int = 0) -> TrainState:
    gen = torch.Generator().manual_seed(seed)
    return TrainState(y, torch.bincount(y, minlength=num_classes), num_classes, 2, gen, torch.device("cpu"))


@pytest.mark.parametrize("name", sorted(ALL))
@pytest.mark.parametrize("channels", [1, 3])
def test_transform_keeps_shape_dtype_range_and_changes_input(name, channels):
    torch.manual_seed(0)
    x = torch.rand(16, channels, 16, 16)
    out = ALL[name]()(x, torch.Generator().manual_seed(1))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert not torch.equal(out, x)


@pytest.mark.parametrize("name", sorted(PER_IMAGE))
def test_parameters_are_drawn_per_image(name):
    """A batch of one image repeated: v2 would transform every copy alike; ours differ."""
    torch.manual_seed(0)
    x = torch.rand(1, 3, 16, 16).expand(8, -1, -1, -1).contiguous()
    out = PER_IMAGE[name]()(x, torch.Generator().manual_seed(2))
    distinct = {tuple(o.flatten().tolist()) for o in out}
    assert len(distinct) > 1


def test_pad_crop_is_an_exact_integer_shift():
    x = torch.rand(6, 1, 8, 8)
    out = ops.PadCrop(0.25)(x, torch.Generator().manual_seed(3))  # pad 2
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(6):
        shifts = [
            (dy, dx)
            for dy in range(5)
            for dx in range(5)
            if torch.equal(padded[i, :, dy : dy + 8, dx : dx + 8], out[i])
        ]
        assert shifts, f"image {i} is not a shifted crop of its padded input"


def test_rotate90_rotates_each_image_by_a_right_angle():
    x = torch.rand(12, 1, 6, 6)
    out = ops.Rotate90()(x, torch.Generator().manual_seed(4))
    turns = [
        next(k for k in (1, 2, 3) if torch.equal(torch.rot90(x[i], k, dims=(-2, -1)), out[i]))
        for i in range(12)
    ]
    assert len(set(turns)) > 1


def test_cutout_blanks_a_square_of_the_asked_size():
    x = torch.full((4, 1, 20, 20), 0.5)
    out = ops.Cutout(0.5)(x, torch.Generator().manual_seed(5))
    zeros = (out == 0).flatten(1).sum(1)
    assert torch.all(zeros <= 100) and torch.all(zeros > 0)  # a 10x10 square, partly outside at most
    assert torch.all((out == 0) | (out == 0.5))


def test_minority_only_leaves_other_classes_untouched():
    torch.manual_seed(0)
    x = torch.rand(12, 1, 8, 8)
    y = torch.tensor([0] * 6 + [1] * 4 + [2] * 2)
    aug = ImageAugment([ops.GaussianNoise(0.2)], p=1.0, classes=(2,), num_classes=3)
    out, target = aug.augment(x, y, state_for(y, 3))
    assert torch.equal(target, y)
    assert torch.equal(out[:10], x[:10])
    assert not torch.equal(out[10:], x[10:])


def test_probability_and_all_classes():
    x = torch.rand(400, 1, 4, 4)
    y = torch.zeros(400, dtype=torch.long)
    out, _ = ImageAugment([ops.HorizontalFlip()], p=0.5, classes=None, num_classes=1).augment(
        x, y, state_for(y, 1)
    )
    changed = (out != x).flatten(1).any(1).float().mean().item()
    assert 0.4 < changed < 0.6


def test_bad_inputs_are_refused():
    y = torch.zeros(2, dtype=torch.long)
    with pytest.raises(BenchmarkError, match="float images"):
        ImageAugment([ops.HorizontalFlip()], 1.0, None, 1).augment(torch.zeros(2, 5), y, state_for(y, 1))
    with pytest.raises(BenchmarkError, match="p=0"):
        ImageAugment([ops.HorizontalFlip()], 0.0, None, 1)
    with pytest.raises(BenchmarkError, match="square"):
        ops.Rotate90()(torch.rand(2, 1, 4, 6), torch.Generator())


def _split(name: str, info: dict | None = None) -> Split:
    base = make_image_split()
    return Split(name, "image", base.class_names, base.train, base.val, base.test, info=info or {})


def test_label_safety_follows_the_dataset_card():
    # digits-lt's card lists no flips and no right-angle rotations (6 <-> 9); crops are fine
    digits = _split("digits-lt")
    reason = method_registry.get("rotate-90").not_applicable_reason(digits, "deep")
    assert reason and "rot90" in reason and "digits-lt" in reason
    assert method_registry.get("horizontal-flip").not_applicable_reason(digits, "deep")
    assert method_registry.get("pad-crop").not_applicable_reason(digits, "deep") is None
    # a split can carry its own list; an undeclared dataset has no restriction
    assert requires_transforms("hflip")(_split("mine", {"label_preserving_transforms": ["crop"]}))
    assert requires_transforms("hflip")(_split("unregistered-images")) is None
    with pytest.raises(BenchmarkError, match="vocabulary"):
        requires_transforms("teleport")


def test_every_image_row_builds_an_augment_or_resample_recipe():
    split = make_image_split()
    ctx = MethodContext.from_split(split, "deep")
    rows = [n for n, m in method_registry.items() if m.family == "augmentation"]
    assert len(rows) == 15
    for name in rows:
        recipe = method_registry.get(name).build({"apply_to": "minority", "p": 1.0}, ctx)
        assert isinstance(recipe.augment, ImageAugment) and recipe.augment.classes == tuple(
            split.minority_classes
        )


def test_offline_oversampling_reaches_the_target_with_new_images():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(40, 1, 8, 8), dtype=np.uint8)
    y = np.array([0] * 30 + [1] * 7 + [2] * 3)
    sampler = AugmentationOversampler(0.5, ("crop", "affine-small", "noise", "blur", "erasing"))
    X_new, y_new = sampler.resample(X, y, seed=3)
    assert X_new.dtype == np.uint8 and X_new.shape[1:] == X.shape[1:]
    assert np.bincount(y_new).tolist() == [30, 15, 15]
    assert np.array_equal(X_new[:40], X) and np.array_equal(y_new[:40], y)
    added = X_new[40:]
    for img, label in zip(added, y_new[40:], strict=True):  # no added image is a copy of a source image
        assert not any(np.array_equal(img, src) for src in X[y == label])
    again, _ = AugmentationOversampler(0.5, ("crop", "noise")).resample(X, y, seed=3)
    same, _ = AugmentationOversampler(0.5, ("crop", "noise")).resample(X, y, seed=3)
    assert np.array_equal(again, same)
    with pytest.raises(BenchmarkError, match="uint8"):
        sampler.resample(X.astype(np.float32), y, seed=0)


def test_offline_oversampling_row_is_an_input_space_resampler():
    split = make_image_split()
    recipe = method_registry.get("augmentation-oversampling").build(
        {"target_ratio": 1.0, "transforms": "geometric"}, MethodContext.from_split(split, "deep")
    )
    assert recipe.resample.space == "input"
    X, y = recipe.resample.resample(split.train.X, split.train.y, seed=0)
    assert np.bincount(y).tolist() == [40, 40, 40]


def test_image_transforms_refuse_other_modalities():
    text = Split(
        "t",
        "text",
        ["a", "b"],
        DataPart(np.array(["x", "y"]), np.array([0, 1])),
        DataPart(np.array(["x"]), np.array([0])),
        DataPart(np.array(["y"]), np.array([1])),
    )
    assert method_registry.get("cutout").not_applicable_reason(text, "deep")
