"""A small class-conditional U-Net (diffusers' ``UNet2DModel``) sized from the image shape.

The number of resolution levels follows the image side: three (two down-samplings) when both sides
are multiples of 4 (28x28 -> 14 -> 7, 32x32 -> 16 -> 8, the tests' 8x8 -> 4 -> 2), two for even
sides, one otherwise. Channels are (w, 2w, 2w) for a base width ``w`` the generator budget sets (16
on CPU suites, 64 on a GPU); self-attention is added at the lowest resolution from w = 32 up, where
it pays for itself. The class embedding has ``num_classes + 1`` rows: the last one is the null class
of classifier-free guidance.

Measured on the 2-core CPU (28x28x1, batch 64, idle machine): w = 16 (0.27 M parameters) takes about
0.15 s per training step and DDIM 16 images x 10 steps with guidance 0.2 s; w = 32 (1.6 M parameters,
with attention and two layers per block) several seconds per step, so CPU runs use w = 16.
"""

from __future__ import annotations

import torch

from benchmark.errors import BenchmarkError


def resolution_levels(height: int, width: int) -> int:
    """How many resolution levels the U-Net has for a height x width image (see the module doc)."""
    if height % 4 == 0 and width % 4 == 0 and min(height, width) >= 8:
        return 3
    if height % 2 == 0 and width % 2 == 0 and min(height, width) >= 4:
        return 2
    return 1


def build_unet(channels: int, height: int, width: int, num_classes: int, base_width: int = 16) -> torch.nn.Module:
    """A ``UNet2DModel`` for (channels, height, width) images with ``num_classes + 1`` class embeddings."""
    from diffusers import UNet2DModel

    if base_width < 4 or base_width % 4:
        raise BenchmarkError(f"U-Net base width {base_width}", "use a multiple of 4, at least 4 (16 on a CPU)")
    if channels < 1 or height < 1 or width < 1:
        raise BenchmarkError(f"U-Net for images of shape {(channels, height, width)}", "give (C, H, W) images")
    levels = resolution_levels(height, width)
    widths = (base_width, 2 * base_width, 2 * base_width)[:levels]
    attention = base_width >= 32
    down = ["DownBlock2D"] * levels
    up = ["UpBlock2D"] * levels
    if attention:
        down[-1], up[0] = "AttnDownBlock2D", "AttnUpBlock2D"
    return UNet2DModel(
        sample_size=(height, width),
        in_channels=channels,
        out_channels=channels,
        block_out_channels=widths,
        down_block_types=tuple(down),
        up_block_types=tuple(up),
        layers_per_block=1 if base_width < 32 else 2,
        norm_num_groups=min(8, base_width // 2),
        num_class_embeds=num_classes + 1,
        attention_head_dim=8 if attention else None,
    )


def unet_denoiser(unet: torch.nn.Module):
    """The ``denoiser(x_t, t, labels)`` signature of :mod:`._ddpm` around a ``UNet2DModel``."""
    return lambda x, t, labels: unet(x, t, class_labels=labels).sample
