"""Chained augmentations (issue 30): ``horizontal-flip+rotate-90`` and ``mixup+cutmix`` apply their parts in
the order written, the second on the first's output, and two mixings keep exact label shares."""

from __future__ import annotations

import pytest
import torch

from benchmark.methods import MethodContext, method_registry
from benchmark.methods._composition import CompositionError, merge_recipes
from benchmark.methods.augmentation._chain import ChainedAugment
from benchmark.methods.augmentation.mixing import MixingAugment
from benchmark.methods.base import Recipe
from benchmark.training.deep import TrainState

IMAGE = MethodContext("image", "deep", 3, (40, 20, 8), (2,), epochs=10)
ALL = {"apply_to": "all", "p": 1.0}


def state(seed: int = 0, counts=(40, 20, 8)) -> TrainState:
    y_all = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    return TrainState(y_all, torch.tensor(counts), len(counts), 4, torch.Generator().manual_seed(seed),
                      torch.device("cpu"))


def asymmetric_images(n: int = 12, size: int = 8) -> torch.Tensor:
    """Distinct pixels everywhere: a flip or a rotation of one never equals another."""
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(3))


def class_channel_images(y: torch.Tensor, size: int = 10) -> torch.Tensor:
    """An image of class c is 1 in channel c and 0 elsewhere: a pixel's channels are its label."""
    return torch.eye(3)[y].view(-1, 3, 1, 1).expand(-1, 3, size, size).clone()


def test_the_name_keeps_the_written_order_of_augmentations_and_the_family_order_elsewhere():
    assert method_registry.get("horizontal-flip+rotate-90").name == "horizontal-flip+rotate-90"
    assert method_registry.get("rotate-90+horizontal-flip").name == "rotate-90+horizontal-flip"
    assert method_registry.get("MixUp+CutMix").name == "mixup+cutmix"  # any case, as single rows
    assert method_registry.get("cutmix+focal-loss+mixup").name == "cutmix+mixup+focal-loss"
    assert method_registry.get("focal-loss+horizontal-flip+smote").name == "smote+horizontal-flip+focal-loss"


def test_the_second_transform_sees_the_output_of_the_first():
    seen = {}

    class Recorder:
        label_rule = "keeps"
        graph_safe = True

        def augment(self, x, y, st):
            seen["x"] = x.clone()
            return x, y

    flip = method_registry.get("horizontal-flip").build(ALL, IMAGE).augment
    chained = merge_recipes([("horizontal-flip", Recipe(augment=flip)), ("recorder", Recipe(augment=Recorder()))])
    x, y = asymmetric_images(), torch.arange(12) % 3
    out, _ = chained.augment.augment(x, y, state())
    assert torch.equal(seen["x"], x.flip(-1)) and torch.equal(out, x.flip(-1))


def test_flip_then_rotate_is_not_rotate_then_flip():
    method = method_registry.get("horizontal-flip+rotate-90")
    params = {"horizontal-flip.apply_to": "all", "horizontal-flip.p": 1.0, "rotate-90.apply_to": "all",
              "rotate-90.p": 1.0}
    chain = method.build(params, IMAGE).augment
    assert isinstance(chain, ChainedAugment) and chain.graph_safe
    assert [name for name, _ in chain.parts] == ["horizontal-flip", "rotate-90"]
    x, y = asymmetric_images(), torch.arange(12) % 3
    out, target = chain.augment(x.clone(), y, state(5))
    assert torch.equal(target, y)
    # the same draws in the same order: one row, then the other, on what the first returned
    flip, rot = (method_registry.get(n).build(ALL, IMAGE).augment for n in ("horizontal-flip", "rotate-90"))
    st = state(5)
    assert torch.equal(out, rot.augment(flip.augment(x.clone(), y, st)[0], y, st)[0])
    st = state(5)
    swapped = flip.augment(rot.augment(x.clone(), y, st)[0], y, st)[0]
    differs = [not torch.equal(out[i], swapped[i]) for i in range(len(x))]
    assert any(differs)  # a quarter turn after a flip is the opposite turn before it
    for i in range(len(x)):  # every image is a rotation of its mirror image
        assert any(torch.equal(out[i], torch.rot90(x[i].flip(-1), k, dims=(-2, -1))) for k in (1, 2, 3))


@pytest.mark.parametrize("seed", range(6))
def test_mixup_then_cutmix_keeps_each_label_share_equal_to_its_share_of_the_pixels(seed):
    y = torch.tensor([0, 1, 2, 0, 0, 1, 2, 0, 1, 0])
    x = class_channel_images(y)
    chain = method_registry.get("mixup+cutmix").build({"mixup.alpha": 1.0, "cutmix.alpha": 1.0}, IMAGE).augment
    mixup, cutmix = (c for _, c in chain.parts)
    out, target = chain.augment(x, y, state(seed))
    assert target.shape == (10, 3) and torch.allclose(target.sum(1), torch.ones(10))
    # the mixed image's channel means are the classes' shares of its pixels: the soft label must equal them
    assert torch.allclose(target, out.mean(dim=(-2, -1)), atol=1e-5)
    # and the chain is MixUp's soft targets mixed again by CutMix's share, with CutMix's partner
    st = state(seed)
    first_x, first_t = MixingAugment(3, "mixup", 1.0).augment(x, y, st)
    second = MixingAugment(3, "cutmix", 1.0, apply_prob=cutmix.apply_prob)
    _, second_t = second.augment(first_x, first_t, st)
    assert torch.allclose(target, second_t)
    assert isinstance(mixup, MixingAugment) and mixup.mode == "mixup" and cutmix.mode == "cutmix"


def test_a_flip_after_mixing_keeps_the_soft_labels():
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 2])
    method = method_registry.get("mixup+horizontal-flip")
    chain = method.build({"mixup.alpha": 1.0, "horizontal-flip.apply_to": "minority", "horizontal-flip.p": 1.0},
                         IMAGE).augment
    out, target = chain.augment(class_channel_images(y), y, state(1))
    assert target.dim() == 2 and torch.allclose(target, out.mean(dim=(-2, -1)), atol=1e-5)


@pytest.mark.parametrize("name", ["mixup+remix", "cutmix+remix"])
def test_a_class_rule_after_a_mixing_is_refused_in_one_line(name):
    with pytest.raises(CompositionError) as caught:
        method_registry.get(name)
    message = str(caught.value)
    assert "\n" not in message and "both set the augment hook" in message and "write 'remix' first" in message
    assert method_registry.get("remix+" + name.split("+")[0]).name == "remix+" + name.split("+")[0]


def test_the_chained_rows_pass_the_shipped_checks():
    from benchmark.testing import check_method

    for name in ("horizontal-flip+rotate-90", "mixup+cutmix"):
        check_method(method_registry.get(name))
