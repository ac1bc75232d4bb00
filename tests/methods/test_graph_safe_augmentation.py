"""Graph-safe augmentation and mixing, on the CPU: every converted row draws only from the trial's
generator, reads nothing on the host, draws anew at every call, and keeps the distributions of the
host-side implementation it replaced (CutMix's box, FMix's mask, lambda ~ Beta, the coins).

The components run as they would on a GPU: :class:`ImageAugment` on its masked path (the CPU default
transforms only the images drawn, reading their indices on the host). The guard of
:mod:`tests.methods.host_sync` fails on a host read, a syncing op, host data or a NumPy/Python draw.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from benchmark.methods import MethodContext, method_registry
from benchmark.methods.augmentation import _image_ops as ops
from benchmark.methods.augmentation import _mixing_ops as mc
from benchmark.methods.augmentation.image import ImageAugment
from benchmark.methods.augmentation.mixing import MixingAugment
from benchmark.training.deep import TrainState
from tests.methods.host_sync import HostWork, block_host_randomness, forbid_host_work

FAMILIES = ("augmentation", "mixing", "embedding-mixing")
EAGER_ROWS = {"autoaugment", "randaugment", "augmix"}  # torchvision's policies draw on the host
COUNTS = (40, 20, 10, 5)  # a long-tailed class profile; class 3 is the minority
CTX = MethodContext("image", "deep", 4, COUNTS, (3,), epochs=4)
ROW_PARAMS = {"remix": {"mix": "cutmix"}, "colour-jitter": {"apply_to": "minority"}, "cutout": {"apply_to": "minority"}}


def rows(families: tuple[str, ...] = FAMILIES) -> list[str]:
    """The registered image rows of ``families`` on the deep engine."""
    return sorted(n for n, m in method_registry.items()
                  if m.family in families and "image" in m.modalities and "deep" in m.engines)


def component(name: str, ctx: MethodContext = CTX):
    """The row's augment component (a recipe's, else its first stage's), on the path it takes on a GPU."""
    recipe = method_registry.get(name).build({"p": 0.5, **ROW_PARAMS.get(name, {})}, ctx)
    augment = recipe.augment or next(s.augment for s in recipe.stages or [] if s.augment is not None)
    if isinstance(augment, ImageAugment):
        augment.masked = True
    return augment


def batch_for(augment, n: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    y = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 0, 1, 2, 3] * (n // 16 + 1))[:n]
    x = torch.randn(n, 8, generator=gen) if type(augment).__name__ == "EmbeddingMixup" else \
        torch.rand(n, 3, 12, 12, generator=gen)
    return x, y


def state_with(y: torch.Tensor, seed: int) -> TrainState:
    return TrainState(y, torch.tensor(COUNTS), len(COUNTS), 4, torch.Generator().manual_seed(seed),
                      torch.device("cpu"))


def run(augment, x, y, state) -> tuple[torch.Tensor, torch.Tensor]:
    out, target = augment.augment(x.clone(), y.clone(), state)
    return out.clone(), target.clone()


CONVERTED = [n for n in rows() if n not in EAGER_ROWS]


def test_every_row_but_the_policies_is_graph_safe():
    """The conversion is complete: only torchvision's policies are left eager, and they say so."""
    safe = {n: bool(getattr(component(n), "graph_safe", False)) for n in rows()}
    assert {n for n, s in safe.items() if not s} == EAGER_ROWS
    assert len(CONVERTED) >= 19


@pytest.mark.parametrize("name", CONVERTED)
def test_same_generator_state_same_output_and_the_next_call_draws_anew(name):
    """Draws come from ``state.generator`` alone: re-seeding it repeats the output whatever torch's
    default generator holds; the next calls from the advanced generator differ (CutMix leaves half
    of its batches unmixed, so some of the next calls, not each, differ from the first)."""
    augment = component(name)
    x, y = batch_for(augment)
    torch.manual_seed(0)
    first = run(augment, x, y, state_with(y, seed=5))
    torch.manual_seed(12345)  # the default generator elsewhere: must not matter
    state = state_with(y, seed=5)
    again = run(augment, x, y, state)
    following = [run(augment, x, y, state)[0] for _ in range(6)]
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    differ = [not torch.equal(first[0], f) for f in following]
    assert all(differ) if name != "cutmix" else sum(differ) >= 2
    assert len({f.numpy().tobytes() for f in following}) >= (6 if name != "cutmix" else 2)


@pytest.mark.parametrize("name", CONVERTED)
def test_no_host_read_no_sync_and_no_host_randomness(name, monkeypatch):
    block_host_randomness(monkeypatch)
    augment = component(name)  # built after the block: a NumPy generator made in __init__ fails too
    x, y = batch_for(augment)
    state = state_with(y, seed=1)
    run(augment, x, y, state)  # the first call may copy constants to the device, as the graph's warm-up
    with forbid_host_work():
        out, target = augment.augment(x, y, state)
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert target.shape in ((16,), (16, len(COUNTS)))


@pytest.mark.parametrize("name", CONVERTED)
def test_runs_on_a_device_that_holds_no_data(name):
    """On the ``meta`` device every value is unknown: a host read fails there, and so does a CPU constant
    used with the batch, or copied to its device at every call (after the first)."""
    augment = component(name)
    x, y = batch_for(augment)
    meta = torch.device("meta")
    x, y = x.to(meta), y.to(meta)
    state = TrainState(y, torch.tensor(COUNTS).to(meta), len(COUNTS), 4, torch.Generator(), meta)
    augment.augment(x, y, state)  # the first call may copy its constants to the device
    with forbid_host_work():
        out, target = augment.augment(x, y, state)
    assert out.shape == x.shape and out.device == meta and target.device == meta


BAD_STEPS = {
    "item": lambda x, y: x * float(x.mean()),
    "python if on a tensor": lambda x, y: x if bool(x.sum() > 0) else -x,
    "tolist": lambda x, y: x * len(y.tolist()),
    "boolean mask": lambda x, y: x[y == 0],
    "nonzero": lambda x, y: x[(y == 0).nonzero().squeeze(1)],
    "host data": lambda x, y: x * torch.tensor([0.5]),
    "numpy draw": lambda x, y: x * np.random.default_rng(0).beta(1.0, 1.0),
    "python draw": lambda x, y: x * random.random(),
    "multinomial": lambda x, y: x[torch.multinomial(torch.ones(len(y)), len(y), replacement=True)],
    "F.one_hot": lambda x, y: F.one_hot(y, 4),  # reads the labels' range on the host off CUDA
    "constant copied in": lambda x, y: x * torch.ones(3).to("meta").sum(),
}


@pytest.mark.parametrize("bad", sorted(BAD_STEPS))
def test_the_guard_catches_each_kind_of_host_work(bad, monkeypatch):
    """What the previous implementations did (a NumPy lambda, a Python branch on a coin, slicing by a
    host box, ``nonzero`` of the drawn images) fails the guard: the test above can fail."""
    block_host_randomness(monkeypatch)
    x, y = torch.rand(4, 3), torch.tensor([0, 1, 0, 2])
    with pytest.raises(HostWork), forbid_host_work():
        BAD_STEPS[bad](x, y)


# -- distributions: the same as the host-side draws they replaced ------------------------------------
def beta_moments(alpha: float) -> tuple[float, float]:
    return 0.5, 1.0 / (4 * (2 * alpha + 1))


@pytest.mark.parametrize("alpha", [0.1, 0.4, 1.0, 2.0])
def test_lambda_is_beta_alpha_alpha(alpha):
    gen = torch.Generator().manual_seed(int(alpha * 10))
    draws = torch.stack([mc.beta_lambda(alpha, gen, torch.device("cpu")) for _ in range(3000)]).numpy()
    mean, var = beta_moments(alpha)
    assert np.isfinite(draws).all() and ((draws >= 0) & (draws <= 1)).all()
    assert abs(draws.mean() - mean) < 4 * math.sqrt(var / draws.size)
    assert draws.var() == pytest.approx(var, rel=0.12)
    assert stats.kstest(draws, stats.beta(alpha, alpha).cdf).pvalue > 1e-3


def test_mixup_lambda_changes_every_batch_with_beta_moments():
    augment, y = MixingAugment(4, "mixup", alpha=0.4), torch.tensor([0, 1, 2, 3] * 4)
    x, state = torch.rand(16, 1, 4, 4), state_with(y, seed=2)
    shares = []
    for _ in range(1500):
        augment.augment(x, y, state)
        shares.append(float(augment.last_lambda))
    mean, var = beta_moments(0.4)
    assert abs(np.mean(shares) - mean) < 4 * math.sqrt(var / len(shares))
    assert np.var(shares) == pytest.approx(var, rel=0.15)


def host_cutmix_share(rng: np.random.Generator, alpha: float, h: int, w: int) -> float:
    """The replaced implementation (numpy lambda, then the box centre), for comparison."""
    lam = rng.beta(alpha, alpha)
    cut = math.sqrt(1.0 - lam)
    ch, cw = int(h * cut), int(w * cut)
    cy, cx = int(rng.integers(h)), int(rng.integers(w))
    top, bottom = max(cy - ch // 2, 0), min(cy + ch // 2, h)
    left, right = max(cx - cw // 2, 0), min(cx + cw // 2, w)
    return 1.0 - (bottom - top) * (right - left) / (h * w)


def test_cutmix_kept_share_has_the_host_implementations_distribution():
    """The pasted area is 1 - lambda before clipping, less after: on average below 1 - E[lambda]."""
    rng, gen, h, w = np.random.default_rng(0), torch.Generator().manual_seed(0), 16, 12
    host = np.array([host_cutmix_share(rng, 1.0, h, w) for _ in range(3000)])
    device = np.array([float(mc.cutmix_mask(mc.beta_lambda(1.0, gen, torch.device("cpu")), h, w, gen,
                                            torch.device("cpu"))[1]) for _ in range(3000)])
    assert stats.ks_2samp(host, device).pvalue > 1e-3
    assert 0.5 < device.mean() < 0.8  # E[lambda] = 0.5 plus what clipping gives back
    assert abs(device.mean() - host.mean()) < 4 * math.sqrt((host.var() + device.var()) / 3000)


@pytest.mark.parametrize("mode", ["cutmix", "switch", "fmix"])
def test_target_mass_equals_the_pixel_share_at_every_batch(mode):
    """Constant images of distinct classes: a pixel says which image it came from, so each sample's
    own-label mass must equal the share of its own pixels, batch after batch (unmixed batches, whose
    targets are one-hot, included); a MixUp batch of the switch gives every sample the mass lambda."""
    n = 8
    x = (torch.arange(1, n + 1, dtype=torch.float32) / (n + 1)).view(n, 1, 1, 1).expand(n, 1, 10, 10).clone()
    y = torch.arange(n)
    augment = MixingAugment(n, mode, alpha=1.0, apply_prob=0.5 if mode == "cutmix" else 1.0)
    state, kinds = state_with(y, seed=3), set()
    for _ in range(30):
        out, target = augment.augment(x, y, state)
        own_mass = target[torch.arange(n), y]
        assert torch.allclose(target.sum(1), torch.ones(n))
        pasted = bool((out.unsqueeze(1) == x.unsqueeze(0)).any(1).all())  # every pixel from some image
        if pasted:
            own_pixels = (out == x).flatten(1).float().mean(1)
            assert torch.allclose(own_mass, own_pixels, atol=1e-6)
            assert float(augment.last_lambda) == pytest.approx(float(own_pixels[own_mass < 1].mean()), abs=1e-6) \
                if (own_mass < 1).any() else float(augment.last_lambda) == 1.0
        else:
            assert mode == "switch"
            partnered = own_mass < 1 - 1e-6  # a sample paired with itself keeps mass 1
            assert torch.allclose(own_mass[partnered], augment.last_lambda.expand(int(partnered.sum())))
        kinds.add(pasted)
    assert kinds == ({True, False} if mode == "switch" else {True})


def test_cutmix_coin_and_switch_coin_fall_about_half_and_half():
    y = torch.arange(8) % 4
    x = torch.rand(8, 1, 8, 8)
    state = state_with(y, seed=4)
    cut = MixingAugment(4, "cutmix", alpha=1.0, apply_prob=0.5)
    unmixed = sum(bool(torch.equal(cut.augment(x, y, state)[0], x)) for _ in range(400))
    assert 170 < unmixed < 255  # 1/2, plus the mixed batches whose box is empty (1 - lambda < 1/16): 0.53
    switch = MixingAugment(4, "switch", alpha=1.0)
    pasted = sum(bool((switch.augment(x, y, state)[0].unsqueeze(1) == x.unsqueeze(0)).any(1).all())
                 for _ in range(400))
    assert 160 < pasted < 240


def host_fourier_mask(lam: float, h: int, w: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    """The replaced FMix mask (numpy), for comparison."""
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :]
    freq = np.sqrt(fy**2 + fx**2)
    scale = 1.0 / np.maximum(freq, 1.0 / max(h, w)) ** decay
    grey = np.fft.irfft2((rng.standard_normal(freq.shape) + 1j * rng.standard_normal(freq.shape)) * scale, s=(h, w))
    mask = np.zeros(h * w)
    mask[np.argsort(-grey.ravel(), kind="stable")[: int(round(lam * h * w))]] = 1.0
    return mask.reshape(h, w)


def boundary(mask: np.ndarray) -> float:
    """Pixel pairs (horizontal and vertical neighbours) that differ: low for FMix's smooth blobs."""
    return float(np.abs(np.diff(mask, axis=0)).sum() + np.abs(np.diff(mask, axis=1)).sum())


@pytest.mark.parametrize("decay", [1.0, 3.0])
def test_fmix_mask_keeps_its_share_and_the_host_masks_smoothness(decay):
    rng, gen, cpu = np.random.default_rng(0), torch.Generator().manual_seed(0), torch.device("cpu")
    host = [boundary(host_fourier_mask(0.4, 16, 16, decay, rng)) for _ in range(400)]
    device = []
    for _ in range(400):
        mask = mc.fourier_mask(torch.tensor(0.4), 16, 16, decay, gen, cpu)
        assert int(mask.sum()) == round(0.4 * 256)
        device.append(boundary(mask.numpy()))
    assert abs(np.mean(host) - np.mean(device)) < 4 * math.sqrt((np.var(host) + np.var(device)) / 400)


def test_colour_jitter_matches_the_formula_it_replaced():
    """Hue through YIQ with the inverse taken once on the host equals the per-call float32 inverse."""
    x, jitter = torch.rand(6, 3, 5, 5), ops.ColourJitter(0.3, 0.3, 0.3, 0.1)
    out = jitter(x, torch.Generator().manual_seed(0))
    gen, b = torch.Generator().manual_seed(0), 6
    yiq = ops._RGB_TO_YIQ.float()
    factors = [ops.uniform(b, 0.7, 1.3, gen, x.device).view(-1, 1, 1, 1) for _ in range(3)]
    ref = (x * factors[0]).clamp(0, 1)
    mean = (ref * yiq[0].view(1, 3, 1, 1)).sum(1, keepdim=True).mean(dim=(1, 2, 3), keepdim=True)
    ref = (mean + (ref - mean) * factors[1]).clamp(0, 1)
    grey = (ref * yiq[0].view(1, 3, 1, 1)).sum(1, keepdim=True)
    ref = (grey + (ref - grey) * factors[2]).clamp(0, 1)
    angle = ops.uniform(b, -0.1, 0.1, gen, x.device) * 2 * math.pi
    rot = torch.zeros(b, 3, 3)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = angle.cos(), -angle.sin(), angle.sin(), angle.cos()
    ref = torch.einsum("bij,bjhw->bihw", torch.linalg.inv(yiq) @ rot @ yiq, ref).clamp(0, 1)
    assert torch.allclose(out, ref, atol=1e-5)


@pytest.mark.parametrize("masked", [True, False])
def test_both_image_paths_transform_a_share_p_of_the_chosen_images_only(masked):
    """The GPU's masked path and the CPU's index path draw the same distribution."""
    y = torch.tensor([0] * 300 + [3] * 100)
    x = torch.rand(400, 1, 6, 6)
    augment = ImageAugment([ops.GaussianNoise(0.2)], p=0.3, classes=(3,), num_classes=4, masked=masked)
    out, _ = augment.augment(x, y, state_with(y, seed=6))
    changed = (out != x).flatten(1).any(1)
    assert not changed[:300].any()
    assert 0.2 < changed[300:].float().mean() < 0.4


def test_minority_embedding_partners_are_uniform_over_the_batchs_minority_samples():
    augment = component("minority-embedding-mixup")
    y = torch.tensor([0] * 10 + [3] * 4 + [1] * 2)
    x, state = torch.randn(16, 8), state_with(y, seed=7)
    picks = torch.zeros(16)
    for _ in range(300):
        augment.augment(x, y, state)
        picks += torch.bincount(augment.last_partner, minlength=16)
    assert picks[y != 3].sum() == 0
    assert stats.chisquare(picks[y == 3].numpy()).pvalue > 1e-3
    no_minority = torch.zeros(16, dtype=torch.long)  # no minority sample: a random permutation
    augment.augment(x, no_minority, state)
    assert sorted(augment.last_partner.tolist()) == list(range(16))
