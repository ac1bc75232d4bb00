"""Batched image transforms for the ``augment`` hook: one call transforms a whole batch on its device.

Every transform takes a float batch ``x`` (B, C, H, W) in [0, 1] and a ``torch.Generator`` on the
batch's device, and returns a batch of the same shape, dtype and range, drawing **its random
parameters per image**.

``torchvision.transforms.v2`` applies one parameter draw to a whole batched tensor (every image of
the batch flipped, or none; one crop box for all), which would make a batch of 128 augmented images
128 copies of the same geometric change. So the transforms with simple per-image parameters are
written batched here, as tensor operations with one draw per image:

- flips and 90/180/270-degree rotations: ``torch.where`` between the batch and its flipped/rotated copy;
- random rotation, random affine and random resized crop: one affine matrix per image, ``affine_grid`` +
  ``grid_sample``;
- pad + random crop: an integer shift per image gathered from the zero-padded batch (exact, no resampling);
- colour jitter: brightness/contrast/saturation factors per image, hue as a per-image rotation of the
  chroma plane (YIQ);
- Gaussian blur: a sigma per image, separable kernels applied as one grouped convolution;
- Gaussian noise, Cutout and Random Erasing: per-image masks and noise tensors.

The learned and random policies (AutoAugment, RandAugment, AugMix) choose *which* operations to run;
for those, torchvision's v2 implementations are used on ``groups`` slices of the batch, each slice
with its own draw (:class:`PolicyGroups`): per-image draws would cost one call per image.

Graph safety (``graph_safe = True`` on a transform class): every random draw is a torch op on the
batch's device with the generator passed in (``None``: torch's default generator), the number of
draws depends only on the batch's shape, and nothing reads a device value on the host or copies host
data to the device after the first call (device constants are cached per device then), so the
transform can be recorded in a CUDA graph whose replays draw fresh numbers (the step runner registers
the generator with each graph: :mod:`benchmark.training.step`). Every transform here is graph-safe
except :class:`PolicyGroups`: torchvision's policies pick their operations and magnitudes with
host-side draws and branch on them in Python, which a captured graph would freeze.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from benchmark.errors import BenchmarkError


def uniform(n: int, low: float, high: float, gen: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """``n`` draws from U[low, high) on ``device`` (``gen`` None: torch's default generator)."""
    return torch.rand(n, generator=gen, device=device) * (high - low) + low


def device_constant(cache: dict, key: str, device: torch.device, dtype: torch.dtype, make) -> torch.Tensor:
    """``make()`` (a CPU tensor) on ``device`` in ``dtype``, copied there once and cached in ``cache``: a
    host-to-device copy inside a captured step would be refused (or frozen), the warm-up call fills it."""
    k = (key, str(device), dtype)
    if k not in cache:
        cache[k] = make().to(device=device, dtype=dtype)
    return cache[k]


def _check(x: torch.Tensor) -> None:
    if x.dim() != 4 or not x.is_floating_point():
        raise BenchmarkError(
            f"image augmentation got a {x.dtype} batch of shape {tuple(x.shape)}",
            "pass float images (B, C, H, W) in [0, 1]; image transforms do not apply to other data",
        )


def _per_image(v: torch.Tensor) -> torch.Tensor:
    return v.view(-1, 1, 1, 1)


# -- flips and right-angle rotations ------------------------------------------------------------------
class HorizontalFlip:
    """Mirror left-right (every image passed in; :class:`ImageAugment` picks which images with p)."""

    graph_safe = True

    def __call__(self, x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        return x.flip(-1)


class VerticalFlip:
    """Mirror top-bottom."""

    graph_safe = True

    def __call__(self, x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        return x.flip(-2)


class Rotate90:
    """Rotation by 90, 180 or 270 degrees, the multiple drawn per image (square images only for 90/270)."""

    graph_safe = True

    def __call__(self, x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        if x.shape[-1] != x.shape[-2]:
            raise BenchmarkError(
                f"90-degree rotations need square images, got {tuple(x.shape[-2:])}",
                "use a 180-degree rotation (vertical + horizontal flip) for non-square images",
            )
        k = _per_image(torch.randint(1, 4, (x.shape[0],), generator=gen, device=x.device))
        r90, r180, r270 = (torch.rot90(x, q, dims=(-2, -1)) for q in (1, 2, 3))
        return torch.where(k == 1, r90, torch.where(k == 2, r180, r270))


# -- affine resampling --------------------------------------------------------------------------------
def _warp(x: torch.Tensor, theta: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Sample ``x`` at ``theta`` @ (u, v, 1) (normalised output -> input coordinates); zeros outside."""
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False).clamp_(0.0, 1.0)


class RandomRotation:
    """Rotation by an angle drawn per image from U[-degrees, degrees], about the centre, zeros outside."""

    graph_safe = True

    def __init__(self, degrees: float):
        if not 0 < degrees <= 180:
            raise BenchmarkError(f"random rotation got degrees={degrees}", "use 0 < degrees <= 180")
        self.degrees = float(degrees)

    def __call__(self, x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        b, _, h, w = x.shape
        a = torch.deg2rad(uniform(b, -self.degrees, self.degrees, gen, x.device))
        cos, sin = torch.cos(a), torch.sin(a)
        theta = torch.zeros(b, 2, 3, device=x.device)
        # normalised coordinates stretch with the aspect ratio: rotate in pixel units
        theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * h / w
        theta[:, 1, 0], theta[:, 1, 1] = sin * w / h, cos
        return _warp(x, theta)


class RandomAffine:
    """One affine transform per image, about the centre, zeros outside: a rotation by U[-degrees,
    degrees], an x-shear by U[-shear, shear] degrees, an isotropic scaling by U[1 - scale, 1 + scale]
    and a shift by U[-translate, translate] of the width and of the height, composed (in pixel units)
    as shift . rotation . shear . scaling, as torchvision's ``RandomAffine`` composes its parameters;
    bilinear. The inverse map ``grid_sample`` needs is the closed-form 2x2 inverse (its determinant is
    the scale squared), so nothing is read on the host."""

    graph_safe = True

    def __init__(self, degrees: float, translate: float, scale: float, shear: float):
        if not (0 <= degrees <= 180 and 0 <= translate < 0.5 and 0 <= scale < 0.5 and 0 <= shear < 45):
            raise BenchmarkError(
                f"random affine got degrees={degrees}, translate={translate}, scale={scale}, shear={shear}",
                "use degrees in [0, 180], translate and scale in [0, 0.5), shear in [0, 45) degrees",
            )
        self.degrees, self.translate, self.scale, self.shear = float(degrees), float(translate), float(scale), float(shear)

    def __call__(self, x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        b, _, h, w = x.shape
        dev = x.device
        angle = uniform(b, -self.degrees, self.degrees, gen, dev)
        shear = uniform(b, -self.shear, self.shear, gen, dev)
        scale = uniform(b, 1.0 - self.scale, 1.0 + self.scale, gen, dev)
        tx, ty = (uniform(b, -self.translate, self.translate, gen, dev) for _ in range(2))
        return _warp(x, affine_theta(angle, shear, scale, tx, ty, h, w))


def affine_theta(angle: torch.Tensor, shear: torch.Tensor, scale: torch.Tensor, tx: torch.Tensor,
                 ty: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """``affine_grid``'s (B, 2, 3) matrices (output -> input, normalised coordinates) for the forward maps
    p -> R(angle) Sh(shear) (scale p) + (tx w, ty h) in pixel units about the centre (angles in degrees,
    shifts as fractions of the side)."""
    a, sh = torch.deg2rad(angle), torch.tan(torch.deg2rad(shear))
    cos, sin = torch.cos(a), torch.sin(a)
    m00, m01, m10, m11 = scale * cos, scale * (cos * sh - sin), scale * sin, scale * (sin * sh + cos)
    m01, m10 = m01 * h / w, m10 * w / h  # to normalised coordinates, which stretch with the aspect ratio
    det = m00 * m11 - m01 * m10
    theta = torch.zeros(angle.shape[0], 2, 3, device=angle.device)
    theta[:, 0, 0], theta[:, 0, 1] = m11 / det, -m01 / det
    theta[:, 1, 0], theta[:, 1, 1] = -m10 / det, m00 / det
    tx, ty = tx * 2, ty * 2  # a fraction of the side is twice that in normalised units ([-1, 1])
    theta[:, 0, 2] = -(theta[:, 0, 0] * tx + theta[:, 0, 1] * ty)
    theta[:, 1, 2] = -(theta[:, 1, 0] * tx + theta[:, 1, 1] * ty)
    return theta


class RandomResizedCrop:
    """A box of area fraction U[scale] and aspect ratio log-U[ratio], placed uniformly inside the
    image, resized back to the full size (bilinear), per image. Boxes that would not fit are shrunk to
    fit (torchvision retries ten draws, then falls back to a centre crop)."""

    graph_safe = True

    def __init__(self, scale: tuple[float, float] = (0.08, 1.0), ratio: tuple[float, float] = (3 / 4, 4 / 3)):
        if not 0 < scale[0] <= scale[1] <= 1 or not 0 < ratio[0] <= ratio[1]:
            raise BenchmarkError(
                f"random resized crop got scale={scale}, ratio={ratio}",
                "use 0 < scale low <= high <= 1 and 0 < ratio low <= high",
            )
        self.scale, self.ratio = scale, ratio

    def __call__(self, x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        b = x.shape[0]
        area = uniform(b, *self.scale, gen, x.device)
        log_r = uniform(b, math.log(self.ratio[0]), math.log(self.ratio[1]), gen, x.device)
        r = torch.exp(log_r)
        w = torch.sqrt(area * r).clamp(max=1.0)  # box size as a fraction of the width / height
        h = torch.sqrt(area / r).clamp(max=1.0)
        cx = (uniform(b, 0, 1, gen, x.device) * (1 - w) + w / 2) * 2 - 1  # centre in [-1, 1]
        cy = (uniform(b, 0, 1, gen, x.device) * (1 - h) + h / 2) * 2 - 1
        theta = torch.zeros(b, 2, 3, device=x.device)
        theta[:, 0, 0], theta[:, 0, 2] = w, cx
        theta[:, 1, 1], theta[:, 1, 2] = h, cy
        return _warp(x, theta)


class PadCrop:
    """Zero padding and a random crop of the original size: an integer shift in [-pad, pad] per image
    and axis, pad = ``fraction`` of the shorter side rounded, at least 1 (the CIFAR recipe: pad 4 of
    32, fraction 0.125). Exact, no interpolation."""

    graph_safe = True

    def __init__(self, fraction: float):
        if not 0 < fraction <= 0.5:
            raise BenchmarkError(
                f"pad-and-crop got fraction={fraction}", "use a padding fraction in (0, 0.5]"
            )
        self.fraction = float(fraction)

    def __call__(self, x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        b, _, h, w = x.shape
        p = max(1, round(self.fraction * min(h, w)))
        padded = F.pad(x, (p, p, p, p))
        dy = torch.randint(0, 2 * p + 1, (b, 1), generator=gen, device=x.device)
        dx = torch.randint(0, 2 * p + 1, (b, 1), generator=gen, device=x.device)
        rows = (dy + torch.arange(h, device=x.device)).view(b, h, 1)
        cols = (dx + torch.arange(w, device=x.device)).view(b, 1, w)
        batch = torch.arange(b, device=x.device).view(b, 1, 1)
        return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()


# -- photometric ----------------------------------------------------------------------------------------
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
                           dtype=torch.float64)
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)  # inverted once on the host: linalg.inv on CUDA checks on the host
_CONSTANTS: dict = {}  # (name, device, dtype) -> tensor: the colour matrices on each device, copied once


class ColourJitter:
    """Brightness, contrast and saturation factors drawn per image from U[1 - s, 1 + s] and a hue shift
    from U[-hue, hue] (fraction of a turn), applied in that order. Contrast blends with the image's mean
    grey level, saturation with its grey image (as torchvision); hue rotates the chroma plane of YIQ
    (torchvision shifts HSV hue: close, and one matrix product per image). Grey images get brightness
    and contrast only."""

    graph_safe = True

    def __init__(
        self, brightness: float = 0.4, contrast: float = 0.4, saturation: float = 0.4, hue: float = 0.1
    ):
        if min(brightness, contrast, saturation) < 0 or not 0 <= hue <= 0.5:
            raise BenchmarkError(
                f"colour jitter got brightness={brightness}, contrast={contrast}, "
                f"saturation={saturation}, hue={hue}",
                "use non-negative strengths and 0 <= hue <= 0.5",
            )
        self.brightness, self.contrast, self.saturation, self.hue = brightness, contrast, saturation, hue

    def _factor(self, s: float, b: int, gen: torch.Generator | None, device: torch.device) -> torch.Tensor:
        return _per_image(uniform(b, max(0.0, 1 - s), 1 + s, gen, device))

    def __call__(self, x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        b, c = x.shape[:2]
        yiq = device_constant(_CONSTANTS, "rgb-to-yiq", x.device, x.dtype, lambda: _RGB_TO_YIQ)
        x = (x * self._factor(self.brightness, b, gen, x.device)).clamp(0, 1)
        grey = (x * yiq[0].view(1, 3, 1, 1)).sum(1, keepdim=True) if c == 3 else x.mean(1, keepdim=True)
        mean = grey.mean(dim=(1, 2, 3), keepdim=True)
        x = (mean + (x - mean) * self._factor(self.contrast, b, gen, x.device)).clamp(0, 1)
        if c != 3:
            return x
        grey = (x * yiq[0].view(1, 3, 1, 1)).sum(1, keepdim=True)
        x = (grey + (x - grey) * self._factor(self.saturation, b, gen, x.device)).clamp(0, 1)
        if self.hue > 0:
            angle = uniform(b, -self.hue, self.hue, gen, x.device) * 2 * math.pi
            cos, sin = torch.cos(angle), torch.sin(angle)
            one, zero = torch.ones_like(cos), torch.zeros_like(cos)
            rot = torch.stack([one, zero, zero, zero, cos, -sin, zero, sin, cos], dim=1).view(b, 3, 3)
            back = device_constant(_CONSTANTS, "yiq-to-rgb", x.device, x.dtype, lambda: _YIQ_TO_RGB)
            m = back @ rot @ yiq  # RGB -> YIQ -> rotate chroma -> RGB, per image
            x = torch.einsum("bij,bjhw->bihw", m, x).clamp(0, 1)
        return x


class GaussianBlur:
    """Gaussian blur with sigma drawn per image from U[sigma]; an odd ``kernel`` size, reflect padding."""

    graph_safe = True

    def __init__(self, kernel: int = 3, sigma: tuple[float, float] = (0.1, 2.0)):
        if kernel < 3 or kernel % 2 == 0 or not 0 < sigma[0] <= sigma[1]:
            raise BenchmarkError(
                f"Gaussian blur got kernel={kernel}, sigma={sigma}",
                "use an odd kernel size >= 3 and 0 < sigma low <= high",
            )
        self.kernel, self.sigma = int(kernel), sigma

    def __call__(self, x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        b, c, h, w = x.shape
        sigma = uniform(b, *self.sigma, gen, x.device).view(b, 1)
        offsets = torch.arange(self.kernel, device=x.device, dtype=x.dtype) - self.kernel // 2
        k = torch.exp(-(offsets.view(1, -1) ** 2) / (2 * sigma**2))
        k = (k / k.sum(dim=1, keepdim=True)).repeat_interleave(
            c, dim=0
        )  # (B*C, k): one kernel per image channel
        pad = self.kernel // 2
        mode = "reflect" if min(h, w) > pad else "replicate"
        flat = F.pad(x.reshape(1, b * c, h, w), (pad, pad, pad, pad), mode=mode)
        flat = F.conv2d(flat, k.view(b * c, 1, 1, self.kernel), groups=b * c)  # along the width
        flat = F.conv2d(flat, k.view(b * c, 1, self.kernel, 1), groups=b * c)  # along the height
        return flat.view(b, c, h, w).clamp(0, 1)


class GaussianNoise:
    """Additive Gaussian noise, its standard deviation drawn per image from U[0, sigma], clipped to [0, 1]."""

    graph_safe = True

    def __init__(self, sigma: float):
        if not 0 < sigma <= 1:
            raise BenchmarkError(
                f"Gaussian noise got sigma={sigma}", "use 0 < sigma <= 1 (images are in [0, 1])"
            )
        self.sigma = float(sigma)

    def __call__(self, x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        std = _per_image(uniform(x.shape[0], 0, self.sigma, gen, x.device))
        noise = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
        return (x + std * noise).clamp(0, 1)


# -- occlusion --------------------------------------------------------------------------------------------
def _box_mask(
    cy: torch.Tensor, cx: torch.Tensor, bh: torch.Tensor, bw: torch.Tensor, h: int, w: int
) -> torch.Tensor:
    """(B, 1, H, W) booleans: pixel centres inside the box of centre (cy, cx), size (bh, bw), in pixels."""
    ys = torch.arange(h, device=cy.device).view(1, h, 1) + 0.5
    xs = torch.arange(w, device=cy.device).view(1, 1, w) + 0.5
    inside_y = (ys >= (cy - bh / 2).view(-1, 1, 1)) & (ys < (cy + bh / 2).view(-1, 1, 1))
    inside_x = (xs >= (cx - bw / 2).view(-1, 1, 1)) & (xs < (cx + bw / 2).view(-1, 1, 1))
    return (inside_y & inside_x).unsqueeze(1)


class Cutout:
    """Cutout (DeVries and Taylor 2017): a square of side ``size`` (fraction of the image side) set to
    zero, its centre uniform over the image per image (so it may be partly outside, as in the paper)."""

    graph_safe = True

    def __init__(self, size: float):
        if not 0 < size <= 1:
            raise BenchmarkError(f"Cutout got size={size}", "use a fraction of the image side in (0, 1]")
        self.size = float(size)

    def __call__(self, x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        b, _, h, w = x.shape
        side = torch.full((b,), self.size * min(h, w), device=x.device)
        mask = _box_mask(uniform(b, 0, h, gen, x.device), uniform(b, 0, w, gen, x.device), side, side, h, w)
        return x.masked_fill(mask, 0.0)


class RandomErasing:
    """Random Erasing (Zhong et al. 2020): a box of area fraction U[scale] and aspect ratio log-U[ratio],
    inside the image, filled with uniform random values, per image."""

    graph_safe = True

    def __init__(self, scale: tuple[float, float] = (0.02, 0.33), ratio: tuple[float, float] = (0.3, 3.3)):
        if not 0 < scale[0] <= scale[1] <= 1 or not 0 < ratio[0] <= ratio[1]:
            raise BenchmarkError(
                f"random erasing got scale={scale}, ratio={ratio}",
                "use 0 < scale low <= high <= 1 and 0 < ratio low <= high",
            )
        self.scale, self.ratio = scale, ratio

    def __call__(self, x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        b, _, h, w = x.shape
        area = uniform(b, *self.scale, gen, x.device) * h * w
        r = torch.exp(uniform(b, math.log(self.ratio[0]), math.log(self.ratio[1]), gen, x.device))
        bh = torch.sqrt(area * r).clamp(1, h)
        bw = torch.sqrt(area / r).clamp(1, w)
        cy = bh / 2 + uniform(b, 0, 1, gen, x.device) * (h - bh)
        cx = bw / 2 + uniform(b, 0, 1, gen, x.device) * (w - bw)
        mask = _box_mask(cy, cx, bh, bw, h, w)
        fill = torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype)
        return torch.where(mask, fill, x)


# -- policies ---------------------------------------------------------------------------------------------
class PolicyGroups:
    """A torchvision v2 policy (AutoAugment, RandAugment, AugMix) applied to ``groups`` slices of the
    batch, one draw of operations and magnitudes per slice. v2 draws once per call, and one call per
    image would cost a Python round trip per image; slices give a batch several independent draws.
    The draws come from torch's default generator (seeded by the engine), not from ``gen``."""

    graph_safe = False  # torchvision's policies draw and branch on the host

    def __init__(self, transform, groups: int = 8):
        if groups < 1:
            raise BenchmarkError(f"policy groups={groups}", "use at least one group")
        self.transform, self.groups = transform, int(groups)

    def __call__(self, x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        chunks = x.chunk(min(self.groups, x.shape[0]))
        return torch.cat([self.transform(c) for c in chunks]).clamp(0, 1)


def autoaugment(policy: str = "cifar10", groups: int = 8) -> PolicyGroups:
    """AutoAugment (Cubuk et al. 2019) with one of its learned policies: cifar10, imagenet or svhn."""
    from torchvision.transforms import v2

    policies = {p.value: p for p in v2.AutoAugmentPolicy}
    if policy not in policies:
        raise BenchmarkError(f"AutoAugment policy {policy!r} is unknown", f"use one of {sorted(policies)}")
    return PolicyGroups(v2.AutoAugment(policies[policy]), groups)


def randaugment(num_ops: int = 2, magnitude: int = 9, groups: int = 8) -> PolicyGroups:
    """RandAugment (Cubuk et al. 2020): ``num_ops`` random operations at a shared ``magnitude`` (of 31)."""
    from torchvision.transforms import v2

    return PolicyGroups(v2.RandAugment(num_ops=num_ops, magnitude=magnitude), groups)


def augmix(severity: int = 3, mixture_width: int = 3, groups: int = 8) -> PolicyGroups:
    """AugMix (Hendrycks et al. 2020): ``mixture_width`` chains of operations mixed with Dirichlet
    weights and mixed with the original by a Beta weight (torchvision draws those weights per image)."""
    from torchvision.transforms import v2

    return PolicyGroups(v2.AugMix(severity=severity, mixture_width=mixture_width), groups)
